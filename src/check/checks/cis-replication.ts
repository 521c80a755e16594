import type { ScanContext } from '../scan-context.js';
import type { CheckDefinition, Finding } from '../types.js';
import { cis, mustBe, outcomeOf, Section, settingCheck } from './cis-support.js';

/**
 * Reads a libpq connection string (`host=a sslmode='require'` or a postgresql:// URI) into
 * lower-case keywords. Values are returned as written; callers must never report `password`.
 *
 * @example
 * parseConninfo("host=primary user=replicator password='s e' sslmode=verify-full").sslmode; // 'verify-full'
 */
export function parseConninfo(text: string): Record<string, string> {
  const s = text.trim();
  if (/^postgres(ql)?:\/\//i.test(s)) {
    try {
      const url = new URL(s.replace(/^postgres(ql)?:/i, 'http:'));
      const out: Record<string, string> = {};
      if (url.hostname) out.host = decodeURIComponent(url.hostname);
      if (url.port) out.port = url.port;
      if (url.username) out.user = decodeURIComponent(url.username);
      if (url.password) out.password = decodeURIComponent(url.password);
      if (url.pathname.length > 1) out.dbname = decodeURIComponent(url.pathname.slice(1));
      for (const [k, v] of url.searchParams) out[k.toLowerCase()] = v;
      return out;
    } catch {
      return {};
    }
  }
  // As libpq reads it: a backslash escapes the next character in quoted and unquoted values
  // alike. Parsing stops at the first thing libpq would reject; resuming further on could read
  // part of a password (`password=a\ host=b`) as another keyword.
  const out: Record<string, string> = {};
  const re = /\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(?!')((?:[^\s\\]|\\.)*))/y;
  for (let m = re.exec(s); m !== null && m[0] !== ''; m = re.exec(s)) {
    out[m[1]!.toLowerCase()] = (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return out;
}

async function inRecovery(ctx: ScanContext): Promise<boolean> {
  const rows = await ctx.query<{ standby: boolean }>(
    'cis.in_recovery',
    'select pg_catalog.pg_is_in_recovery() as standby',
  );
  return rows[0]?.standby === true;
}

async function isSuperuser(ctx: ScanContext, role: string): Promise<boolean | undefined> {
  const rows = await ctx.query<{ name: string; superuser: boolean }>(
    'cis.role_superuser',
    'select rolname::text as name, rolsuper as superuser from pg_catalog.pg_roles',
  );
  return rows.find((r) => r.name === role)?.superuser;
}

/**
 * CIS 7.1, 7.2, 7.4 and 7.5: replication and WAL archiving.
 *
 * @example
 * replicationChecks.map((c) => c.id); // ['CIS-7.1', 'CIS-7.2', 'CIS-7.4', 'CIS-7.5']
 */
export const replicationChecks: CheckDefinition[] = [
  cis({
    cis: '7.1',
    section: Section.replication,
    title: 'Replication connects with a dedicated replication-only role',
    severity: 'medium',
    source: 'sql',
    rationale:
      'A standby that connects as a superuser stores superuser credentials on another machine; a role with only REPLICATION can stream WAL but not change anything. Judged on the replication connections present at scan time (and, on a standby, on primary_conninfo).',
    remediation:
      'CREATE ROLE replicator LOGIN REPLICATION PASSWORD …; point the standbys (primary_conninfo) and pg_hba.conf replication lines at it.',
    evaluate: async (ctx) => {
      if (await inRecovery(ctx)) {
        const user = parseConninfo(await ctx.settingValue('primary_conninfo')).user;
        if (!user)
          return {
            verdict: 'not_applicable',
            reason: 'this standby has no primary_conninfo user (not streaming, or the OS user name is used)',
          };
        const superuser = await isSuperuser(ctx, user);
        if (superuser !== true) return { verdict: 'pass', evidence: { primaryConninfoUser: user } };
        return {
          verdict: 'fail',
          findings: [
            { object: `role ${user}`, message: `this standby streams as superuser ${user}`, evidence: { role: user } },
          ],
        };
      }
      const senders = await ctx.query<{ role: string; superuser: boolean }>(
        'cis.walsenders',
        `select distinct r.rolname::text as role, r.rolsuper as superuser
           from pg_catalog.pg_stat_replication s join pg_catalog.pg_roles r on r.oid = s.usesysid order by 1`,
      );
      if (senders.length === 0) return { verdict: 'not_applicable', reason: 'no replication connections at scan time' };
      return outcomeOf(
        senders
          .filter((s) => s.superuser)
          .map((s) => ({
            object: `role ${s.role}`,
            message: `a replication connection uses superuser ${s.role}`,
            evidence: { role: s.role },
          })),
        { replicationRoles: senders.map((s) => s.role) },
      );
    },
  }),
  settingCheck({
    cis: '7.2',
    section: Section.replication,
    title: 'Replication commands are logged',
    severity: 'low',
    setting: 'log_replication_commands',
    rationale:
      'Replication connections can copy the whole cluster (BASE_BACKUP); each command should leave a log line.',
    remediation: "ALTER SYSTEM SET log_replication_commands = 'on'; SELECT pg_reload_conf();",
    judge: mustBe('on'),
    fixValue: 'on',
    fixSafety: 'safe',
  }),
  cis({
    cis: '7.4',
    section: Section.replication,
    title: 'WAL archiving is configured and working',
    severity: 'medium',
    source: 'sql',
    rationale:
      'Without archived WAL there is no point-in-time recovery after a mistake, corruption or ransomware: only the last base backup. Failing archiving also keeps WAL piling up until the disk fills.',
    remediation:
      'Set archive_mode = on and archive_command (or archive_library) to a tool that stores WAL off the host (pgBackRest, WAL-G, Barman), restart, and watch pg_stat_archiver.',
    evaluate: async (ctx) => {
      const mode = await ctx.settingValue('archive_mode');
      const command = await ctx.settingValue('archive_command');
      const library = await ctx.settingValue('archive_library');
      const evidence = { archive_mode: mode, archiveCommand: command ? 'set' : 'empty', archive_library: library };
      const findings: Finding[] = [];
      if (mode === 'off') {
        findings.push({ object: 'archive_mode', message: 'WAL archiving is off', evidence });
      } else if (!command && !library) {
        findings.push({
          object: 'archive_command',
          message:
            'archive_mode is on but neither archive_command nor archive_library is set: WAL is kept and never archived',
          evidence,
        });
      }
      const stats = await ctx.query<{
        failed: string;
        lastFailed: string | null;
        lastArchived: string | null;
        failing: boolean;
      }>(
        'cis.archiver',
        `select failed_count::text as failed, last_failed_time::text as "lastFailed", last_archived_time::text as "lastArchived",
                coalesce(last_failed_time > coalesce(last_archived_time, '-infinity'), false) as failing
           from pg_catalog.pg_stat_archiver`,
      );
      const s = stats[0];
      if (mode !== 'off' && s?.failing) {
        findings.push({
          object: 'pg_stat_archiver',
          message: `WAL archiving is failing (last failure ${s.lastFailed}, last success ${s.lastArchived ?? 'never'})`,
          evidence: { failedCount: s.failed, lastFailed: s.lastFailed, lastArchived: s.lastArchived },
        });
      }
      return outcomeOf(findings, evidence);
    },
  }),
  cis({
    cis: '7.5',
    section: Section.replication,
    title: "A standby's connection to its primary uses verified TLS",
    severity: 'high',
    source: 'sql',
    rationale:
      "The WAL stream carries every change to every table. sslmode prefer (the default) silently falls back to plain text; require encrypts but does not check the primary's certificate (reported low). The benchmark's sslcompression=1 is not asked for: TLS compression enables CRIME-style attacks and modern OpenSSL builds refuse it. Applies only to standbys.",
    remediation:
      "Set primary_conninfo with sslmode=verify-full (or verify-ca) and sslrootcert naming the primary's CA; SELECT pg_reload_conf(); on the standby.",
    evaluate: async (ctx) => {
      if (!(await inRecovery(ctx))) return { verdict: 'not_applicable', reason: 'this server is not a standby' };
      const raw = await ctx.settingValue('primary_conninfo');
      if (raw.trim() === '')
        return {
          verdict: 'not_applicable',
          reason: 'this standby does not stream from a primary (primary_conninfo is empty)',
        };
      const info = parseConninfo(raw);
      const sslmode = info.sslmode ?? 'prefer (default)';
      const evidence = { sslmode, ...(info.host ? { host: info.host } : {}) };
      if (sslmode === 'verify-full' || sslmode === 'verify-ca') return { verdict: 'pass', evidence };
      return {
        verdict: 'fail',
        findings: [
          {
            object: 'primary_conninfo',
            message:
              sslmode === 'require'
                ? "primary_conninfo uses sslmode=require: the primary's certificate is not verified"
                : `primary_conninfo uses sslmode=${sslmode}: the WAL stream may travel unencrypted`,
            evidence,
            ...(sslmode === 'require' ? { severity: 'low' as const } : {}),
          },
        ],
      };
    },
  }),
];

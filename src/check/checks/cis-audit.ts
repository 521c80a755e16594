import { posix } from 'node:path';
import type { ScanContext } from '../scan-context.js';
import type { CheckDefinition, Finding } from '../types.js';
import {
  auditedClasses,
  missingConnectionAspects,
  missingPrefixElements,
  type PrefixElement,
} from './cis-log-format.js';
import { collectorOff, logDestinations } from './cis-logging.js';
import { alterSystem, cis, listItems, mustBe, Section, settingCheck, shown } from './cis-support.js';

/** Zone names that are UTC by definition; any other zone is compared with UTC over a year. */
const UTC_NAMES = new Set(
  ['UTC', 'UCT', 'GMT', 'GMT0', 'GMT+0', 'GMT-0', 'Zulu', 'Universal', 'Greenwich']
    .flatMap((z) => [z, `Etc/${z}`])
    .map((z) => z.toLowerCase()),
);

/** Text appended to a log_line_prefix for each missing element. */
const prefixAddition: Record<PrefixElement, string> = {
  time: '%m ',
  process: '[%p] ',
  database: 'db=%d ',
  user: 'user=%u ',
  application: 'app=%a ',
  client: 'client=%h ',
};

/**
 * Whether `zone` keeps UTC's clock all year: asked of the server (its time zone database), at
 * four points over the coming year so a zone with daylight saving time never passes.
 *
 * @example
 * await zoneKeepsUtc(ctx, 'Etc/UTC'); // true
 * await zoneKeepsUtc(ctx, 'Europe/London'); // false (BST in summer)
 */
export async function zoneKeepsUtc(ctx: ScanContext, zone: string): Promise<boolean> {
  if (UTC_NAMES.has(zone.toLowerCase())) return true;
  const rows = await ctx.query<{ same: boolean }>(
    `cis.log_timezone.${zone}`,
    `select pg_catalog.bool_and(pg_catalog.timezone($1, t) = pg_catalog.timezone('UTC', t)) as same
       from (select pg_catalog.now() + pg_catalog.make_interval(months => m) as t
               from pg_catalog.generate_series(0, 9, 3) as m) as points`,
    [zone],
  );
  return rows[0]?.same === true;
}

/**
 * Whether `dir` (absolute or relative to the data directory) lies inside the data directory.
 *
 * @example
 * insideDataDirectory('log', '/var/lib/pg/data'); // true (relative paths are inside)
 */
export function insideDataDirectory(dir: string, dataDirectory: string): boolean {
  if (!posix.isAbsolute(dir)) return true;
  const d = posix.normalize(dir).replace(/\/+$/, '');
  const data = posix.normalize(dataDirectory).replace(/\/+$/, '');
  return d === data || d.startsWith(`${data}/`);
}

/**
 * CIS 3.1.20, 3.1.21, 3.1.24, 3.1.26, 3.1.27 and 3.2: what the log records about who did what.
 *
 * @example
 * auditChecks.map((c) => c.id); // ['CIS-3.1.20', 'CIS-3.1.21', …, 'CIS-3.2']
 */
export const auditChecks: CheckDefinition[] = [
  settingCheck({
    cis: '3.1.20',
    section: Section.logging,
    title: "'log_connections' is enabled",
    severity: 'medium',
    stig: ['V-233558', 'V-261956'],
    setting: 'log_connections',
    rationale:
      'Without connection records there is no trace of who logged in, from where, or of password-guessing attempts. PostgreSQL 18 accepts a list (receipt, authentication, authorization); all three, `all` or `on` pass.',
    remediation: "ALTER SYSTEM SET log_connections = 'on'; SELECT pg_reload_conf();",
    judge: (row) => {
      const missing = missingConnectionAspects(row.setting);
      if (missing.length === 0) return null;
      return missing.length === 3
        ? { message: 'log_connections is off: logins are not logged' }
        : { message: `log_connections does not log ${missing.join(', ')}` };
    },
    fixValue: 'on',
    fixSafety: 'safe',
  }),
  settingCheck({
    cis: '3.1.21',
    section: Section.logging,
    title: "'log_disconnections' is enabled",
    severity: 'medium',
    stig: ['V-233569', 'V-261961'],
    setting: 'log_disconnections',
    rationale:
      'Disconnection records give each session its duration, which ties statements to a login and shows concurrent sessions of one user.',
    remediation: "ALTER SYSTEM SET log_disconnections = 'on'; SELECT pg_reload_conf();",
    judge: mustBe('on', 'log_disconnections is off'),
    fixValue: 'on',
    fixSafety: 'safe',
  }),
  cis({
    cis: '3.1.24',
    section: Section.logging,
    title: "'log_line_prefix' identifies who did what, when and from where",
    severity: 'medium',
    stig: ['V-233569', 'V-261961'],
    source: 'sql',
    rationale:
      'Each log line needs a time (%t/%m/%n), the process or session (%p/%c), database (%d), user (%u), application (%a) and client (%h/%r) to be attributed. csvlog and jsonlog carry these fields themselves; syslog adds time and process.',
    remediation:
      "ALTER SYSTEM SET log_line_prefix = '%m [%p] db=%d user=%u app=%a client=%h '; SELECT pg_reload_conf();",
    evaluate: async (ctx) => {
      const dest = await logDestinations(ctx);
      const textual = dest.includes('stderr');
      if (!textual && !dest.includes('syslog') && !dest.includes('eventlog')) {
        return {
          verdict: 'not_applicable',
          reason: 'csvlog/jsonlog records every field regardless of log_line_prefix',
        };
      }
      const row = await ctx.setting('log_line_prefix');
      const missing = missingPrefixElements(row.setting, !textual);
      if (missing.length === 0) return { verdict: 'pass', evidence: { log_line_prefix: row.setting } };
      const value = `${row.setting.trimEnd()}${row.setting.trim() === '' ? '' : ' '}${missing.map((m) => prefixAddition[m]).join('')}`;
      return {
        verdict: 'fail',
        findings: [
          {
            message: `log_line_prefix lacks ${missing.join(', ')}`,
            evidence: { log_line_prefix: row.setting, missing },
            ...(missing.every((m) => m === 'application') ? { severity: 'low' as const } : {}),
            fix: alterSystem(row, value, 'safe'),
          },
        ],
      };
    },
  }),
  cis({
    cis: '3.1.26',
    section: Section.logging,
    title: "'log_timezone' keeps UTC time",
    severity: 'low',
    stig: ['V-261921'],
    source: 'sql',
    rationale:
      'Log timestamps in UTC correlate across servers and do not jump at daylight-saving changes. Any zone equal to UTC passes (UTC, Etc/UTC as initdb sets it, GMT, Zulu, …).',
    remediation: "ALTER SYSTEM SET log_timezone = 'UTC'; SELECT pg_reload_conf();",
    evaluate: async (ctx) => {
      const row = await ctx.setting('log_timezone');
      if (await zoneKeepsUtc(ctx, row.setting)) return { verdict: 'pass', evidence: { log_timezone: row.setting } };
      return {
        verdict: 'fail',
        findings: [
          {
            message: `log_timezone is ${row.setting}, which differs from UTC during the year`,
            evidence: { log_timezone: row.setting },
            fix: alterSystem(row, 'UTC', 'safe'),
          },
        ],
      };
    },
  }),
  cis({
    cis: '3.1.27',
    section: Section.logging,
    title: 'The log directory is outside the data directory',
    severity: 'low',
    source: 'sql',
    rationale:
      'Logs inside the data directory are copied into every base backup and share its disk: a log flood can fill the disk the database needs.',
    remediation:
      'ALTER SYSTEM SET log_directory to an absolute path on another file system, owned by the server user; reload.',
    evaluate: async (ctx) => {
      const reason = await collectorOff(ctx);
      if (reason !== null) return { verdict: 'not_applicable', reason };
      const dir = await ctx.setting('log_directory');
      const data = await ctx.settingValue('data_directory');
      if (!insideDataDirectory(dir.setting, data)) return { verdict: 'pass', evidence: { log_directory: dir.setting } };
      return {
        verdict: 'fail',
        findings: [
          {
            message: `log_directory ${dir.setting} is inside the data directory`,
            evidence: { log_directory: dir.setting, data_directory: data },
          },
        ],
      };
    },
  }),
  cis({
    cis: '3.2',
    section: Section.logging,
    title: 'pgAudit is loaded and audits DDL, writes and role changes',
    severity: 'medium',
    stig: ['V-261940'],
    source: 'sql',
    references: ['https://github.com/pgaudit/pgaudit'],
    rationale:
      "The server log records statements only as sent; pgAudit records what ran, with the object and class, including statements inside functions. The benchmark asks for the ddl and write classes; role is also required here (pgAudit's ddl class excludes GRANT, REVOKE and role changes, and the STIG asks for it).",
    remediation:
      "Install the pgaudit package for your major version, add pgaudit to shared_preload_libraries and restart, then ALTER SYSTEM SET pgaudit.log = 'ddl, write, role'; SELECT pg_reload_conf();",
    evaluate: async (ctx) => {
      const shared = await ctx.setting('shared_preload_libraries');
      const libs = listItems(shared.setting).map((l) => l.split('/').pop() ?? l);
      if (!libs.includes('pgaudit')) {
        const finding: Finding = {
          message: 'pgAudit is not loaded (shared_preload_libraries)',
          evidence: { shared_preload_libraries: shared.setting },
          fix: alterSystem(shared, [...libs, 'pgaudit'], 'manual'),
        };
        return { verdict: 'fail', findings: [finding] };
      }
      const log = await ctx.setting('pgaudit.log');
      const classes = auditedClasses(log.setting);
      const missing = ['ddl', 'write', 'role'].filter((c) => !classes.has(c));
      if (missing.length === 0) return { verdict: 'pass', evidence: { 'pgaudit.log': log.setting } };
      const value = [...new Set([...listItems(log.setting).filter((i) => i !== 'none'), ...missing])].join(', ');
      return {
        verdict: 'fail',
        findings: [
          {
            message: `pgaudit.log does not audit ${missing.join(', ')}`,
            evidence: { 'pgaudit.log': shown(log), missing },
            ...(missing.length === 1 && missing[0] === 'role' ? { severity: 'low' as const } : {}),
            fix: alterSystem(log, value, 'safe'),
          },
        ],
      };
    },
  }),
];

import { sqlLiteral } from '../sql-text.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import {
  defaultCatalog,
  type LedgerEntry,
  moduleDefinitions,
  moduleFiles,
  modulesForTier,
  roleNames,
  verifyLedger,
} from '../../install/index.js';
import { NotEvaluated, type ScanContext } from '../scan-context.js';
import type { CheckDefinition, Finding, Outcome, Severity } from '../types.js';

// pgwarden's own controls. One file for the seven checks: they share the module lookups below.

const section = 'pgwarden controls';
const day = 86_400_000;

// Looked up in the catalogs, which every login may read, so a scanner without pgwarden's grants
// is told "not evaluated" (by the reads that follow) rather than "pgwarden is not installed".
const markers = {
  core: 'pgwarden.migrations',
  audit: 'audit.audited_tables',
  ledger: 'ledger.state',
  auth: 'auth.signing_keys',
} as const;

async function applicable(ctx: ScanContext, module: keyof typeof markers): Promise<Outcome | null> {
  const rows = await ctx.query<{ name: string }>(
    'pgw.objects',
    `select n.nspname || '.' || c.relname as name
       from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname || '.' || c.relname = any($1::text[])`,
    [Object.values(markers)],
  );
  const have = new Set(rows.map((r) => r.name));
  if (!have.has(markers.core))
    return { verdict: 'not_applicable', reason: 'pgwarden is not installed in this database' };
  if (!have.has(markers[module])) {
    const tier = moduleDefinitions.find((m) => m.name === module)?.tier;
    return { verdict: 'not_applicable', reason: `pgwarden's ${module} module is not installed here (${tier} tier)` };
  }
  return null;
}

/** ctx.query, with what to grant the scanner added to a permission error. */
async function read<T>(ctx: ScanContext, key: string, sql: string, params: unknown[], grant: string): Promise<T[]> {
  try {
    return await ctx.query<T>(key, sql, params);
  } catch (err) {
    if (err instanceof NotEvaluated) throw new NotEvaluated(`${err.reason}; ${grant}`);
    throw err;
  }
}

const asAuditor = 'grant the pgwarden auditor role to the scanning login';

/** The installation row (tier, role prefix), or undefined when it is missing. */
async function readInstallation(
  ctx: ScanContext,
): Promise<{ tier: 'basic' | 'standard' | 'advanced'; rolePrefix: string } | undefined> {
  const rows = await read<{ tier: 'basic' | 'standard' | 'advanced'; rolePrefix: string }>(
    ctx,
    'pgw.installation',
    `select tier, role_prefix as "rolePrefix" from pgwarden.installation`,
    [],
    asAuditor,
  );
  return rows[0];
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
const fail = (findings: Finding[], evidence: Record<string, unknown>): Outcome =>
  findings.length > 0 ? { verdict: 'fail', findings } : { verdict: 'pass', evidence };

async function installationHealth(ctx: ScanContext): Promise<Outcome> {
  const na = await applicable(ctx, 'core');
  if (na) return na;
  const ledger = await read<LedgerEntry>(
    ctx,
    'pgw.migrations',
    `select module, version, name, sha256, chain_sha256 as "chainSha256", installed_at as "installedAt",
            installed_by as "installedBy"
       from pgwarden.migrations order by module, version`,
    [],
    asAuditor,
  );
  const installation = await readInstallation(ctx);
  const catalog = defaultCatalog();
  const findings: Finding[] = [];
  try {
    verifyLedger(ledger, catalog);
  } catch (err) {
    if (!(err instanceof PgwardenError)) throw err;
    if (err.code === ErrorCodes.INSTALL_DATABASE_NEWER) {
      throw new NotEvaluated(`${err.message}; scan with the pgwarden version that installed it`);
    }
    findings.push({
      object: 'pgwarden.migrations',
      message: err.message,
      evidence: { code: err.code, detail: err.detail },
    });
  }
  if (!installation) {
    findings.push({ object: 'pgwarden.installation', message: 'the installation record is missing', evidence: {} });
  }
  const tier = installation?.tier ?? 'basic';
  const installed = new Map<string, number>();
  for (const e of ledger) installed.set(e.module, Math.max(installed.get(e.module) ?? 0, e.version));
  const wanted = new Set([...modulesForTier(catalog, tier).map((m) => m.name), ...installed.keys()]);
  for (const mod of catalog.modules.filter((m) => wanted.has(m.name))) {
    const files = moduleFiles(catalog, mod.name);
    const have = installed.get(mod.name) ?? 0;
    const pending = files.filter((f) => f.version > have).map((f) => f.name);
    if (pending.length === 0) continue;
    findings.push({
      object: `module ${mod.name}`,
      message:
        have === 0
          ? `module ${mod.name} of the ${tier} tier is not installed`
          : `module ${mod.name} is at version ${have} of ${files.length}: ${pending.length} migration(s) pending`,
      evidence: { tier, installedVersion: have, shippedVersion: files.length, pending },
    });
  }
  const names = roleNames(installation?.rolePrefix ?? ctx.settings.rolePrefix);
  // auth_service is made by the auth module, the other roles by core.
  const expected = Object.entries(names)
    .filter(([key]) => key !== 'auth_service' || installed.has('auth'))
    .map(([, name]) => name);
  const present = await ctx.query<{ rolname: string }>(
    'pgw.roles',
    'select rolname from pg_catalog.pg_roles where rolname = any($1::text[])',
    [expected],
  );
  for (const name of expected.filter((n) => !present.some((r) => r.rolname === n))) {
    findings.push({
      object: `role ${name}`,
      message: `pgwarden's group role ${name} is missing`,
      evidence: { role: name },
    });
  }
  return fail(findings, { tier, modules: Object.fromEntries(installed) });
}

// Schemas an API exposes: the configured ones, else every schema pgwarden's request roles or
// PUBLIC may use, less PostgreSQL's and pgwarden's own.
const exposedTablesSql = `
  with exposed as (
    select n.oid, n.nspname from pg_catalog.pg_namespace n
     where case when pg_catalog.cardinality($1::text[]) > 0 then n.nspname = any($1::text[])
           else n.nspname <> all($2::text[]) and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
                and (exists (select 1 from pg_catalog.pg_roles r
                              where r.rolname = any($3::text[]) and pg_catalog.has_schema_privilege(r.oid, n.oid, 'USAGE'))
                     or exists (select 1 from pg_catalog.aclexplode(n.nspacl) a where a.grantee = 0 and a.privilege_type = 'USAGE'))
           end)
  select pg_catalog.format('%I.%I', e.nspname, c.relname) as name,
         exists (select 1 from pg_catalog.pg_index i where i.indrelid = c.oid and i.indisprimary) as "hasPk"
    from pg_catalog.pg_class c join exposed e on e.oid = c.relnamespace
   where c.relkind in ('r', 'p') and not c.relispartition and c.relrowsecurity
     and not exists (select 1 from audit.audited_tables a where a.table_oid = c.oid and a.enabled)
   order by 1`;

const captureTriggersSql = `
  select pg_catalog.format('%I.%I', n.nspname, c.relname) as name,
         pg_catalog.jsonb_object_agg(x.tg, case when t.oid is null then 'missing'
                                                when p.proname <> '_capture' or pn.nspname <> 'audit' then 'replaced'
                                                when t.tgenabled in ('O', 'A') then 'enabled' else 'disabled' end) as triggers
    from audit.audited_tables a
    join pg_catalog.pg_class c on c.oid = a.table_oid
    join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   cross join pg_catalog.unnest(array['pgw_audit_insert', 'pgw_audit_update', 'pgw_audit_delete', 'pgw_audit_truncate']) as x(tg)
    left join pg_catalog.pg_trigger t on t.tgrelid = a.table_oid and t.tgname = x.tg
    left join pg_catalog.pg_proc p on p.oid = t.tgfoid
    left join pg_catalog.pg_namespace pn on pn.oid = p.pronamespace
   where a.enabled and a.capture = 'trigger'
   group by 1
  having pg_catalog.count(*) filter (where t.tgenabled in ('O', 'A') and p.proname = '_capture' and pn.nspname = 'audit') < 4
   order by 1`;

// Live when this login may run audit._wal_problems(); else what the capture service last found.
const walSql = `
  select w.slot_name as slot, coalesce(s.wal_status, 'missing') as status, w.problems as stored,
         (select pg_catalog.has_function_privilege(p.oid, 'EXECUTE') from pg_catalog.pg_proc p
           join pg_catalog.pg_namespace n on n.oid = p.pronamespace where n.nspname = 'audit' and p.proname = '_wal_problems') as live
    from audit.wal_state w left join pg_catalog.pg_replication_slots s on s.slot_name = w.slot_name
   where w.database_oid = (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database())`;

async function walFindings(ctx: ScanContext): Promise<Finding[]> {
  const [wal] = await read<{ slot: string; status: string; stored: Record<string, string[]>; live: boolean | null }>(
    ctx,
    'pgw.audit.wal',
    walSql,
    [],
    asAuditor,
  );
  if (!wal) return [];
  const findings: Finding[] = [];
  if (wal.status === 'lost' || wal.status === 'missing' || wal.status === 'unreserved') {
    findings.push({
      object: `replication slot ${wal.slot}`,
      message:
        wal.status === 'unreserved'
          ? `WAL capture's slot ${wal.slot} is about to lose log it has not applied`
          : `WAL capture's slot ${wal.slot} is ${wal.status}: changes of WAL-captured tables are not reaching the trail`,
      evidence: { slot: wal.slot, walStatus: wal.status },
      severity: wal.status === 'unreserved' ? 'medium' : 'high',
    });
  }
  let problems: Array<{ name: string; problems: string[] }> = Object.entries(wal.stored)
    .map(([name, list]) => ({ name, problems: list }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  if (wal.live) {
    problems = await ctx.query<{ name: string; problems: string[] }>(
      'pgw.audit.wal.tables',
      `select pg_catalog.format('%I.%I', n.nspname, c.relname) as name, audit._wal_problems(a.table_oid) as problems
         from audit.audited_tables a join pg_catalog.pg_class c on c.oid = a.table_oid
         join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where a.enabled and a.capture = 'wal' order by 1`,
    );
  }
  for (const p of problems.filter((x) => x.problems.length > 0)) {
    findings.push({
      object: p.name,
      message: `WAL capture of ${p.name} is broken (${p.problems.join(', ')}): its changes do not reach the trail`,
      evidence: { problems: p.problems, source: wal.live ? 'live' : 'last capture pass' },
      severity: 'high',
    });
  }
  return findings;
}

async function auditCoverage(ctx: ScanContext): Promise<Outcome> {
  const na = await applicable(ctx, 'audit');
  if (na) return na;
  const prefix = (await readInstallation(ctx))?.rolePrefix ?? ctx.settings.rolePrefix;
  const pgwardenSchemas = moduleDefinitions.flatMap((m) => m.schemas);
  const unaudited = await read<{ name: string; hasPk: boolean }>(
    ctx,
    'pgw.audit.unaudited',
    exposedTablesSql,
    [ctx.settings.exposedSchemas, pgwardenSchemas, [`${prefix}anon`, `${prefix}app_user`]],
    asAuditor,
  );
  const findings: Finding[] = unaudited.map((t) => ({
    object: t.name,
    message: `${t.name} has row-level security (tenant data) but no row audit`,
    evidence: { rowSecurity: true, audited: false, primaryKey: t.hasPk },
    severity: 'medium' as const,
    // Without a primary key audit.enable() refuses the table: a person adds one first.
    ...(t.hasPk ? { fix: [{ sql: `select audit.enable(${sqlLiteral(t.name)});`, safety: 'manual' as const }] } : {}),
  }));
  const broken = await read<{ name: string; triggers: Record<string, string> }>(
    ctx,
    'pgw.audit.triggers',
    captureTriggersSql,
    [],
    asAuditor,
  );
  for (const t of broken) {
    findings.push({
      object: t.name,
      message: `row audit of ${t.name} is on, but its capture triggers are not all in place and enabled: changes go unrecorded`,
      evidence: { triggers: t.triggers },
      severity: 'high',
      fix: [{ sql: `select audit.enable(${sqlLiteral(t.name)});`, safety: 'manual' }],
    });
  }
  findings.push(...(await walFindings(ctx)));
  return fail(findings, {
    exposedSchemas: ctx.settings.exposedSchemas.length > 0 ? ctx.settings.exposedSchemas : 'auto',
  });
}

async function ddlCapture(ctx: ScanContext): Promise<Outcome> {
  const na = await applicable(ctx, 'audit');
  if (na) return na;
  const rows = await read<{ trigger_name: string; event: string; enabled: string; ok: boolean }>(
    ctx,
    'pgw.audit.ddl',
    'select trigger_name, event, enabled, ok from audit.ddl_capture_status()',
    [],
    asAuditor,
  );
  const broken = rows.filter((r) => !r.ok);
  return fail(
    broken.map((r) => ({
      object: `event trigger ${r.trigger_name}`,
      message:
        r.enabled === 'missing'
          ? `DDL capture's ${r.trigger_name} is missing: schema and privilege changes are not recorded`
          : `DDL capture's ${r.trigger_name} is not enabled ALWAYS (${r.enabled}): schema and privilege changes can go unrecorded`,
      evidence: { event: r.event, enabled: r.enabled },
      fix: [{ sql: 'select audit.ddl_capture_enable();', safety: 'manual' as const }],
    })),
    { triggers: rows.map((r) => r.trigger_name) },
  );
}

async function ledgerVerified(ctx: ScanContext): Promise<Outcome> {
  const na = await applicable(ctx, 'ledger');
  if (na) return na;
  const [r] = await read<{ initialised: Date | null; verified: Date | null; tampered: Date | null }>(
    ctx,
    'pgw.ledger.verification',
    `select (select pg_catalog.min(k.created_at) from ledger.key_history k
              where exists (select 1 from ledger.state)) as initialised,
            (select pg_catalog.max(e.occurred_at) from logs.notification_log e where e.event_type = 'ledger.verified') as verified,
            (select pg_catalog.max(e.occurred_at) from logs.notification_log e where e.event_type = 'ledger.tamper_detected') as tampered`,
    [],
    asAuditor,
  );
  if (!r?.initialised) {
    return fail(
      [
        {
          object: 'ledger.state',
          message: 'the ledger is installed but not initialised: audit rows and security events are not sealed',
          evidence: { initialised: false },
          severity: 'medium',
        },
      ],
      {},
    );
  }
  const maxAgeMs = ctx.settings.ledgerMaxAgeHours * 3_600_000;
  const evidence = { lastVerifiedAt: iso(r.verified), maxAgeHours: ctx.settings.ledgerMaxAgeHours };
  if (r.tampered && (!r.verified || r.tampered >= r.verified)) {
    return fail(
      [
        {
          object: 'ledger',
          message: `the last verification of the ledger found tampering (${r.tampered.toISOString()})`,
          evidence: { ...evidence, tamperDetectedAt: iso(r.tampered) },
          severity: 'critical',
        },
      ],
      {},
    );
  }
  const since = r.verified ?? r.initialised;
  if (ctx.now.getTime() - since.getTime() <= maxAgeMs) {
    return { verdict: 'pass', evidence: r.verified ? evidence : { ...evidence, initialisedAt: iso(r.initialised) } };
  }
  const hours = Math.floor((ctx.now.getTime() - since.getTime()) / 3_600_000);
  return fail(
    [
      {
        object: 'ledger',
        message: r.verified
          ? `the ledger was last verified ${hours} hours ago (at most ${ctx.settings.ledgerMaxAgeHours} allowed)`
          : `the ledger has never been verified (initialised ${hours} hours ago)`,
        evidence: { ...evidence, initialisedAt: iso(r.initialised) },
      },
    ],
    {},
  );
}

// The first unsealed row of each source in sealing order (txid, id), past the sealer's cursor
// (see lowerBound in src/audit/ledger/sealer.ts): an index range scan, however far behind.
const unsealedSql = `
  with s as (select cursor_txid, cursor_source, cursor_id, tree_size from ledger.state)
  select s.tree_size::text as "treeSize",
         (select r.recorded_at from audit.row_changes r
           where (r.txid, r.id) > (s.cursor_txid, case when s.cursor_source = 1 then s.cursor_id
                                                       when s.cursor_source > 1 then 9223372036854775807 else -1 end)
           order by r.txid, r.id limit 1) as "audit.row_changes",
         (select e.occurred_at from logs.notification_log e
           where (e.txid, e.id) > (s.cursor_txid, case when s.cursor_source = 2 then s.cursor_id else -1 end)
           order by e.txid, e.id limit 1) as "logs.notification_log"
    from s`;

async function sealerLag(ctx: ScanContext): Promise<Outcome> {
  const na = await applicable(ctx, 'ledger');
  if (na) return na;
  const [row] = await read<Record<string, Date | null> & { treeSize: string }>(
    ctx,
    'pgw.ledger.unsealed',
    unsealedSql,
    [],
    asAuditor,
  );
  if (!row) return { verdict: 'not_applicable', reason: 'the ledger is not initialised (PGW-004 reports it)' };
  const max = ctx.settings.sealerMaxLagSeconds;
  const findings: Finding[] = [];
  for (const table of ['audit.row_changes', 'logs.notification_log']) {
    const oldest = row[table] as Date | null;
    const lag = oldest ? Math.floor((ctx.now.getTime() - oldest.getTime()) / 1000) : 0;
    if (!oldest || lag <= max) continue;
    findings.push({
      object: table,
      message: `rows of ${table} wait ${lag} s to be sealed into the ledger (at most ${max} s allowed): is the sealer running?`,
      evidence: {
        oldestUnsealedAt: oldest.toISOString(),
        lagSeconds: lag,
        maxLagSeconds: max,
        treeSize: Number(row.treeSize),
      },
    });
  }
  return fail(findings, { maxLagSeconds: max, treeSize: Number(row.treeSize) });
}

// OWASP Password Storage Cheat Sheet: argon2id with any of these (memory KiB, iterations), p=1;
// bcrypt with a work factor of at least 10.
const owaspArgon2 = [
  { m: 47_104, t: 1 },
  { m: 19_456, t: 2 },
  { m: 12_288, t: 3 },
  { m: 9_216, t: 4 },
  { m: 7_168, t: 5 },
];

function hashWeakness(algorithm: string, params: Record<string, unknown>): { severity: Severity; why: string } | null {
  const num = (k: string) => (typeof params[k] === 'number' ? (params[k] as number) : NaN);
  if (algorithm.startsWith('argon2')) {
    const [m, t] = [num('m'), num('t')];
    if (!owaspArgon2.some((c) => m >= c.m && t >= c.t)) {
      return { severity: 'medium', why: `cost below OWASP's minimum (m=${m} KiB, t=${t})` };
    }
    if (algorithm !== 'argon2id') return { severity: 'low', why: `${algorithm} rather than argon2id` };
    if (num('v') !== 19) return { severity: 'low', why: `argon2 version ${String(params.v)} rather than 19` };
    return null;
  }
  if (algorithm === 'bcrypt-sha256') {
    const r = num('r');
    return r >= 10 ? null : { severity: 'medium', why: `bcrypt cost ${r} below 10` };
  }
  return { severity: 'medium', why: `an algorithm pgwarden does not issue (${algorithm})` };
}

async function passwordHashes(ctx: ScanContext): Promise<Outcome> {
  const na = await applicable(ctx, 'auth');
  if (na) return na;
  // Only the algorithm and its parameters: never a hash.
  const groups = await read<{ algorithm: string; params: Record<string, unknown>; accounts: number }>(
    ctx,
    'pgw.auth.hashes',
    `select algorithm, params, pg_catalog.count(*)::int as accounts from auth.credentials
      group by algorithm, params order by algorithm, params::text`,
    [],
    'grant select (algorithm, params) on auth.credentials to the scanning login',
  );
  const findings: Finding[] = [];
  for (const g of groups) {
    const weak = hashWeakness(g.algorithm, g.params);
    if (!weak) continue;
    const shown = ['v', 'm', 't', 'p', 'r']
      .filter((k) => g.params[k] !== undefined)
      .map((k) => `${k}=${String(g.params[k])}`);
    findings.push({
      object: `auth.credentials: ${g.algorithm} ${shown.join(',')}`.trim(),
      message: `${g.accounts} password hash(es) use ${g.algorithm}: ${weak.why}`,
      evidence: {
        algorithm: g.algorithm,
        params: Object.fromEntries(shown.map((s) => s.split('='))),
        accounts: g.accounts,
      },
      severity: weak.severity,
    });
  }
  return fail(findings, { accounts: groups.reduce((n, g) => n + g.accounts, 0) });
}

/** Longest access-token lifetime the config allows (auth.accessTokenTtlSeconds) plus the 60 s skew the service adds. */
const maxPublishedAfterRetirementMs = (3600 + 60) * 1000;
/** NIST SP 800-57 Part 1: a private signature key's cryptoperiod is one to three years. */
const maxActiveKeyAgeDays = 365;

interface KeyRow {
  kid: string;
  alg: string;
  privateParts: boolean;
  createdAt: Date;
  retiredAt: Date | null;
  expiresAt: Date | null;
}

function keyFindings(k: KeyRow, now: number): Finding[] {
  const out: Finding[] = [];
  const object = `signing key ${k.kid}`;
  const evidence = {
    kid: k.kid,
    alg: k.alg,
    createdAt: iso(k.createdAt),
    retiredAt: iso(k.retiredAt),
    expiresAt: iso(k.expiresAt),
  };
  if (k.privateParts) {
    out.push({
      object,
      message: `the published JWK of ${k.kid} holds private key material`,
      evidence,
      severity: 'critical',
    });
  }
  if (k.alg !== 'EdDSA' && k.alg !== 'ES256') {
    out.push({ object, message: `${k.kid} signs with ${k.alg}, not EdDSA or ES256`, evidence, severity: 'high' });
  }
  if (!k.retiredAt && k.expiresAt && k.expiresAt.getTime() <= now) {
    out.push({
      object,
      message: `${k.kid} expired at ${iso(k.expiresAt)} but still signs tokens`,
      evidence,
      severity: 'medium',
    });
  }
  if (k.retiredAt && k.expiresAt && k.expiresAt.getTime() > now) {
    if (k.expiresAt.getTime() - k.retiredAt.getTime() > maxPublishedAfterRetirementMs) {
      out.push({
        object,
        message: `retired key ${k.kid} stays published until ${iso(k.expiresAt)}, past the longest access-token lifetime`,
        evidence,
        severity: 'medium',
        fix: [
          {
            sql: `update auth.signing_keys set expires_at = retired_at + interval '3660 seconds' where kid = ${sqlLiteral(k.kid)} and retired_at is not null;`,
            safety: 'manual',
          },
        ],
      });
    }
  }
  if (!k.retiredAt && now - k.createdAt.getTime() > maxActiveKeyAgeDays * day) {
    const days = Math.floor((now - k.createdAt.getTime()) / day);
    out.push({ object, message: `${k.kid} has signed for ${days} days without rotation`, evidence, severity: 'low' });
  }
  return out;
}

async function signingKeys(ctx: ScanContext): Promise<Outcome> {
  const na = await applicable(ctx, 'auth');
  if (na) return na;
  const keys = await read<KeyRow>(
    ctx,
    'pgw.auth.keys',
    `select kid, alg, public_jwk ?| array['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'] as "privateParts",
            created_at as "createdAt", retired_at as "retiredAt", expires_at as "expiresAt"
       from auth.signing_keys order by created_at, kid`,
    [],
    'grant select (kid, alg, public_jwk, created_at, retired_at, expires_at) on auth.signing_keys to the scanning login',
  );
  if (keys.length === 0) {
    return {
      verdict: 'not_applicable',
      reason: 'no JWT signing key yet (the auth service creates one when it first starts)',
    };
  }
  const now = ctx.now.getTime();
  const findings = keys.flatMap((k) => keyFindings(k, now));
  const active = keys.filter((k) => !k.retiredAt);
  if (active.length > 1) {
    findings.push({
      object: 'auth.signing_keys',
      message: `${active.length} JWT signing keys are active at once: which one signs is undefined`,
      evidence: { active: active.map((k) => k.kid) },
      severity: 'medium',
    });
  }
  return fail(findings, { keys: keys.length, active: active.map((k) => k.kid) });
}

/**
 * pgwarden's own controls (PGW-nnn): the installation, row and DDL audit, the ledger's
 * verification and its sealer, stored password hashes and JWT signing keys. On a database
 * without pgwarden each is not applicable; what the scanning login may not read is not evaluated.
 *
 * @example
 * const report = await scanDatabase(connection, { only: ['pgwarden'], ledgerMaxAgeHours: 12 });
 */
export const pgwardenChecks: CheckDefinition[] = [
  {
    id: 'PGW-001',
    family: 'pgwarden',
    section,
    title: 'pgwarden is installed completely, unmodified, with its roles',
    severity: 'high',
    source: 'pgwarden',
    rationale:
      'A module left behind its shipped version, an edited migration or a missing group role means the controls pgwarden reports are not the ones in force.',
    remediation:
      'Run `pgwarden install --tier <tier>` with this pgwarden version; an edited migration needs the original file restored (see `pgwarden status`).',
    evaluate: installationHealth,
  },
  {
    id: 'PGW-002',
    family: 'pgwarden',
    section,
    title: 'Row audit covers tenant data, and its capture works',
    severity: 'medium',
    source: 'pgwarden',
    rationale:
      'Tables under row-level security hold tenant data; without row audit a change to them leaves no trail, and a disabled trigger or a lost WAL slot silently stops a trail that looks enabled.',
    remediation:
      'Enable row audit on each table (`select audit.enable(…)`, choosing columns to exclude or redact); for WAL capture run `pgwarden audit capture setup` again and re-enable the listed tables.',
    evaluate: auditCoverage,
  },
  {
    id: 'PGW-003',
    family: 'pgwarden',
    section,
    title: 'DDL and privilege changes are captured',
    severity: 'medium',
    source: 'pgwarden',
    rationale:
      'The DDL event triggers record GRANTs, policy and RLS changes and disabled triggers; without them such changes leave no security event.',
    remediation: 'As a superuser: `select audit.ddl_capture_enable();` (creates or repairs the event triggers).',
    evaluate: ddlCapture,
  },
  {
    id: 'PGW-004',
    family: 'pgwarden',
    section,
    title: 'The ledger is initialised and verified recently without finding tampering',
    severity: 'high',
    source: 'pgwarden',
    rationale:
      'The ledger only detects tampering when someone verifies it; a successful `pgwarden audit verify` records a ledger.verified security event, a failing one ledger.tamper_detected.',
    remediation:
      'Initialise the ledger (`pgwarden audit keys init`), run `pgwarden audit verify` on a schedule shorter than check.ledgerMaxAgeHours, and investigate any tampering it reports.',
    evaluate: ledgerVerified,
  },
  {
    id: 'PGW-005',
    family: 'pgwarden',
    section,
    title: 'The sealer keeps up with the audit trail',
    severity: 'high',
    source: 'pgwarden',
    rationale: 'Rows not yet sealed into the ledger can be changed or removed by a superuser without a trace.',
    remediation:
      'Run the sealer (`pgwarden up` seals continuously, or `pgwarden audit seal` from a scheduler) and check its logs.',
    evaluate: sealerLag,
  },
  {
    id: 'PGW-006',
    family: 'pgwarden',
    section,
    title: 'Stored password hashes meet OWASP cost minimums',
    severity: 'medium',
    source: 'pgwarden',
    references: ['https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html'],
    rationale:
      'A hash below the recommended cost makes offline guessing of a leaked credential table cheap. The password policy itself is bounded by auth.policy and the config schema; the stored hashes show what was really used.',
    remediation:
      "pgwarden's auth service rehashes with argon2id at each user's next login; reset the password of accounts that do not log in (auth.set_password).",
    evaluate: passwordHashes,
  },
  {
    id: 'PGW-007',
    family: 'pgwarden',
    section,
    title: 'JWT signing keys are sound and rotated',
    severity: 'medium',
    source: 'pgwarden',
    references: ['RFC 8725', 'NIST SP 800-57 Part 1'],
    rationale:
      'Tokens are only as trustworthy as the keys that sign them: private material must never be published, one key signs, retired keys leave the JWKS once no valid token needs them, and keys are rotated.',
    remediation:
      'Rotate with `pgwarden keys rotate-jwt`; retire extra active keys; never store a private JWK member in public_jwk.',
    evaluate: signingKeys,
  },
];

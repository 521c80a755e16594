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
import type { Finding, Outcome } from '../types.js';
import { applicable, read, asAuditor, readInstallation, fail } from './pgwarden-support.js';

// PGW-001…003: the installation, audit coverage and DDL capture.
export async function installationHealth(ctx: ScanContext): Promise<Outcome> {
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
export const exposedTablesSql = `
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

export const captureTriggersSql = `
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
export const walSql = `
  select w.slot_name as slot, coalesce(s.wal_status, 'missing') as status, w.problems as stored,
         (select pg_catalog.has_function_privilege(p.oid, 'EXECUTE') from pg_catalog.pg_proc p
           join pg_catalog.pg_namespace n on n.oid = p.pronamespace where n.nspname = 'audit' and p.proname = '_wal_problems') as live
    from audit.wal_state w left join pg_catalog.pg_replication_slots s on s.slot_name = w.slot_name
   where w.database_oid = (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database())`;

export async function walFindings(ctx: ScanContext): Promise<Finding[]> {
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

export async function auditCoverage(ctx: ScanContext): Promise<Outcome> {
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

export async function ddlCapture(ctx: ScanContext): Promise<Outcome> {
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

import type pg from 'pg';
import type { TierName } from '../config/index.js';
import type { Catalog } from './catalog.js';
import { defaultCatalog, pgwardenVersion } from './default-catalog.js';
import { readInstallation, readLedger, readRetainedTables } from './ledger.js';
import { roleNames } from './roles.js';
import { type ExtensionFacts, readServerFacts, serverMajor, supportedMajors } from './server-facts.js';
import { modulesForTier } from './tiers.js';

export interface ModuleStatus {
  module: string;
  tier: TierName;
  description: string;
  installedVersion: number;
  availableVersion: number;
  state: 'installed' | 'upgrade-pending' | 'not-installed';
  /** Files an install would apply. */
  pending: string[];
}

/** Everything `pgwarden status` shows. */
export interface InstallStatus {
  installed: boolean;
  tier: TierName | undefined;
  rolePrefix: string | undefined;
  /** pgwarden version that last installed into this database. */
  databaseVersion: string | undefined;
  codeVersion: string;
  server: { version: string; major: number; supported: boolean };
  connectedAs: { user: string; superuser: boolean; createRole: boolean };
  modules: ModuleStatus[];
  extensions: ExtensionFacts[];
  /** Roles of the installation and whether each exists. */
  roles: Array<{ name: string; exists: boolean }>;
  /** Things that only a superuser (or the platform's admin) can do, in plain words. */
  needsSuperuser: string[];
  /** Tables kept by uninstall (audit and security events). */
  retainedTables: string[];
  /** Row and DDL capture health, when the audit module is installed and readable. */
  audit: AuditCaptureStatus | null;
}

/** How the audit module captures, and whether each part works. */
export interface AuditCaptureStatus {
  /** Audited tables per capture mode. */
  tables: { trigger: number; wal: number };
  /** DDL event triggers: all present and enabled ALWAYS, or which are not; null when not readable. */
  ddlCapture: { ok: boolean; broken: string[] } | null;
  /** WAL capture, or null when it is not set up. */
  walCapture: {
    slot: string;
    /** pg_replication_slots.wal_status, or 'missing'. */
    slotStatus: string;
    appliedLsn: string;
    /** Log the slot keeps the server from recycling, in bytes. */
    retainedBytes: number | null;
    /** Tables whose changes would not reach the trail, by problem (audit._wal_check). */
    problems: Record<string, string[]>;
  } | null;
}

/**
 * Reads what is installed, what an install would upgrade, the server version and which
 * optional extensions are present. Read-only.
 *
 * @example
 * const s = await withClient(connection, (c) => getStatus(c, { rolePrefix: 'pgw_', tier: 'advanced' }));
 * console.log(s.tier, s.modules.filter((m) => m.state !== 'installed'));
 */
export async function getStatus(
  client: pg.ClientBase,
  options: { rolePrefix: string; tier: TierName; catalog?: Catalog },
): Promise<InstallStatus> {
  const catalog = options.catalog ?? defaultCatalog();
  const [facts, ledger, installation] = [
    await readServerFacts(client),
    await readLedger(client),
    await readInstallation(client),
  ];
  const tier = installation?.tier;
  const inTier = new Set(modulesForTier(catalog, tier ?? options.tier).map((m) => m.name));
  const modules: ModuleStatus[] = catalog.modules.map((mod) => {
    const installedVersion = ledger.filter((e) => e.module === mod.name).reduce((m, e) => Math.max(m, e.version), 0);
    const files = catalog.files.filter((f) => f.module === mod.name);
    const pending =
      installedVersion > 0 || inTier.has(mod.name)
        ? files.filter((f) => f.version > installedVersion).map((f) => f.name)
        : [];
    return {
      module: mod.name,
      tier: mod.tier,
      description: mod.description,
      installedVersion,
      availableVersion: files.length,
      state: installedVersion === 0 ? 'not-installed' : pending.length > 0 ? 'upgrade-pending' : 'installed',
      pending,
    };
  });
  const prefix = installation?.rolePrefix ?? options.rolePrefix;
  const names = Object.values(roleNames(prefix));
  const existing = new Set(
    (
      await client.query<{ rolname: string }>(
        `select rolname from pg_catalog.pg_roles where rolname = any($1::text[])`,
        [names],
      )
    ).rows.map((r) => r.rolname),
  );
  // An auditor login may read the ledger but not the retained-table list: status still works.
  const retained = await readRetainedTables(client).catch((err: { code?: string }) => {
    if (err.code === '42501') return [];
    throw err;
  });
  const major = serverMajor(facts);
  return {
    installed: ledger.length > 0,
    tier,
    rolePrefix: installation?.rolePrefix,
    databaseVersion: installation?.pgwardenVersion,
    codeVersion: pgwardenVersion,
    server: {
      version: facts.serverVersion,
      major,
      supported: major >= supportedMajors.min && major <= supportedMajors.max,
    },
    connectedAs: {
      user: facts.currentUser,
      superuser: facts.superuser,
      createRole: facts.createRole,
    },
    modules,
    extensions: facts.extensions,
    roles: names.map((name) => ({ name, exists: existing.has(name) })),
    needsSuperuser: needsSuperuser(catalog, facts.superuser, facts.extensions),
    retainedTables: retained,
    audit: await auditCaptureStatus(client),
  };
}

// Read-only: what the auditor role may read. Each part is skipped when not installed or not
// readable by this login, rather than failing the whole status.
async function auditCaptureStatus(client: pg.ClientBase): Promise<AuditCaptureStatus | null> {
  const { rows: present } = await client.query<{ tables: boolean; wal: boolean; ddl: boolean }>(
    `select pg_catalog.has_table_privilege(pg_catalog.to_regclass('audit.audited_tables'), 'select') as tables,
            pg_catalog.has_table_privilege(pg_catalog.to_regclass('audit.wal_state'), 'select') as wal,
            pg_catalog.has_function_privilege(pg_catalog.to_regprocedure('audit.ddl_capture_status()'), 'execute') as ddl`,
  );
  const p = present[0];
  if (!p?.tables) return null;
  const { rows: counts } = await client.query<{ capture: 'trigger' | 'wal'; n: number }>(
    'select capture, pg_catalog.count(*)::int as n from audit.audited_tables where enabled group by capture',
  );
  const tables = { trigger: 0, wal: 0 };
  for (const c of counts) tables[c.capture] = c.n;
  let ddlCapture: AuditCaptureStatus['ddlCapture'] = null;
  if (p.ddl) {
    const { rows } = await client.query<{ trigger_name: string; ok: boolean }>(
      'select * from audit.ddl_capture_status()',
    );
    const broken = rows.filter((r) => !r.ok).map((r) => r.trigger_name);
    ddlCapture = { ok: broken.length === 0, broken };
  }
  let walCapture: AuditCaptureStatus['walCapture'] = null;
  if (p.wal) {
    const { rows } = await client.query<{
      slot_name: string;
      wal_status: string | null;
      applied_lsn: string;
      retained: string | null;
      problems: Record<string, string[]>;
    }>(
      `select w.slot_name, s.wal_status, w.applied_lsn::text, w.problems,
              pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::bigint::text as retained
         from audit.wal_state w left join pg_catalog.pg_replication_slots s on s.slot_name = w.slot_name
        where w.database_oid = (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database())`,
    );
    const w = rows[0];
    if (w) {
      walCapture = {
        slot: w.slot_name,
        slotStatus: w.wal_status ?? 'missing',
        appliedLsn: w.applied_lsn,
        retainedBytes: w.retained === null ? null : Number(w.retained),
        problems: w.problems,
      };
    }
  }
  return { tables, ddlCapture, walCapture };
}

function needsSuperuser(catalog: Catalog, superuser: boolean, extensions: ExtensionFacts[]): string[] {
  const out = catalog.modules.flatMap((m) => m.superuserFor.map((what) => `${m.name}: ${what}`));
  const pgaudit = extensions.find((e) => e.name === 'pgaudit');
  if (pgaudit && pgaudit.preloaded === false) {
    out.push(
      'pgaudit (optional): add pgaudit to shared_preload_libraries and restart; on managed services set it in the parameter group',
    );
  }
  const pss = extensions.find((e) => e.name === 'pg_stat_statements');
  if (pss && pss.preloaded === false)
    out.push('pg_stat_statements (optional, used by the monitor): add it to shared_preload_libraries and restart');
  if (extensions.some((e) => e.preloaded === undefined))
    out.push(
      'reading shared_preload_libraries needs pg_read_all_settings (grant it to see which extensions are preloaded)',
    );
  if (!superuser) out.push('creating the group roles needs CREATEROLE; everything else runs as the database owner');
  return out;
}

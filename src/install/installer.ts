import type pg from 'pg';
import type { TierName } from '../config/index.js';
import { quoteIdent, withSessionSetting, withTransaction } from '../db/client.js';
import { wrapPgError } from '../db/pg-errors.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import type { Catalog, MigrationFile } from './catalog.js';
import { defaultCatalog, pgwardenVersion } from './default-catalog.js';
import { readInstallation, readLedger, verifyLedger } from './ledger.js';
import { withInstallLock } from './lock.js';
import { type InstallPlan, planInstall } from './plan.js';
import { preflight, refuseForeignRoles, refuseForeignSchemas } from './preflight.js';
import { renderSql } from './render-sql.js';
import { type RoleNames, roleNames } from './roles.js';
import { readServerFacts, type ServerFacts } from './server-facts.js';

/** Progress of an install, for progress displays and logs. */
export type InstallEvent =
  | { kind: 'install-planned'; plan: InstallPlan }
  | { kind: 'install-lock-waiting' }
  | { kind: 'install-file-started'; module: string; version: number; name: string }
  | { kind: 'install-file-applied'; module: string; version: number; name: string; ms: number }
  | { kind: 'install-finished'; applied: number; tier: TierName };

export interface InstallOptions {
  tier: TierName;
  rolePrefix: string;
  /** Plan only: read the database, apply nothing. */
  dryRun?: boolean;
  /** How long to wait for another installer's lock (default 5 minutes). */
  lockTimeoutMs?: number;
  /** Stops between files (never inside one): the database stays at a consistent version. */
  signal?: AbortSignal;
  onEvent?: (event: InstallEvent) => void;
  /** The SQL to install; defaults to what this pgwarden ships. */
  catalog?: Catalog;
  /** Version recorded in pgwarden.installation (defaults to this package's version). */
  version?: string;
}

export interface InstallResult {
  plan: InstallPlan;
  /** Files applied by this call (zero when another installer did the work, or on a dry run). */
  applied: Array<{ module: string; version: number; name: string }>;
  dryRun: boolean;
  server: ServerFacts;
}

/**
 * Installs or upgrades pgwarden in the connected database. Each file runs in its own transaction
 * under a session advisory lock, so two installers at once both succeed and the work is done once.
 * Before changing anything it refuses an edited released file (PW202), a database newer than the
 * code (PW203), a different role prefix (PW204), and missing privileges or extensions.
 *
 * @example
 * await withClient(connection, (client) => install(client, { tier: 'standard', rolePrefix: 'pgw_' }));
 */
export async function install(client: pg.ClientBase, options: InstallOptions): Promise<InstallResult> {
  // Migrations may run long; the caller's statement_timeout is restored afterwards.
  return withSessionSetting(client, 'statement_timeout', '0', () => runInstall(client, options));
}

async function runInstall(client: pg.ClientBase, options: InstallOptions): Promise<InstallResult> {
  const catalog = options.catalog ?? defaultCatalog();
  const roles = roleNames(options.rolePrefix);
  const emit = options.onEvent ?? (() => undefined);
  const server = await readServerFacts(client);

  const planNow = async () => {
    const [ledger, installation] = [await readLedger(client), await readInstallation(client)];
    verifyLedger(ledger, catalog);
    if (installation && installation.rolePrefix !== options.rolePrefix) {
      throw new PgwardenError(
        ErrorCodes.INSTALL_PREFIX_MISMATCH,
        `this database was installed with role prefix "${installation.rolePrefix}", not "${options.rolePrefix}"`,
        {
          hint: `set install.rolePrefix to "${installation.rolePrefix}" (PGWARDEN_INSTALL_ROLE_PREFIX or --role-prefix)`,
        },
      );
    }
    return planInstall(catalog, ledger, installation, options.tier);
  };

  const first = await planNow().catch((err) => Promise.reject(wrapPgError(err)));
  await preflight(client, server, first, catalog, roles).catch((err) => Promise.reject(wrapPgError(err)));
  if (options.dryRun) {
    emit({ kind: 'install-planned', plan: first });
    return { plan: first, applied: [], dryRun: true, server };
  }

  const lockOptions = {
    timeoutMs: options.lockTimeoutMs ?? 300_000,
    signal: options.signal,
    onWait: () => emit({ kind: 'install-lock-waiting' }),
  };
  return withInstallLock(client, lockOptions, async () => {
    // Re-plan and re-check under the lock: another installer may have done part or all of the
    // work, or changed what exists since the first look.
    const plan = await planNow();
    await refuseForeignSchemas(client, plan, catalog, roles);
    await refuseForeignRoles(client, plan, roles);
    emit({ kind: 'install-planned', plan });
    const applied: InstallResult['applied'] = [];
    for (const file of plan.files) {
      if (options.signal?.aborted) {
        throw new PgwardenError(
          ErrorCodes.INTERRUPTED,
          `install interrupted after ${applied.length} of ${plan.files.length} files`,
          {
            hint: 'the database is at a consistent version; run the install again to complete it',
          },
        );
      }
      emit({
        kind: 'install-file-started',
        module: file.module,
        version: file.version,
        name: file.name,
      });
      const started = performance.now();
      await applyFile(client, file, roles, options, plan.targetTier, catalog);
      applied.push({ module: file.module, version: file.version, name: file.name });
      emit({
        kind: 'install-file-applied',
        module: file.module,
        version: file.version,
        name: file.name,
        ms: performance.now() - started,
      });
    }
    await recordInstallation(client, plan, applied.length, options);
    emit({ kind: 'install-finished', applied: applied.length, tier: plan.targetTier });
    return { plan, applied, dryRun: false, server };
  });
}

async function applyFile(
  client: pg.ClientBase,
  file: MigrationFile,
  roles: RoleNames,
  options: InstallOptions,
  tier: TierName,
  catalog: Catalog,
): Promise<void> {
  await withTransaction(client, async () => {
    if (!file.privileged) {
      await ensureOwnerCanCreate(client, roles);
      await adoptKeptTables(client, catalog, file.module, roles);
    }
    const pgcryptoSchema = (
      await client.query<{ s: string }>(
        `select n.nspname as s from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace where e.extname = 'pgcrypto'`,
      )
    ).rows[0]?.s;
    const sql = renderSql(file, { prefix: options.rolePrefix, roles, pgcryptoSchema });
    // Unprivileged files run as the owner role, so what they create belongs to it.
    if (!file.privileged) await client.query(`select pg_catalog.set_config('role', $1, true)`, [roles.owner]);
    try {
      await client.query(sql);
    } catch (err) {
      throw migrationError(file, sql, err);
    }
    await client.query(`select pg_catalog.set_config('role', $1, true)`, [roles.owner]);
    await client.query(
      `insert into pgwarden.migrations (module, version, name, sha256, chain_sha256) values ($1, $2, $3, $4, $5)`,
      [file.module, file.version, file.name, file.sha256, file.chainSha256],
    );
    await client.query(
      `insert into pgwarden.installation (tier, role_prefix, pgwarden_version) values ($1, $2, $3) on conflict (singleton) do nothing`,
      [tier, options.rolePrefix, options.version ?? pgwardenVersion],
    );
  }).catch((err) => Promise.reject(wrapPgError(err)));
}

// Database ACLs are not copied by CREATE DATABASE … TEMPLATE, so a database cloned from an
// installed one lacks the owner's CREATE grant that later modules need for their schemas.
async function ensureOwnerCanCreate(client: pg.ClientBase, roles: RoleNames): Promise<void> {
  const { rows } = await client.query<{ ok: boolean }>(
    `select pg_catalog.has_database_privilege($1, pg_catalog.current_database(), 'CREATE') as ok`,
    [roles.owner],
  );
  if (rows[0]?.ok) return;
  const db = (await client.query<{ d: string }>('select pg_catalog.current_database() as d')).rows[0]!.d;
  await client.query(`grant create on database ${quoteIdent(db)} to ${quoteIdent(roles.owner)}`);
}

// Tables kept by an earlier uninstall (commented "pgwarden: …") go back to the owner role before
// the module's files run, so their `create table if not exists` adopts them with their rows.
async function adoptKeptTables(
  client: pg.ClientBase,
  catalog: Catalog,
  module: string,
  roles: RoleNames,
): Promise<void> {
  const schemas = catalog.modules.find((m) => m.name === module)?.schemas ?? [];
  if (schemas.length === 0) return;
  const { rows } = await client.query<{ name: string }>(
    `select pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) as name
       from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = any($1::text[]) and c.relkind in ('r', 'p')
        and pg_catalog.obj_description(c.oid, 'pg_class') like 'pgwarden:%'
        and pg_catalog.pg_get_userbyid(c.relowner) <> $2`,
    [schemas, roles.owner],
  );
  for (const r of rows) {
    // Whatever was granted on the table while it sat without pgwarden goes; the module's own
    // grants, re-run by its files, put back exactly what it needs.
    const { rows: grantees } = await client.query<{ grantee: string }>(
      `select distinct case when a.grantee = 0 then 'public' else pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) end as grantee
         from pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
        where c.oid = $1::regclass and a.grantee <> c.relowner`,
      [r.name],
    );
    for (const g of grantees) await client.query(`revoke all on table ${r.name} from ${g.grantee}`);
    await client.query(`alter table ${r.name} owner to ${quoteIdent(roles.owner)}`);
  }
}

async function recordInstallation(
  client: pg.ClientBase,
  plan: InstallPlan,
  applied: number,
  options: InstallOptions,
): Promise<void> {
  await withTransaction(client, async () => {
    await client.query(`select pg_catalog.set_config('role', $1, true)`, [roleNames(options.rolePrefix).owner]);
    await client.query(
      `update pgwarden.installation set tier = $1, pgwarden_version = $2, updated_at = pg_catalog.clock_timestamp()`,
      [plan.targetTier, options.version ?? pgwardenVersion],
    );
    const hasLog = (
      await client.query(
        `select pg_catalog.to_regprocedure('logs.log_event(text,text,text,text,text,jsonb,uuid)') is not null as ok`,
      )
    ).rows[0]?.ok;
    if (hasLog && applied > 0) {
      await client.query(
        `select logs.log_event('pgwarden.installed', 'notice', session_user::text, null, null, $1::jsonb)`,
        [
          JSON.stringify({
            tier: plan.targetTier,
            from_tier: plan.currentTier ?? null,
            version: options.version ?? pgwardenVersion,
            modules: plan.modules,
          }),
        ],
      );
    }
  }).catch((err) => Promise.reject(wrapPgError(err)));
}

function migrationError(file: MigrationFile, sql: string, err: unknown): PgwardenError {
  const e = err as {
    message?: string;
    code?: string;
    position?: string;
    detail?: string;
    hint?: string;
  };
  const line = e.position ? sql.slice(0, Number(e.position)).split('\n').length : undefined;
  const where = `sql/${file.module}/${file.name}${line ? `:${line}` : ''}`;
  if (e.code && /^PW\d{3}$/.test(e.code)) return wrapPgError(err, where);
  const privilege = e.code === '42501';
  return new PgwardenError(
    privilege ? ErrorCodes.INSTALL_PRIVILEGES : ErrorCodes.INSTALL_MIGRATION_FAILED,
    `${where} failed: ${e.message ?? String(err)}`,
    {
      detail: e.detail,
      hint: privilege
        ? 'the connected role lacks a privilege this file needs; see `pgwarden status` for what needs a superuser'
        : (e.hint ?? 'the file was rolled back; nothing of it was applied'),
      sqlState: e.code,
      cause: err,
    },
  );
}

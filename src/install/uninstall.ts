import type pg from 'pg';
import { quoteIdent, withSessionSetting, withTransaction } from '../db/client.js';
import { wrapPgError } from '../db/pg-errors.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import type { Catalog } from './catalog.js';
import { defaultCatalog } from './default-catalog.js';
import { readInstallation, readLedger, readRetainedTables } from './ledger.js';
import { foreignObjectsIn, objectChanges, outsideObjects } from './outside-objects.js';
import { withInstallLock } from './lock.js';
import { roleNames } from './roles.js';

export interface UninstallOptions {
  /** Also delete retained audit and security-event tables. Needs `confirm`. */
  purge?: boolean;
  /** Must be true with `purge` (the CLI's `--yes`). */
  confirm?: boolean;
  lockTimeoutMs?: number;
  /** Stops a wait for the install lock (PW002). */
  signal?: AbortSignal;
  catalog?: Catalog;
  /** Role prefix to use when the installation row is gone (a half-removed install). */
  rolePrefix: string;
}

export interface UninstallResult {
  droppedSchemas: string[];
  /** Tables kept with their rows (empty with purge). */
  keptTables: string[];
  droppedRoles: string[];
  /** Roles still in use elsewhere in the cluster, with the reason. */
  keptRoles: Array<{ name: string; reason: string }>;
}

/**
 * Removes pgwarden's schemas, functions, ledger and roles from the connected database, keeping
 * the audit and security-event tables with their rows unless `purge` (with `confirm`) is set.
 * A reinstall adopts the kept tables. Roles still used in another database of the cluster are kept.
 *
 * @example
 * await withClient(connection, (c) => uninstall(c, { rolePrefix: 'pgw_' }));
 */
export async function uninstall(client: pg.ClientBase, options: UninstallOptions): Promise<UninstallResult> {
  assertPurgeConfirmed(options);
  try {
    return await withSessionSetting(client, 'statement_timeout', '0', () =>
      withInstallLock(client, { timeoutMs: options.lockTimeoutMs ?? 300_000, signal: options.signal }, () =>
        runUninstall(client, options),
      ),
    );
  } catch (err) {
    throw wrapPgError(err);
  }
}

async function runUninstall(client: pg.ClientBase, options: UninstallOptions): Promise<UninstallResult> {
  const catalog = options.catalog ?? defaultCatalog();
  const installation = await readInstallation(client);
  if (!installation && (await readLedger(client)).length === 0) {
    throw new PgwardenError(ErrorCodes.INSTALL_NOT_INSTALLED, 'pgwarden is not installed in this database', {
      hint: "nothing to uninstall; schemas with the same names as pgwarden's are left alone",
    });
  }
  const roles = roleNames(installation?.rolePrefix ?? options.rolePrefix);
  const moduleSchemas = [...new Set(catalog.modules.flatMap((m) => m.schemas))];
  // Only schemas pgwarden owns are pgwarden's to remove.
  const schemas = (
    await client.query<{ nspname: string }>(
      `select nspname from pg_catalog.pg_namespace where nspname = any($1::text[]) and pg_catalog.pg_get_userbyid(nspowner) = $2 order by 1`,
      [moduleSchemas, roles.owner],
    )
  ).rows.map((r) => r.nspname);
  const retained = options.purge ? [] : await readRetainedTables(client);
  // The row-change trail lives in the audit schema, which uninstall removes: refuse to delete
  // audit records unless the caller asked for a purge (archive or export them first).
  if (!options.purge && schemas.includes('audit')) {
    const { rows } = await client.query<{ n: string }>(
      `select pg_catalog.count(*)::text as n from (select 1 from audit.row_changes limit 1000000) r`,
    );
    const count = Number(rows[0]?.n ?? 0);
    if (count > 0) {
      throw new PgwardenError(ErrorCodes.INSTALL_PURGE_UNCONFIRMED, `uninstall would delete ${count} audit record(s)`, {
        hint: 'archive them first (`pgwarden audit retention`, `pgwarden audit export`), or uninstall with --purge --yes',
      });
    }
  }
  // Alerts and who acknowledged or resolved them are incident evidence: the same rule.
  if (!options.purge && schemas.includes('monitor')) {
    const { rows } = await client.query<{ n: string }>(`select pg_catalog.count(*)::text as n from monitor.alerts`);
    const count = Number(rows[0]?.n ?? 0);
    if (count > 0) {
      throw new PgwardenError(
        ErrorCodes.INSTALL_PURGE_UNCONFIRMED,
        `uninstall would delete ${count} monitor alert(s)`,
        {
          hint: 'export them first (`pgwarden monitor alerts --json`), or uninstall with --purge --yes',
        },
      );
    }
  }
  // Saved compliance scans are audit evidence too: the same rule.
  if (!options.purge && schemas.includes('compliance')) {
    const { rows } = await client.query<{ n: string }>(
      `select pg_catalog.count(*)::text as n from compliance.scan_runs`,
    );
    const count = Number(rows[0]?.n ?? 0);
    if (count > 0) {
      throw new PgwardenError(
        ErrorCodes.INSTALL_PURGE_UNCONFIRMED,
        `uninstall would delete ${count} saved compliance scan(s)`,
        {
          hint: 'render them first (`pgwarden report -o compliance.html`), or uninstall with --purge --yes',
        },
      );
    }
  }
  const foreign = await foreignObjectsIn(client, schemas, roles.owner, retained);
  if (foreign.length > 0) {
    throw new PgwardenError(
      ErrorCodes.INSTALL_FOREIGN_OBJECTS,
      `pgwarden's schemas hold objects pgwarden did not create; nothing was removed`,
      {
        detail: foreign.join('\n'),
        hint: `move them out of ${schemas.join(', ')} (alter … set schema) and run uninstall again`,
      },
    );
  }
  // WAL capture's slot (cluster-wide, dropped after the commit: it keeps log for nobody then).
  const hasWalState = (await client.query(`select pg_catalog.to_regclass('audit.wal_state') as t`)).rows[0]?.t;
  const slots = hasWalState
    ? (await client.query<{ slot_name: string }>('select w.slot_name from audit.wal_state w')).rows.map(
        (r) => r.slot_name,
      )
    : [];
  const result = await withTransaction(client, async () => {
    if (retained.length > 0) await recordUninstall(client, retained);
    // Publications are no schema's objects: WAL capture's go explicitly.
    await client.query('drop publication if exists pgwarden_audit, pgwarden_audit_context');
    const outsideBefore = await outsideObjects(client, schemas);
    const keptBefore = await columnsOf(client, retained);
    const droppedSchemas: string[] = [];
    for (const schema of schemas) {
      const keep = retained.filter((t) => t.startsWith(`${schema}.`));
      if (keep.length === 0) {
        await client.query(`drop schema ${quoteIdent(schema)} cascade`);
        droppedSchemas.push(schema);
      } else {
        await emptySchemaExcept(client, schema, keep);
      }
    }
    for (const table of retained) {
      const [schemaName, tableName] = table.split('.') as [string, string];
      await client.query(`alter table ${quoteIdent(schemaName)}.${quoteIdent(tableName)} owner to current_user`);
    }
    // A cascade must never reach past pgwarden: compare everything outside its schemas, and the
    // kept tables' columns, and roll the whole uninstall back if anything changed.
    const changes = objectChanges(outsideBefore, await outsideObjects(client, schemas));
    if (JSON.stringify(keptBefore) !== JSON.stringify(await columnsOf(client, retained))) {
      changes.push(`would change the columns of ${retained.join(', ')}`);
    }
    if (changes.length > 0) {
      throw new PgwardenError(
        ErrorCodes.INSTALL_FOREIGN_OBJECTS,
        "uninstall would remove or change objects that are not pgwarden's; nothing was removed",
        {
          detail: changes.slice(0, 20).join('\n'),
          hint: 'these depend on pgwarden (for example on pgcrypto installed in schema pgwarden); move or drop them first, e.g. `alter extension pgcrypto set schema public`',
        },
      );
    }
    await releaseDatabaseGrants(client, roles, retained);
    const { dropped, kept } = await dropRoles(client, Object.values(roles));
    return { droppedSchemas, keptTables: retained, droppedRoles: dropped, keptRoles: kept };
  });
  for (const slot of slots) {
    await client.query(
      `select pg_catalog.pg_drop_replication_slot(s.slot_name) from pg_catalog.pg_replication_slots s
        where s.slot_name = $1 and not s.active`,
      [slot],
    );
  }
  return result;
}

// What pgwarden's roles still hold in this database once its schemas are gone: the kept schemas
// and their tables (ownership, grants), CREATE on the database, the owner's default privileges.
// Released even when the roles stay for another database, or it would keep the last database's
// uninstall from dropping them. Only this database: DROP OWNED would also revoke what the roles
// hold on other databases.
async function releaseDatabaseGrants(
  client: pg.ClientBase,
  roles: Record<string, string>,
  retained: string[],
): Promise<void> {
  const present = (
    await client.query<{ rolname: string }>(`select rolname from pg_catalog.pg_roles where rolname = any($1::text[])`, [
      Object.values(roles),
    ])
  ).rows.map((r) => quoteIdent(r.rolname));
  if (present.length === 0) return;
  const list = present.join(', ');
  const db = (await client.query<{ d: string }>('select pg_catalog.current_database() as d')).rows[0]!.d;
  await client.query(`revoke all on database ${quoteIdent(db)} from ${list}`);
  for (const schema of new Set(retained.map((t) => t.split('.')[0]!))) {
    await client.query(`alter schema ${quoteIdent(schema)} owner to current_user`);
    await client.query(`revoke all on schema ${quoteIdent(schema)} from ${list}`);
    await client.query(`revoke all on all tables in schema ${quoteIdent(schema)} from ${list}`);
    await client.query(`revoke all on all sequences in schema ${quoteIdent(schema)} from ${list}`);
  }
  if (present.includes(quoteIdent(roles.owner ?? ''))) {
    await client.query(
      `alter default privileges for role ${quoteIdent(roles.owner!)} grant execute on functions to public`,
    );
  }
}

// The uninstall is itself a security event, kept in the retained log. A savepoint keeps a failure
// here (the log function already gone after a half-removed install) from aborting the transaction.
async function recordUninstall(client: pg.ClientBase, retained: string[]): Promise<void> {
  await client.query('savepoint record_uninstall');
  try {
    await client.query(
      `select logs.log_event('pgwarden.uninstalled', 'warning', session_user::text, null, null, $1::jsonb)`,
      [JSON.stringify({ kept: retained })],
    );
    await client.query('release savepoint record_uninstall');
  } catch {
    await client.query('rollback to savepoint record_uninstall');
  }
}

/** Throws PW214 when a purge is asked for without confirmation. */
export function assertPurgeConfirmed(options: Pick<UninstallOptions, 'purge' | 'confirm'>): void {
  if (options.purge && !options.confirm) {
    throw new PgwardenError(
      ErrorCodes.INSTALL_PURGE_UNCONFIRMED,
      'purge deletes audit and security-event data for good and needs confirmation',
      {
        hint: 'add --yes to confirm, or leave out --purge to keep the data',
      },
    );
  }
}

async function columnsOf(client: pg.ClientBase, tables: string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of tables) {
    const { rows } = await client.query<{ attname: string }>(
      `select attname from pg_catalog.pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum`,
      [table.split('.').map(quoteIdent).join('.')],
    );
    out[table] = rows.map((r) => r.attname);
  }
  return out;
}

// Drops every object of a schema except the kept tables (with their indexes, constraints,
// identity sequences and partitions): functions first, cascading to triggers and policies on
// the kept tables, then views, other tables, sequences and types.
async function emptySchemaExcept(client: pg.ClientBase, schema: string, keep: string[]): Promise<void> {
  const keepNames = keep.map((t) => t.slice(schema.length + 1));
  const { rows: procs } = await client.query<{ sig: string }>(
    `select p.oid::regprocedure::text as sig from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
      where n.nspname = $1 and not exists (select 1 from pg_catalog.pg_depend d where d.objid = p.oid and d.deptype = 'e')`,
    [schema],
  );
  for (const p of procs) await client.query(`drop routine if exists ${p.sig} cascade`);
  const { rows: rels } = await client.query<{ name: string; kind: string }>(
    `select pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) as name, c.relkind as kind
       from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relkind in ('v', 'm', 'r', 'p', 'f', 'S')
        and not (c.relname = any($2::text[]))
        and not c.relispartition
        and not exists (select 1 from pg_catalog.pg_depend d where d.objid = c.oid and d.deptype in ('a', 'i', 'e'))
      order by case c.relkind when 'v' then 0 when 'm' then 1 else 2 end`,
    [schema, keepNames],
  );
  const kinds: Record<string, string> = {
    v: 'view',
    m: 'materialized view',
    r: 'table',
    p: 'table',
    f: 'foreign table',
    S: 'sequence',
  };
  for (const r of rels) await client.query(`drop ${kinds[r.kind]} if exists ${r.name} cascade`);
  const { rows: types } = await client.query<{ name: string }>(
    `select t.oid::regtype::text as name from pg_catalog.pg_type t join pg_catalog.pg_namespace n on n.oid = t.typnamespace
      where n.nspname = $1 and t.typtype in ('e', 'd', 'c', 'r', 'm') and (t.typtype <> 'c' or (select relkind from pg_catalog.pg_class where oid = t.typrelid) = 'c')
        and not exists (select 1 from pg_catalog.pg_depend d where d.objid = t.oid and d.deptype in ('e', 'i', 'a'))`,
    [schema],
  );
  for (const t of types) await client.query(`drop type if exists ${t.name} cascade`);
}

// pgwarden's roles are one unit: another database of the cluster with pgwarden installed relies on
// all of them (authenticator owns nothing there, yet its memberships make the install work), so
// they are dropped together or all kept.
async function dropRoles(
  client: pg.ClientBase,
  names: string[],
): Promise<{ dropped: string[]; kept: Array<{ name: string; reason: string }> }> {
  const existing = (
    await client.query<{ rolname: string }>(`select rolname from pg_catalog.pg_roles where rolname = any($1::text[])`, [
      names,
    ])
  ).rows.map((r) => r.rolname);
  await client.query('savepoint drop_roles');
  try {
    for (const name of existing) {
      await client.query(`reassign owned by ${quoteIdent(name)} to current_user`);
      await client.query(`drop owned by ${quoteIdent(name)}`);
    }
    for (const name of existing) await client.query(`drop role ${quoteIdent(name)}`);
    await client.query('release savepoint drop_roles');
    return { dropped: existing, kept: [] };
  } catch (err) {
    await client.query('rollback to savepoint drop_roles');
    const e = err as { message?: string; detail?: string };
    const reason = [e.message, e.detail?.split('\n')[0]].filter(Boolean).join(': ') || 'still in use';
    return { dropped: [], kept: existing.map((name) => ({ name, reason })) };
  }
}

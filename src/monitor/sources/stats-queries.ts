/**
 * What the statistics source reads at each sample: the backends of pg_stat_activity, the
 * counters of pg_stat_statements (when installed) and of pg_stat_user_tables, and the deltas
 * between two samples. Counters only grow between resets; a counter found lower than at the last
 * sample (pg_stat_statements_reset(), pg_stat_reset(), an entry evicted and added again) counts
 * from zero, so a delta is never negative.
 */
import type pg from 'pg';
import { quoteIdent } from '../../db/client.js';
import { timedQuery } from './db-session.js';

/** One backend. */
export interface BackendRow {
  pid: number;
  backend_start: Date | null;
  usename: string;
  datname: string | null;
  addr: string | null;
  application_name: string | null;
  backend_type: string;
  superuser: boolean;
}

/**
 * Backends with a role (client backends, walsenders, background workers running as a role),
 * without this connection's own and without parallel workers (part of their leader's query).
 *
 * @example
 * const backends = await readBackends(client, 5_000); // [{ pid: 4242, usename: 'app', superuser: false, … }]
 */
export async function readBackends(client: pg.Client, timeoutMs: number): Promise<BackendRow[]> {
  const { rows } = await timedQuery<BackendRow>(
    client,
    `select a.pid, a.backend_start, a.usename, a.datname, pg_catalog.host(a.client_addr) as addr, a.application_name,
            a.backend_type, coalesce(r.rolsuper, false) as superuser
       from pg_catalog.pg_stat_activity a
       left join pg_catalog.pg_roles r on r.oid = a.usesysid
      where a.pid <> pg_catalog.pg_backend_pid() and a.usesysid is not null
        and a.backend_type is distinct from 'parallel worker'`,
    [],
    timeoutMs,
  );
  return rows;
}

/** Where pg_stat_statements lives in this database, and whether its entries carry `stats_since` (PG 17). */
export interface StatementsView {
  schema: string;
  statsSince: boolean;
}

/**
 * The extension in the connected database, or undefined when it is not installed there.
 *
 * @example
 * const view = await findStatementsView(client, 5_000); // { schema: 'public', statsSince: true }
 */
export async function findStatementsView(client: pg.Client, timeoutMs: number): Promise<StatementsView | undefined> {
  const { rows } = await timedQuery<{ schema: string; stats_since: boolean }>(
    client,
    `select n.nspname as schema,
            exists (select 1 from pg_catalog.pg_attribute a
                     where a.attrelid = pg_catalog.format('%I.pg_stat_statements', n.nspname)::regclass
                       and a.attname = 'stats_since' and not a.attisdropped) as stats_since
       from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace
      where e.extname = 'pg_stat_statements'`,
    [],
    timeoutMs,
  );
  const row = rows[0];
  return row ? { schema: row.schema, statsSince: row.stats_since } : undefined;
}

/** One pg_stat_statements entry's counters. */
export interface StatementRow {
  key: string;
  userid: string;
  dbid: string;
  rolname: string | null;
  datname: string | null;
  superuser: boolean;
  /** The statement's first keyword, lower case ('select', 'with', 'insert' …). */
  verb: string | null;
  calls: number;
  rows: number;
  since: string | null;
}

/**
 * When the whole of pg_stat_statements was last reset (pg_stat_statements_info).
 *
 * @example
 * const reset = await readStatementsReset(client, view, 5_000); // '2025-01-01 00:00:00+00'
 */
export async function readStatementsReset(client: pg.Client, view: StatementsView, timeoutMs: number): Promise<string> {
  const { rows } = await timedQuery<{ reset: string | null }>(
    client,
    `select i.stats_reset::text as reset from ${quoteIdent(view.schema)}.pg_stat_statements_info i`,
    [],
    timeoutMs,
  );
  return rows[0]?.reset ?? '';
}

/**
 * Every entry of every database (the view is cluster-wide). Throws 55000 when not preloaded.
 * PostgreSQL 15 and 16 keep no per-entry reset time: an entry reset (pg_stat_statements_reset
 * with a user, database or query) and then called as often as before within one interval reads
 * as unchanged there. PostgreSQL 17's `stats_since` tells.
 *
 * @example
 * const entries = await readStatements(client, view, 5_000); // [{ key, rolname, verb: 'select', calls, rows, … }]
 */
export async function readStatements(
  client: pg.Client,
  view: StatementsView,
  timeoutMs: number,
): Promise<StatementRow[]> {
  const since = view.statsSince ? 's.stats_since::text' : 'null::text';
  const { rows } = await timedQuery<Omit<StatementRow, 'calls' | 'rows'> & { calls: string; rows: string }>(
    client,
    `select s.userid::text || ':' || s.dbid::text || ':' || coalesce(s.queryid, 0)::text || ':' || s.toplevel::text as key,
            s.userid::text as userid, s.dbid::text as dbid, r.rolname, d.datname, coalesce(r.rolsuper, false) as superuser,
            pg_catalog.lower(pg_catalog.substring(s.query, '^[\\s(]*([A-Za-z]+)')) as verb,
            s.calls::text as calls, s.rows::text as rows, ${since} as since
       from ${quoteIdent(view.schema)}.pg_stat_statements s
       left join pg_catalog.pg_roles r on r.oid = s.userid
       left join pg_catalog.pg_database d on d.oid = s.dbid`,
    [],
    timeoutMs,
  );
  return rows.map((r) => ({ ...r, calls: Number(r.calls), rows: Number(r.rows) }));
}

/** One table's counters (current database). */
export interface TableRow {
  relid: string;
  table: string;
  read: number;
  inserted: number;
  updated: number;
  deleted: number;
}

/**
 * pg_stat_user_tables of the connected database.
 *
 * @example
 * const tables = await readTables(client, 5_000); // [{ relid: '16384', table: 'public.t', read: 10000, … }]
 */
export async function readTables(client: pg.Client, timeoutMs: number): Promise<TableRow[]> {
  const { rows } = await timedQuery<Record<keyof TableRow, string>>(
    client,
    `select t.relid::text as relid, pg_catalog.format('%s.%s', t.schemaname, t.relname) as table,
            (coalesce(t.seq_tup_read, 0) + coalesce(t.idx_tup_fetch, 0))::text as read,
            t.n_tup_ins::text as inserted, t.n_tup_upd::text as updated, t.n_tup_del::text as deleted
       from pg_catalog.pg_stat_user_tables t`,
    [],
    timeoutMs,
  );
  return rows.map((r) => ({
    relid: r.relid,
    table: r.table,
    read: Number(r.read),
    inserted: Number(r.inserted),
    updated: Number(r.updated),
    deleted: Number(r.deleted),
  }));
}

/**
 * `current - previous`, or `current` when the counter went down (it was reset) or is new.
 *
 * @example
 * counterDelta(150, 100); // 50
 * counterDelta(20, 100);  // 20 (reset in between)
 */
export function counterDelta(current: number, previous: number | undefined): number {
  if (previous === undefined || current < previous) return current;
  return current - previous;
}

/**
 * The delta of one statement entry; reset when its stats_since moved or its calls went down.
 *
 * @example
 * statementDelta(now, before); // { calls: 3, rows: 150 }
 */
export function statementDelta(
  current: StatementRow,
  previous: StatementRow | undefined,
): { calls: number; rows: number } {
  const reset =
    previous === undefined ||
    current.calls < previous.calls ||
    (current.since !== null && current.since !== previous.since);
  if (reset) return { calls: current.calls, rows: current.rows };
  return { calls: current.calls - previous.calls, rows: counterDelta(current.rows, previous.rows) };
}

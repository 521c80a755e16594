import pg from 'pg';
import { wrapPgError } from './pg-errors.js';

/** Connection settings as `pg` takes them. */
export type ConnectionConfig = pg.ClientConfig;

/**
 * Opens one client, runs `fn`, and always closes it. Connection errors become PgwardenErrors
 * (PW110 unreachable, PW111 login rejected, PW112 no such database).
 *
 * @example
 * const version = await withClient(config, async (client) => (await client.query('show server_version')).rows[0]);
 */
export async function withClient<T>(config: ConnectionConfig, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(config);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Connects one client, mapping failures to stable codes. The caller ends it. */
export async function connect(config: ConnectionConfig): Promise<pg.Client> {
  const client = new pg.Client({ application_name: 'pgwarden', ...config });
  // A server that goes away mid-session emits 'error' on the client; without a listener Node
  // would crash. The failing query rejects on its own, which is where we report it.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw wrapPgError(err);
  }
  return client;
}

/**
 * Runs `fn` inside one transaction: commit on success, rollback on any error.
 *
 * @example
 * await withTransaction(client, (tx) => tx.query('insert into t values ($1)', [1]));
 */
export async function withTransaction<T>(client: pg.ClientBase, fn: (client: pg.ClientBase) => Promise<T>): Promise<T> {
  await client.query('begin');
  try {
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}

/** Quotes an SQL identifier. The only place pgwarden builds identifiers from strings. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes an SQL string literal (for DDL where parameters are not allowed). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('NUL byte in SQL literal');
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * Sets a session setting for the duration of `fn` and restores the caller's value afterwards, so
 * library calls leave a borrowed connection as they found it.
 *
 * @example
 * await withSessionSetting(client, 'statement_timeout', '0', () => longMigration(client));
 */
export async function withSessionSetting<T>(
  client: pg.ClientBase,
  name: string,
  value: string,
  fn: () => Promise<T>,
): Promise<T> {
  const { rows } = await client.query<{ v: string }>('select pg_catalog.current_setting($1) as v', [name]);
  await client.query('select pg_catalog.set_config($1, $2, false)', [name, value]);
  try {
    return await fn();
  } finally {
    await client.query('select pg_catalog.set_config($1, $2, false)', [name, rows[0]?.v ?? '']).catch(() => undefined);
  }
}

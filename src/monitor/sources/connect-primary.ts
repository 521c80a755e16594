/**
 * Connecting to the primary of a replicated cluster, the way libpq's multi-host connection
 * strings with `target_session_attrs` do: try each host in order and keep the first that fits.
 * The security-event source calls it on every (re)connect, so after a failover it finds the new
 * primary instead of retrying the old one (F-05).
 */
import pg from 'pg';
import type { ConnectionConfig } from '../../db/client.js';
import { wrapPgError } from '../../db/pg-errors.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { closeClient, timedQuery } from './db-session.js';

/** One server of a multi-host configuration. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * A connection config (user, password, database, ssl …) with the servers to try.
 *
 * @example
 * const options: PrimaryConnectionOptions = {
 *   user: 'pgw_security_admin', database: 'app',
 *   hosts: [{ host: 'db-a', port: 5432 }, { host: 'db-b', port: 5432 }], targetSessionAttrs: 'read-write',
 * };
 */
export interface PrimaryConnectionOptions extends ConnectionConfig {
  /** Servers in the order to try; default: the config's own host and port. */
  hosts?: readonly HostPort[];
  /** 'read-write': skip servers in recovery (standbys); 'any' (default): the first that answers. */
  targetSessionAttrs?: 'read-write' | 'any';
  /** Per-host limit for connecting and for the recovery check (default 10 000 ms). */
  connectTimeoutMs?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** The hosts to try, in order. */
function hostsOf(options: PrimaryConnectionOptions): HostPort[] {
  if (options.hosts && options.hosts.length > 0) return [...options.hosts];
  return [{ host: options.host ?? 'localhost', port: options.port ?? 5432 }];
}

/**
 * Connects to the first server that fits `targetSessionAttrs` and returns the open client; its
 * `host` and `port` say which one. PW603 when no server accepts writes and at least one is a
 * standby; otherwise the last connection error (PW110 unreachable, PW111 login refused …).
 *
 * @example
 * const client = await connectPrimary({ ...config, hosts: [standby, primary], targetSessionAttrs: 'read-write' });
 * client.port; // the primary's
 */
export async function connectPrimary(options: PrimaryConnectionOptions): Promise<pg.Client> {
  const { hosts: _hosts, targetSessionAttrs = 'any', connectTimeoutMs, ...config } = options;
  const timeoutMs = connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const standbys: string[] = [];
  let lastError: PgwardenError | undefined;
  for (const { host, port } of hostsOf(options)) {
    const client = new pg.Client({
      application_name: 'pgwarden-monitor',
      ...config,
      host,
      port,
      connectionTimeoutMillis: timeoutMs,
    });
    // A server going away mid-session emits 'error'; the failing query reports it.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      lastError = wrapPgError(err, `connecting to ${host}:${port}`);
      continue;
    }
    if (targetSessionAttrs === 'any') return client;
    try {
      const { rows } = await timedQuery<{ standby: boolean }>(
        client,
        'select pg_catalog.pg_is_in_recovery() as standby',
        [],
        timeoutMs,
      );
      if (rows[0]?.standby === false) return client;
      standbys.push(`${host}:${port}`);
    } catch (err) {
      lastError = wrapPgError(err, `checking ${host}:${port}`);
    }
    await closeClient(client);
  }
  if (standbys.length > 0) {
    throw new PgwardenError(ErrorCodes.MONITOR_SOURCE_FAILED, 'None of the database servers accepts writes', {
      detail: `in recovery (standby): ${standbys.join(', ')}${lastError ? `; ${lastError.message}` : ''}`,
      cause: lastError,
      hint: 'list the primary among the hosts; during a failover, the source retries until a standby is promoted',
    });
  }
  throw lastError ?? new PgwardenError(ErrorCodes.CONNECTION_FAILED, 'No database server to connect to');
}

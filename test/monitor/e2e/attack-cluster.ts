// One throwaway cluster per end-to-end attack file: the logging settings pgwarden recommends
// (docs/monitor.md), pgwarden's advanced tier installed by its own installer into database `app`,
// pg_stat_statements, pgaudit where the binaries ship it, and the monitor running as
// `pgwarden monitor` runs it (startMonitorServer, server log tailed from the log directory).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { configSchema } from '../../../src/config/index.js';
import { quoteIdent, quoteLiteral, withClient } from '../../../src/db/client.js';
import { install } from '../../../src/install/index.js';
import type { MonitorDaemonEvent } from '../../../src/monitor/daemon.js';
import { type MonitorServer, startMonitorServer } from '../../../src/monitor/monitor-server.js';
import { type LoggingCluster, prependHba, startLoggingCluster } from '../server-log/logging-cluster.js';
import { MonitorProbe } from './monitor-probe.js';

/** A superuser connection to the cluster's `app` database. */
export type AppConnection = LoggingCluster['conn'];

/** Options of {@link startAttackCluster}. */
export interface AttackClusterOptions {
  /** Server settings besides the recommended ones (set before the restart). */
  settings?: Record<string, string>;
  /** pg_hba.conf lines put before the others. */
  hba?: string;
  /** Fixtures, run as the superuser in `app` before the monitor starts (so it never sees them). */
  prepare?: (c: pg.Client, facts: { pgaudit: boolean; major: number }) => Promise<void>;
  /** `monitor` config keys over the test defaults. */
  monitor?: Record<string, unknown>;
  /** Values of the secret references in `monitor.sinks`. */
  secrets?: Record<string, string>;
}

/** A running cluster with pgwarden and the monitor. */
export interface AttackCluster {
  env: LoggingCluster;
  /** Superuser on `app`. */
  conn: AppConnection;
  major: number;
  /** pgaudit is preloaded (Debian's PostgreSQL 15 build ships it). */
  pgaudit: boolean;
  server: MonitorServer;
  /** Every typed event of the monitor, stamped with when it arrived. */
  events: { at: number; event: MonitorDaemonEvent }[];
  probe: MonitorProbe;
  /** A superuser query on `app`. */
  sql<T extends pg.QueryResultRow = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Connects as `user` over TCP, runs `run`, disconnects; resolves to the error if any (never throws). */
  session(
    user: string,
    password: string,
    run?: (c: pg.Client) => Promise<unknown>,
    over?: Partial<pg.ClientConfig>,
  ): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * Starts the cluster, installs pgwarden, runs `prepare` and starts the monitor.
 *
 * @example
 * const ac = await startAttackCluster('e2e-db', { prepare: (c) => c.query('create role alice login') });
 * afterAll(() => ac.close());
 */
export async function startAttackCluster(name: string, options: AttackClusterOptions = {}): Promise<AttackCluster> {
  const env = await startLoggingCluster(name, options.settings ?? {});
  const cwd = await mkdtemp(join(tmpdir(), `pgwarden-${name}-cwd-`));
  let server: MonitorServer | undefined;
  try {
    if (options.hba) await prependHba(env, options.hba);
    await withClient(env.conn, (c) => c.query('create database app'));
    const conn: AppConnection = { ...env.conn, database: 'app' };
    const facts = await withClient(conn, async (c) => {
      await install(c, { tier: 'advanced', rolePrefix: 'pgw_' });
      await c.query('create extension if not exists pg_stat_statements');
      const { rows } = await c.query<{ preload: string; major: number }>(
        `select pg_catalog.current_setting('shared_preload_libraries') as preload,
                pg_catalog.current_setting('server_version_num')::int / 10000 as major`,
      );
      const pgaudit = (rows[0]?.preload ?? '').split(',').some((l) => l.trim() === 'pgaudit');
      if (pgaudit) {
        // Before 17, ALTER SYSTEM refuses pgaudit.* until the library is loaded: it is by now.
        await c.query(`alter system set pgaudit.log = 'role'`);
        await c.query('select pg_catalog.pg_reload_conf()');
      }
      const f = { pgaudit, major: rows[0]?.major ?? 0 };
      await options.prepare?.(c, f);
      return f;
    });
    const events: AttackCluster['events'] = [];
    const secrets = options.secrets ?? {};
    const config = configSchema.parse({
      monitor: {
        serverLog: 'file',
        logFormat: 'jsonlog',
        pollIntervalMs: 200,
        statsIntervalMs: 0,
        heartbeatIntervalMs: 5_000,
        dashboard: false,
        ...options.monitor,
      },
    });
    server = await startMonitorServer({
      config,
      connection: conn,
      cwd,
      port: 0,
      secrets: (ref) => {
        const value = secrets[ref];
        if (value === undefined) throw new Error(`unknown secret reference ${ref}`);
        return value;
      },
      onEvent: (event) => events.push({ at: Date.now(), event }),
    });
    if (server.serverLog.mode !== 'file')
      throw new Error(`the server log is not tailed: ${JSON.stringify(server.serverLog)}`);
    const running = server;
    const sqlPool = new pg.Pool({ ...conn, max: 2, application_name: 'e2e-harness' });
    sqlPool.on('error', () => undefined);
    const sql = async <T extends pg.QueryResultRow>(text: string, params: unknown[] = []) =>
      (await sqlPool.query<T>(text, params)).rows;
    const session: AttackCluster['session'] = async (user, password, run, over = {}) => {
      const client = new pg.Client({ ...conn, user, password, application_name: 'e2e-attacker', ...over });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await run?.(client);
        return undefined;
      } catch (err) {
        return err;
      } finally {
        await client.end().catch(() => undefined);
      }
    };
    return {
      env,
      conn,
      ...facts,
      server: running,
      events,
      probe: new MonitorProbe({ sql, logDir: env.logDir, events }),
      sql,
      session,
      close: async () => {
        await running.close();
        await sqlPool.end().catch(() => undefined);
        await env.own.remove();
        await rm(cwd, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await server?.close().catch(() => undefined);
    await env.own.remove();
    await rm(cwd, { recursive: true, force: true });
    throw err;
  }
}

/**
 * SQL creating a login role with a password (for fixtures).
 *
 * @example
 * await c.query(createLogin('mallory', 'pw', 'superuser'));
 */
export function createLogin(name: string, password: string, attributes = ''): string {
  return `create role ${quoteIdent(name)} login password ${quoteLiteral(password)} ${attributes}`;
}

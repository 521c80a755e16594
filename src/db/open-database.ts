import { dirname, join, resolve } from 'node:path';
import type { PgwardenConfig } from '../config/index.js';
import { type ConnectionConfig, quoteIdent, withClient } from './client.js';
import { writeFileAtomic } from './embedded/atomic-write.js';
import type { LocalCluster } from './embedded/index.js';
import {
  addLease,
  clearStopWhenIdle,
  markStopWhenIdle,
  releaseLease,
  stopWhenIdleRequested,
  withLifecycleLock,
} from './embedded-lifecycle.js';
import { resolveTarget } from './target.js';

/** A database to work on, with what it takes to let go of it. */
export interface DatabaseHandle {
  connection: ConnectionConfig;
  /** Where we are connected, safe to print (no password). */
  description: string;
  /** The embedded cluster, when that is what we connected to. */
  cluster: LocalCluster | undefined;
  /** True when this call started the embedded cluster (and `close` stops it). */
  startedCluster: boolean;
  /** Stops the embedded cluster if this handle started it. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Database on the embedded cluster; defaults to `config.database.name`. */
  database?: string;
  onLog?: (line: string) => void;
}

/**
 * Resolves and opens the database pgwarden works on: the URL or `PG*` settings when given,
 * otherwise the embedded PostgreSQL under `embedded.dir`, started on demand (and stopped again by
 * `close`) or attached to when `pgwarden up` already runs it. The embedded database is created
 * when missing.
 *
 * @example
 * const db = await openDatabase(config, { cwd: process.cwd(), env: process.env });
 * try { await withClient(db.connection, (c) => c.query('select 1')); } finally { await db.close(); }
 */
export async function openDatabase(config: PgwardenConfig, options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  const target = resolveTarget(config, options.env);
  if (target.kind !== 'embedded') {
    return {
      connection: target.connection,
      description: target.description,
      cluster: undefined,
      startedCluster: false,
      close: async () => undefined,
    };
  }
  const cluster = await embeddedCluster(config, options);
  const dir = dirname(cluster.dataDir);
  // Under the lifecycle lock: two processes never initdb or start the same cluster at once.
  const { conn, startedCluster } = await withLifecycleLock(dir, async () => {
    const before = await cluster.status();
    await addLease(dir);
    const started = await cluster.start();
    if (!before.running) await clearStopWhenIdle(dir);
    return { conn: started, startedCluster: !before.running };
  });
  const database = options.database ?? config.database.name;
  // ClusterConnection already points at the maintenance database 'postgres'.
  const admin = { ...conn };
  await withClient(admin, async (client) => {
    const exists = await client.query('select 1 from pg_catalog.pg_database where datname = $1', [database]);
    if (exists.rows.length === 0)
      await client.query(`create database ${quoteIdent(database)}`).catch((err) => {
        // Created meanwhile by another process: 42P04, or 23505 when both inserted at once.
        if (!['42P04', '23505'].includes((err as { code?: string }).code ?? '')) throw err;
      });
  });
  await writePgpass(cluster, conn.port, conn.user, conn.password);
  return {
    connection: {
      ...admin,
      database,
      connectionTimeoutMillis: config.database.connectTimeoutMs,
      statement_timeout: config.database.statementTimeoutMs || undefined,
    },
    description: `embedded PostgreSQL at 127.0.0.1:${conn.port}/${database}`,
    cluster,
    startedCluster,
    close: () => releaseCluster(cluster, startedCluster),
  };
}

// The process that started the cluster stops it when it is the last user; if others still use
// it, the last of them does (see embedded-lifecycle.ts). Attachers leave it running otherwise.
async function releaseCluster(cluster: LocalCluster, startedCluster: boolean): Promise<void> {
  const dir = dirname(cluster.dataDir);
  await withLifecycleLock(dir, async () => {
    const others = await releaseLease(dir);
    if (!startedCluster && !(await stopWhenIdleRequested(dir))) return;
    if (others > 0) {
      await markStopWhenIdle(dir);
      return;
    }
    await cluster.stop();
    await clearStopWhenIdle(dir);
  });
}

/** The embedded cluster object for a config (not started). */
export async function embeddedCluster(
  config: PgwardenConfig,
  options: Pick<OpenDatabaseOptions, 'cwd' | 'onLog'>,
): Promise<LocalCluster> {
  const { LocalCluster } = await import('./embedded/index.js');
  return new LocalCluster({
    dataDir: join(resolve(options.cwd, config.embedded.dir), 'data'),
    bindir: config.embedded.bindir,
    port: config.embedded.port || undefined,
    osUser: config.embedded.osUser,
    onLog: options.onLog,
  });
}

// A libpq password file next to the cluster, so `psql` can connect without the password ever
// being printed: PGPASSFILE=.pgwarden/pgpass psql -h 127.0.0.1 -p <port> -U <superuser> <db>.
// Written afresh each time (temp file + rename): a pre-existing file keeps its mode under a plain
// write, and as root a plain write would follow a symlink planted in its place.
async function writePgpass(cluster: LocalCluster, port: number, user: string, password: string): Promise<void> {
  const pgpassEscape = (s: string) => s.replaceAll('\\', '\\\\').replaceAll(':', '\\:');
  await writeFileAtomic(
    join(dirname(cluster.dataDir), 'pgpass'),
    `127.0.0.1:${port}:*:${pgpassEscape(user)}:${pgpassEscape(password)}\n`,
    { mode: 0o600 },
  );
}

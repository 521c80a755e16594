import { readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, withClient } from '../../../src/db/client.js';
import { install } from '../../../src/install/index.js';
import { waitUntil } from '../helpers/receivers.js';
import { type LoggingCluster, startLoggingCluster } from '../server-log/logging-cluster.js';
import { alertRows, scrape, startTestMonitor, type TestMonitor } from './harness.js';

// F-08 through the whole daemon: two monitors tail the real server log of this file's own
// cluster (one reads jsonlog, the other stderr; each stores its alerts in a database of its own)
// while failed logins are spread over four pg_rotate_logfile() calls. Each must raise one
// brute-force alert counting every failure, having read each failure exactly once.
let env: LoggingCluster;
const monitors = new Map<'jsonlog' | 'stderr', { db: ConnectionConfig; monitor: TestMonitor }>();
const FAILURES = 25;

beforeAll(async () => {
  env = await startLoggingCluster('monitor-daemon-rotation', { log_rotation_age: '0', log_rotation_size: '0' });
  await withClient(env.conn, (c) => c.query(`create role alice login password 'right-pw'`));
  for (const format of ['jsonlog', 'stderr'] as const) {
    const database = `mon_${format}`;
    await withClient(env.conn, (c) => c.query(`create database ${database}`));
    const db = { ...env.conn, database };
    await withClient(db, (c) => install(c, { tier: 'standard', rolePrefix: 'pgw_' }));
    const monitor = await startTestMonitor(db, { serverLog: 'file', logFormat: format });
    // The cluster logs with the recommended prefix: stderr lines without it are never records.
    const prefix = format === 'stderr' ? { expectPrefix: true } : {};
    expect(monitor.server.serverLog).toEqual({ mode: 'file', directory: env.logDir, format, ...prefix });
    monitors.set(format, { db, monitor });
  }
}, 120_000);
afterAll(async () => {
  for (const { monitor } of monitors.values()) await monitor.close();
  await env?.own.remove();
});

/** One failed login as alice from 127.0.0.1: the server logs `password authentication failed`. */
async function failedLogin(): Promise<void> {
  const client = new pg.Client({ ...env.conn, user: 'alice', password: 'wrong-pw', database: 'postgres' });
  client.on('error', () => undefined);
  await client.connect().then(
    () => {
      throw new Error('the wrong password was accepted');
    },
    (err: unknown) => expect((err as { code?: string }).code).toBe('28P01'),
  );
}

describe('the monitor tailing the server log across rotations', () => {
  it('raises one brute-force alert counting every failure, none lost or read twice [F-08, M-01]', async () => {
    const filesBefore = (await readdir(env.logDir)).length;
    const rotateAfter = new Set([5, 11, 17, 22]);
    for (let i = 1; i <= FAILURES; i++) {
      await failedLogin();
      if (rotateAfter.has(i)) {
        // log_filename names files by the second: a new second makes a new file.
        await sleep(1_100);
        await withClient(env.conn, (c) => c.query('select pg_catalog.pg_rotate_logfile()'));
      }
    }
    expect((await readdir(env.logDir)).length).toBeGreaterThanOrEqual(filesBefore + 4 * 3);

    for (const [format, { db, monitor }] of monitors) {
      const counted = async () => {
        const rows = await alertRows(db, 'pg-brute-force');
        return rows.length > 0 && rows.every((r) => r.event_count >= FAILURES);
      };
      await waitUntil(counted, 30_000, `the ${format} monitor to count ${FAILURES} failures`);
      await sleep(1_500); // one more flush: a failure read twice would show up as a count too high
      const rows = await alertRows(db, 'pg-brute-force');
      expect({ format, alerts: rows.map((r) => [r.group_values, r.event_count, r.occurrences]) }).toEqual({
        format,
        alerts: [[{ user: 'alice', addr: '127.0.0.1' }, FAILURES, 1]],
      });
      const metrics = await scrape(monitor.server.url);
      expect({ format, read: metrics.sum('pgwarden_monitor_events_total', { type: 'pg.auth_failed' }) }).toEqual({
        format,
        read: FAILURES,
      });
    }
  }, 60_000);
});

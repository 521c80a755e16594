import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, withClient } from '../../../src/db/client.js';
import { pgCtlStop } from '../../../src/db/embedded/pg-ctl.js';
import type { ThrowawayCluster } from '../../helpers/throwaway-cluster.js';
import { waitUntil } from '../helpers/receivers.js';
import { pgCtlTarget, restart, startMonitorCluster } from '../sources/cluster-tools.js';
import { alertRows, failedLogins, openClient, scrape, startTestMonitor, type TestMonitor } from './harness.js';

// F-02 through the whole daemon, on a cluster of this file's own (fixed port, synchronous
// commit): the server restarts (`pg_ctl stop -m fast` and `-m immediate`, then start) during
// attacks; the monitor must survive with no unhandled rejection, and raise each attack once, with
// its full count, whether it committed before, after, or across the restart.
let own: (ThrowawayCluster & { port: number }) | undefined;
let app: ConnectionConfig;
let monitor: TestMonitor;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  // An uncaught exception would end `pgwarden monitor` as surely as an unhandled rejection.
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
  own = await startMonitorCluster('monitor-daemon-restart');
  app = { ...own.connection, database: 'app' };
  monitor = await startTestMonitor(app);
}, 120_000);
afterAll(async () => {
  await monitor?.close();
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
  await own?.remove();
});

/** Writes failed logins on a connection of its own (restarts kill every session). */
const attack = (account: string, count: number) => withClient(app, (c) => failedLogins(c, account, count));

/** Waits for the brute-force alert of `account` to count `count` failures; returns its rows. */
async function countedAlert(account: string, count: number) {
  const mine = async () => (await alertRows(app, 'pg-brute-force')).filter((r) => r.group_values.user === account);
  await waitUntil(async () => (await mine()).some((r) => r.event_count >= count), 30_000, `the alert of ${account}`);
  // A flush later, so a late update would show as a count too high.
  await new Promise((r) => setTimeout(r, 1_500));
  return mine();
}

describe('the monitor across server restarts', () => {
  it.each(['fast', 'immediate'] as const)(
    'raises attacks committed before, after and across `pg_ctl restart -m %s` once each [F-02, M-01]',
    async (mode) => {
      await attack(`before-${mode}`, 12);
      await attack(`across-${mode}`, 6);
      await restart(own!.cluster, mode);
      await attack(`across-${mode}`, 6);
      await attack(`after-${mode}`, 12);
      for (const account of [`before-${mode}`, `across-${mode}`, `after-${mode}`]) {
        const rows = await countedAlert(account, 12);
        expect({ account, counts: rows.map((r) => r.event_count) }).toEqual({ account, counts: [12] });
      }
      const sources = monitor.events.flatMap((e) => (e.kind === 'monitor-source' ? [e.state] : []));
      expect(sources.some((s) => s.source === 'security-events' && s.kind === 'reconnected')).toBe(true);
      expect(unhandled).toEqual([]);
    },
    60_000,
  );

  it('records the alert whose write the restart cut off, once and with its full count [F-02]', async () => {
    // Hold the monitor's insert into monitor.alerts (a SHARE lock lets its SELECT … FOR UPDATE
    // through and blocks the INSERT), so the restart lands while the alert is being written.
    const admin: pg.Client = await openClient(app);
    try {
      await admin.query('begin');
      await admin.query('lock table monitor.alerts in share mode');
      await attack('cut-off', 12);
      await waitUntil(
        async () => {
          const { rows } = await admin.query(
            `select 1 from pg_catalog.pg_stat_activity
              where datname = 'app' and application_name = 'pgwarden-monitor' and wait_event_type = 'Lock'`,
          );
          return rows.length > 0;
        },
        // Generous: on a loaded CI machine the monitor may still be catching up after the
        // previous test's restart when the attack lands.
        45_000,
        'the monitor to wait on the locked alerts table',
      );
      await restart(own!.cluster, 'fast');
    } finally {
      await admin.end().catch(() => undefined);
    }
    const rows = await countedAlert('cut-off', 12);
    expect(rows.map((r) => [r.event_count, r.occurrences])).toEqual([[12, 1]]);
    expect(unhandled).toEqual([]);
  }, 120_000);

  it('answers /ready 503 while the database is down and 200 once it is back, /live 200 throughout', async () => {
    const { url } = monitor.server;
    expect((await fetch(`${url}/ready`)).status).toBe(200);
    const stopped = await pgCtlStop(await pgCtlTarget(own!.cluster.dataDir), 'fast');
    expect(stopped.code).toBe(0);
    try {
      await waitUntil(async () => (await fetch(`${url}/ready`)).status === 503, 10_000, '/ready to answer 503');
      expect((await fetch(`${url}/live`)).status).toBe(200);
    } finally {
      await own!.cluster.start();
    }
    await waitUntil(async () => (await fetch(`${url}/ready`)).status === 200, 30_000, '/ready to answer 200 again');
    // Still alive and beating after every restart of this file.
    await attack('after-all', 10);
    expect((await countedAlert('after-all', 10)).map((r) => r.event_count)).toEqual([10]);
    const beat = (await scrape(url)).value('pgwarden_monitor_heartbeat_timestamp_seconds');
    expect(Date.now() / 1000 - (beat ?? 0)).toBeLessThan(10);
    expect(unhandled).toEqual([]);
  }, 60_000);
});

import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, connect } from '../../../src/db/client.js';
import {
  type RecoveredInfo,
  runWatchdogOnce,
  type StaleInfo,
  startWatchdog,
  type Watchdog,
} from '../../../src/monitor/watchdog.js';
import { installedDatabase } from '../../helpers/db.js';
import { failedLogins, startTestMonitor, type TestMonitor } from '../daemon/harness.js';
import { waitFor } from '../sources/helpers.js';

// A monitor whose heartbeat beats on while its pipeline is blocked: the real daemon, its alert
// writes held up by a lock on monitor.alerts (as a hung database call would), while security
// events keep arriving. The watchdog must call that 'stalled', and must stay quiet about the same
// monitor when it merely has nothing to do.
let db: ConnectionConfig;
let admin: pg.Client;
let monitor: TestMonitor;

beforeAll(async () => {
  db = await installedDatabase();
  admin = await connect(db);
  monitor = await startTestMonitor(db);
  const instance = monitor.server.monitor.instance;
  await waitFor('the first beat', async () => {
    const { rows } = await admin.query('select 1 from monitor.heartbeats where instance = $1', [instance]);
    return rows.length > 0;
  });
}, 60_000);
afterAll(async () => {
  await monitor?.close();
  await admin?.end();
});

function watch(options: { stallSeconds: number; instance?: string }) {
  const stale: StaleInfo[] = [];
  const recovered: RecoveredInfo[] = [];
  const watchdog: Watchdog = startWatchdog({
    connection: db,
    ...(options.instance === undefined ? {} : { instance: options.instance }),
    maxAgeSeconds: 5,
    stallSeconds: options.stallSeconds,
    intervalMs: 250,
    onStale: (info) => stale.push(info),
    onRecovered: (info) => recovered.push(info),
  });
  return { watchdog, stale, recovered };
}

const logEvents = (client: pg.Client, n: number) =>
  client.query(
    `select logs.log_event('test.watchdog_probe', 'info', 'probe', null, null, '{}'::jsonb)
                  from pg_catalog.generate_series(1, $1::int)`,
    [n],
  );

describe('watchdog stall detection [M-13]', () => {
  it('stays quiet about a beating monitor with nothing to do, and one that handles what arrives', async () => {
    const instance = monitor.server.monitor.instance;
    const w = watch({ stallSeconds: 1, instance });
    const any = watch({ stallSeconds: 1 });
    try {
      // Idle for well past the stall limit: no event waits, so no progress is owed.
      await sleep(2_500);
      await logEvents(admin, 20);
      await failedLogins(admin, 'idle-check@example.test', 3);
      // Handled as they arrive: the position moves before the events are a second old.
      await sleep(2_500);
      expect(w.stale).toEqual([]);
      expect(any.stale).toEqual([]);
      const once = await runWatchdogOnce({ connection: db, instance, maxAgeSeconds: 5, stallSeconds: 1 });
      expect(once).toMatchObject({ stale: false, instance, notices: [] });
    } finally {
      await w.watchdog.close();
      await any.watchdog.close();
    }
  });

  it("reports 'stalled' (PW607) when the pipeline is blocked while events arrive, not before the limit, and recovers", async () => {
    const instance = monitor.server.monitor.instance;
    const blocker = await connect(db);
    const quick = watch({ stallSeconds: 2, instance });
    // The same stall judged against a 60 s limit: the boundary, nothing to report yet.
    const patient = watch({ stallSeconds: 60, instance });
    let locked = false;
    try {
      await blocker.query('begin');
      await blocker.query('lock table monitor.alerts in exclusive mode');
      locked = true;
      // Ten failed logins fire pg-brute-force: storing that alert waits on the lock, and the
      // pipeline with it; the events behind them pile up unread.
      await failedLogins(admin, 'stall-victim@example.test', 10);
      await logEvents(admin, 5);
      await waitFor('the stall to be reported', () => quick.stale.length > 0, 30_000);
      const [info] = quick.stale;
      expect(info).toMatchObject({ instance, reason: 'stalled', error: { code: 'PW607' } });
      expect(info!.stall).toMatchObject({ instance, source: 'security-events' });
      expect(info!.stall!.pendingEvents).toBeGreaterThanOrEqual(5);
      expect(info!.stall!.oldestPendingSeconds).toBeGreaterThan(2);
      expect(info!.stall!.idleSeconds).toBeGreaterThan(2);
      expect(info!.error.message).toContain(`monitor "${instance}" beats but has handled no security event`);
      // The monitor still beats: a stall, not a dead heartbeat.
      expect(info!.ageSeconds).toBeLessThan(5);
      // The one-shot check agrees (it confirms the stall across a newer beat).
      const once = await runWatchdogOnce({ connection: db, instance, maxAgeSeconds: 5, stallSeconds: 2 });
      expect(once).toMatchObject({ stale: true, reason: 'stalled', error: { code: 'PW607' } });
      // One outage, one call, however many checks it lasts.
      await sleep(1_000);
      expect(quick.stale).toHaveLength(1);
      expect(patient.stale).toEqual([]);

      await blocker.query('rollback');
      locked = false;
      await waitFor('the recovery', () => quick.recovered.length > 0, 30_000);
      expect(quick.recovered).toHaveLength(1);
      expect(quick.recovered[0]!.downMs).toBeGreaterThan(0);
      expect(patient.stale).toEqual([]);
    } finally {
      if (locked) await blocker.query('rollback');
      await blocker.end();
      await quick.watchdog.close();
      await patient.watchdog.close();
    }
  }, 60_000);
});

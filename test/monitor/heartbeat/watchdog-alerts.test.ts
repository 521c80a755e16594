import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monitorWatchdogCommand } from '../../../src/cli/commands/monitor.js';
import type { CliContext } from '../../../src/cli/context.js';
import { type ConnectionConfig, connect } from '../../../src/db/client.js';
import { type Heartbeat, startHeartbeat } from '../../../src/monitor/heartbeat.js';
import { createSink, type Sink } from '../../../src/monitor/sinks/index.js';
import {
  fileStateStore,
  memoryStateStore,
  runWatchdogOnce,
  startWatchdogAlerts,
  type WatchdogNotifyEvent,
} from '../../../src/monitor/watchdog.js';
import { urlOf } from '../../cli/run-cli.js';
import { installedDatabase } from '../../helpers/db.js';
import { hooks } from '../daemon/harness.js';
import { type HttpReceiver, httpReceiver, waitUntil } from '../helpers/receivers.js';

// The watchdog's alerts as a receiver sees them: real webhook sinks posting to real HTTP
// receivers that fail on command, the state file of `--once`, and the CLI command itself.
let db: ConnectionConfig;
let admin: pg.Client;
let dir: string;
const receivers: HttpReceiver[] = [];
const heartbeats: Heartbeat[] = [];

beforeAll(async () => {
  db = await installedDatabase();
  admin = await connect(db);
  dir = await mkdtemp(join(tmpdir(), 'pgwarden-watchdog-'));
});
afterAll(async () => {
  await Promise.allSettled(heartbeats.map((h) => h.close()));
  await Promise.allSettled(receivers.map((r) => r.close()));
  await admin?.end();
  await rm(dir, { recursive: true, force: true });
});

async function receiver(): Promise<HttpReceiver> {
  const r = await httpReceiver();
  receivers.push(r);
  return r;
}

const webhook = (name: string, r: HttpReceiver): Sink =>
  createSink(
    { name, kind: 'webhook', url: `${r.url}/hook`, secret: 'env:HOOK_SECRET' },
    { secrets: () => 'hook-secret' },
  );

/** A monitor that last beat an hour ago (as a crashed one leaves its row). */
const deadMonitor = (instance: string) =>
  admin.query(
    `insert into monitor.heartbeats (instance, started_at, beat_at)
     values ($1, pg_catalog.now() - interval '2 hours', pg_catalog.now() - interval '1 hour')`,
    [instance],
  );

/** A monitor beating every 200 ms, after its first beat. */
async function liveMonitor(instance: string): Promise<Heartbeat> {
  const h = startHeartbeat({ connection: db, instance, intervalMs: 200 });
  heartbeats.push(h);
  await waitUntil(() => h.beats > 0, 15_000, 'a first beat');
  return h;
}

const fastRetry = { baseMs: 200, maxMs: 1_000, jitter: 0 };

describe('watchdog alert delivery [M-13]', () => {
  it('retries a sink that fails its first 2 requests until it accepts, without holding up a healthy sink', async () => {
    const flaky = await receiver();
    const steady = await receiver();
    flaky.failNext(2, 500);
    const events: WatchdogNotifyEvent[] = [];
    const report = await runWatchdogOnce({
      connection: db,
      instance: 'never-started',
      maxAgeSeconds: 5,
      sinks: [webhook('flaky', flaky), webhook('steady', steady)],
      backoff: fastRetry,
      onEvent: (e) => events.push(e),
    });
    expect(report).toMatchObject({ stale: true, reason: 'never-beat', error: { code: 'PW607' } });
    expect(report.error!.message).toBe('monitor "never-started" has never beaten');
    expect(report.notices).toEqual(
      expect.arrayContaining([
        { sink: 'flaky', action: 'trigger', delivered: true, attempts: 3 },
        { sink: 'steady', action: 'trigger', delivered: true, attempts: 1 },
      ]),
    );
    const got = hooks(flaky.requests);
    expect(got.map((h) => [h.action, h.status, h.signed])).toEqual([
      ['trigger', 500, true],
      ['trigger', 500, true],
      ['trigger', 200, true],
    ]);
    // One notice: the receiver can drop repeats by its key.
    expect(new Set(got.map((h) => h.key)).size).toBe(1);
    expect(hooks(steady.requests).map((h) => [h.action, h.status, h.rule])).toEqual([
      ['trigger', 200, 'monitor-heartbeat'],
    ]);
    // The healthy sink was served before the flaky one was retried.
    const order = events.map((e) => `${e.kind}:${'sink' in e ? e.sink : ''}`);
    expect(order.indexOf('watchdog-notice-sent:steady')).toBeLessThan(order.indexOf('watchdog-notice-sent:flaky'));
    expect(events.filter((e) => e.kind === 'watchdog-notice-failed')).toHaveLength(2);
  });

  it('reports a sink still down after the run’s attempts, and delivers the same notice on the next run', async () => {
    const down = await receiver();
    down.failNext(100, 502);
    const store = memoryStateStore();
    const options = {
      connection: db,
      instance: 'never-started-2',
      maxAgeSeconds: 5,
      store,
      attempts: 3,
      backoff: fastRetry,
    };
    const first = await runWatchdogOnce({ ...options, sinks: [webhook('ops', down)] });
    expect(first.notices).toEqual([
      { sink: 'ops', action: 'trigger', delivered: false, attempts: 3, error: expect.stringContaining('502') },
    ]);
    expect(down.requests).toHaveLength(3);
    expect((await store.load())?.pending).toMatchObject([{ sink: 'ops', action: 'trigger', attempts: 3 }]);
    // The sink is reachable again (here: moved to a healthy receiver under the same name). The
    // next run sends the remembered notice, with its key, and no second trigger.
    const healthy = await receiver();
    const second = await runWatchdogOnce({ ...options, sinks: [webhook('ops', healthy)] });
    expect(second.notices).toEqual([{ sink: 'ops', action: 'trigger', delivered: true, attempts: 1 }]);
    expect(hooks(healthy.requests).map((h) => h.key)).toEqual([hooks(down.requests)[0]!.key]);
    expect((await store.load())?.pending).toEqual([]);
  });

  it('keeps an unsent trigger until the sink is back, and a recovery replaces a trigger never delivered', async () => {
    const r = await receiver();
    await r.stop();
    const instance = 'loop-unsent';
    const live = await liveMonitor(instance);
    const events: WatchdogNotifyEvent[] = [];
    const alerts = await startWatchdogAlerts({
      connection: db,
      instance,
      maxAgeSeconds: 2,
      intervalMs: 200,
      sinks: [webhook('ops', r)],
      backoff: { baseMs: 100, maxMs: 400, jitter: 0 },
      onEvent: (e) => events.push(e),
    });
    try {
      await live.close();
      await waitUntil(() => alerts.watchdog.stale, 15_000, 'the outage');
      await waitUntil(
        () => events.filter((e) => e.kind === 'watchdog-notice-failed').length >= 3,
        15_000,
        'failed sends',
      );
      expect(alerts.notifier.pending).toMatchObject([{ sink: 'ops', action: 'trigger' }]);
      await r.restart();
      await waitUntil(() => hooks(r.requests).length > 0, 15_000, 'the trigger');
      expect(hooks(r.requests).map((h) => [h.action, h.status])).toEqual([['trigger', 200]]);
      await waitUntil(() => alerts.notifier.pending.length === 0, 15_000, 'an empty queue');

      // Second half: the sink goes down again, and stays down through a recovery (its resolve
      // unsent), a second outage (whose trigger replaces that resolve) and a second recovery
      // (whose resolve replaces that trigger).
      await r.stop();
      const again = await liveMonitor(instance);
      await waitUntil(() => !alerts.watchdog.stale, 15_000, 'the recovery');
      await again.close();
      await waitUntil(() => alerts.watchdog.stale, 15_000, 'the second outage');
      await waitUntil(
        () => events.some((e) => e.kind === 'watchdog-notice-failed' && e.action === 'trigger' && e.attempt >= 2),
        15_000,
        'an unsent trigger',
      );
      const back = await liveMonitor(instance);
      await waitUntil(() => !alerts.watchdog.stale, 15_000, 'the second recovery');
      expect(events.filter((e) => e.kind === 'watchdog-notice-superseded')).toEqual([
        { kind: 'watchdog-notice-superseded', sink: 'ops', action: 'resolve', by: 'trigger' },
        { kind: 'watchdog-notice-superseded', sink: 'ops', action: 'trigger', by: 'resolve' },
      ]);
      await r.restart();
      await waitUntil(() => alerts.notifier.pending.length === 0, 15_000, 'an empty queue');
      // The receiver hears the last word only: the incident it has open is resolved.
      const delivered = hooks(r.requests).filter((h) => h.status === 200);
      expect(delivered.map((h) => h.action)).toEqual(['trigger', 'resolve']);
      expect(delivered[0]!.alertId).toBe(delivered[1]!.alertId);
      await back.close();
    } finally {
      await alerts.close();
    }
  }, 60_000);
});

describe('watchdog alert hygiene: one notice per transition [M-12]', () => {
  it('sends one trigger on the way down, no repeat within the reminder interval, and one resolve on recovery', async () => {
    const instance = 'loop-transitions';
    const quiet = await receiver();
    const reminded = await receiver();
    const arrivals: number[] = [];
    reminded.beforeAnswer = async () => {
      arrivals.push(Date.now());
    };
    const live = await liveMonitor(instance);
    const common = { connection: db, instance, maxAgeSeconds: 2, intervalMs: 200, backoff: fastRetry };
    const a = await startWatchdogAlerts({ ...common, sinks: [webhook('quiet', quiet)], remindEveryMs: 3_600_000 });
    const b = await startWatchdogAlerts({ ...common, sinks: [webhook('reminded', reminded)], remindEveryMs: 1_500 });
    try {
      await sleep(1_000);
      expect(quiet.requests).toEqual([]);
      await live.close();
      await waitUntil(() => quiet.requests.length > 0, 15_000, 'the trigger');
      // Many checks later the outage is still one notice where reminders are hourly …
      await sleep(4_000);
      expect(hooks(quiet.requests).map((h) => h.action)).toEqual(['trigger']);
      // … and a trigger plus reminders no closer than 1.5 s apart where they are that frequent.
      const during = hooks(reminded.requests).map((h) => h.action);
      expect(during[0]).toBe('trigger');
      expect(during.slice(1).every((x) => x === 'update')).toBe(true);
      expect(during.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < arrivals.length; i++) expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThanOrEqual(1_400);
      expect(new Set(hooks(reminded.requests).map((h) => h.key)).size).toBe(during.length);

      await liveMonitor(instance);
      await waitUntil(() => quiet.requests.length > 1, 15_000, 'the resolve');
      await sleep(1_000);
      expect(hooks(quiet.requests).map((h) => h.action)).toEqual(['trigger', 'resolve']);
      expect(
        hooks(reminded.requests)
          .map((h) => h.action)
          .at(-1),
      ).toBe('resolve');
      // No secret of the sink reaches a payload.
      for (const req of [...quiet.requests, ...reminded.requests]) expect(req.body).not.toContain('hook-secret');
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);

  it('--once remembers what it reported: one trigger over several stale runs, then one resolve', async () => {
    const instance = 'cron-checked';
    await deadMonitor(instance);
    const r = await receiver();
    const store = fileStateStore(join(dir, 'state', 'cron-checked.json'));
    const run = () =>
      runWatchdogOnce({
        connection: db,
        instance,
        maxAgeSeconds: 5,
        sinks: [webhook('ops', r)],
        store,
        backoff: fastRetry,
      });
    const runs = [await run(), await run(), await run()];
    expect(runs.map((x) => [x.stale, x.reason])).toEqual([
      [true, 'heartbeat-stale'],
      [true, 'heartbeat-stale'],
      [true, 'heartbeat-stale'],
    ]);
    expect(runs[0]!.error!.message).toMatch(/^monitor "cron-checked" last beat 36\d\d s ago \(limit 5 s\)/);
    expect(runs.map((x) => x.notices.length)).toEqual([1, 0, 0]);
    await liveMonitor(instance);
    const fresh = [await run(), await run()];
    expect(fresh.map((x) => x.stale)).toEqual([false, false]);
    expect(fresh.map((x) => x.notices.map((n) => n.action))).toEqual([['resolve'], []]);
    expect(hooks(r.requests).map((h) => [h.action, h.status])).toEqual([
      ['trigger', 200],
      ['resolve', 200],
    ]);
  });
});

describe('watchdog --instance [M-13]', () => {
  it('checks the named monitor only: a stale other one is ignored, a missing one is reported as never beaten', async () => {
    await liveMonitor('named-alive');
    await deadMonitor('named-dead');
    const once = (instance?: string) =>
      runWatchdogOnce({ connection: db, ...(instance ? { instance } : {}), maxAgeSeconds: 5 });
    expect(await once('named-alive')).toMatchObject({ stale: false, instance: 'named-alive' });
    expect(await once('named-dead')).toMatchObject({ stale: true, reason: 'heartbeat-stale', instance: 'named-dead' });
    // Without a name, any monitor beating and progressing will do.
    expect(await once()).toMatchObject({ stale: false, instance: null });
    const ghost = await once('named-ghost');
    expect(ghost).toMatchObject({ stale: true, reason: 'never-beat', ageSeconds: null });
    expect(ghost.error!.message).toBe('monitor "named-ghost" has never beaten');
  });

  it('`pgwarden monitor watchdog --once --instance` exits 0 for the named live monitor and 1, alerting, for a dead one', async () => {
    await liveMonitor('cli-alive');
    await deadMonitor('cli-dead');
    const r = await receiver();
    const cwd = await mkdtemp(join(dir, 'cli-'));
    await writeFile(
      join(cwd, 'pgwarden.config.json'),
      JSON.stringify({
        monitor: { sinks: [{ name: 'hook', kind: 'webhook', url: `${r.url}/hook`, secret: 'env:HOOK_SECRET' }] },
      }),
    );
    const run = async (instance: string) => {
      const lines: string[] = [];
      const ctx: CliContext = {
        cwd,
        env: { HOOK_SECRET: 'hook-secret' },
        output: { json: true, color: false, out: (l = '') => lines.push(l), err: () => undefined },
        signal: new AbortController().signal,
      };
      const code = await monitorWatchdogCommand(ctx, {
        once: true,
        json: true,
        instance,
        maxAge: '5',
        databaseUrl: urlOf(db),
        logLevel: 'silent',
      });
      return { code, report: JSON.parse(lines.join('\n')) as Record<string, unknown> };
    };
    const alive = await run('cli-alive');
    expect(alive).toMatchObject({
      code: 0,
      report: { kind: 'monitor-heartbeat', instance: 'cli-alive', stale: false, notices: [] },
    });
    const dead = await run('cli-dead');
    expect(dead).toMatchObject({
      code: 1,
      report: {
        kind: 'monitor-heartbeat',
        instance: 'cli-dead',
        stale: true,
        reason: 'heartbeat-stale',
        error: { code: 'PW607' },
        notices: [{ sink: 'hook', action: 'trigger', delivered: true, attempts: 1 }],
      },
    });
    const got = hooks(r.requests);
    expect(got.map((h) => [h.action, h.alertId, h.signed])).toEqual([['trigger', 'watchdog:cli-dead', true]]);
    // A second cron run in the same directory remembers the outage (default state file).
    expect((await run('cli-dead')).report).toMatchObject({ stale: true, notices: [] });
    expect(hooks(r.requests)).toHaveLength(1);
  });
});

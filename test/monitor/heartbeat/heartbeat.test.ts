import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, connect } from '../../../src/db/client.js';
import { type Heartbeat, startHeartbeat } from '../../../src/monitor/heartbeat.js';
import type { SourceStateEvent } from '../../../src/monitor/sources/source-state.js';
import { type RecoveredInfo, type StaleInfo, startWatchdog, type Watchdog } from '../../../src/monitor/watchdog.js';
import { installedDatabase } from '../../helpers/db.js';
import { silentProxy, waitFor } from '../sources/helpers.js';

// The monitor runs as a child process built from dist/ (`npm test` builds it first), so killing
// it with SIGKILL kills a real process, not a promise in this one.
const builtHeartbeat = resolve('dist/monitor/heartbeat.js');
let db: ConnectionConfig;
let admin: pg.Client;
let dir: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  if (!existsSync(builtHeartbeat)) throw new Error(`${builtHeartbeat} is missing: run npm run build first`);
  db = await installedDatabase();
  admin = await connect(db);
  dir = await mkdtemp(join(tmpdir(), 'pgwarden-heartbeat-'));
  await writeFile(
    join(dir, 'monitor.mjs'),
    `import { startHeartbeat } from ${JSON.stringify(pathToFileURL(builtHeartbeat).href)};
const { connection, instance } = JSON.parse(process.env.PGW_TEST_MONITOR);
startHeartbeat({ connection, instance, intervalMs: 200, details: () => ({ pid: process.pid }),
  onBeat: () => process.stdout.write('beat\\n') });
// The heartbeat's timers never keep a process alive by themselves; a monitor has its servers.
setInterval(() => undefined, 60_000);
`,
  );
});
afterAll(async () => {
  child?.kill('SIGKILL');
  await admin?.end();
  await rm(dir, { recursive: true, force: true });
});

/** Records a watchdog's calls. */
function watch(options: {
  instance?: string;
  maxAgeSeconds: number;
  intervalMs: number;
  connection?: ConnectionConfig;
}) {
  const stale: Array<StaleInfo & { at: number }> = [];
  const recovered: RecoveredInfo[] = [];
  const watchdog: Watchdog = startWatchdog({
    connection: options.connection ?? db,
    ...(options.instance === undefined ? {} : { instance: options.instance }),
    maxAgeSeconds: options.maxAgeSeconds,
    intervalMs: options.intervalMs,
    onStale: (info) => stale.push({ ...info, at: Date.now() }),
    onRecovered: (info) => recovered.push(info),
  });
  return { watchdog, stale, recovered };
}

const beatAt = async (instance: string): Promise<Date | undefined> =>
  (await admin.query('select beat_at from monitor.heartbeats where instance = $1', [instance])).rows[0]?.beat_at;

describe('heartbeat and watchdog [M-13]', () => {
  it('alerts once, within maxAge + interval, when the monitor process is killed with SIGKILL, and recovers', async () => {
    const instance = 'monitor-child';
    child = spawn(process.execPath, [join(dir, 'monitor.mjs')], {
      env: { ...process.env, PGW_TEST_MONITOR: JSON.stringify({ connection: db, instance }) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let beats = 0;
    child.stdout!.on('data', (d: Buffer) => (beats += d.toString().split('beat').length - 1));
    await waitFor('the child to beat', () => beats >= 2);
    const w = watch({ instance, maxAgeSeconds: 2, intervalMs: 250 });
    try {
      // Alive and beating: 1.5 s of checks find nothing to report.
      await sleep(1_500);
      expect(w.stale).toEqual([]);
      const killedAt = Date.now();
      child.kill('SIGKILL');
      await waitFor('onStale', () => w.stale.length > 0, 20_000);
      const elapsed = w.stale[0]!.at - killedAt;
      // Not before the heartbeat is maxAge old (less the last interval), and within maxAge +
      // interval (plus slack for a loaded CI machine).
      expect(elapsed).toBeGreaterThanOrEqual(2_000 - 200 - 100);
      expect(elapsed).toBeLessThan(2_000 + 250 + 2_000);
      expect(w.stale[0]).toMatchObject({ instance, reason: 'heartbeat-stale', error: { code: 'PW607' } });
      expect(w.stale[0]!.ageSeconds).toBeGreaterThan(2);
      // One outage, one call, however many checks it lasts.
      await sleep(1_500);
      expect(w.stale).toHaveLength(1);
      // A monitor beating again under that name ends the outage.
      const again = startHeartbeat({ connection: db, instance, intervalMs: 200 });
      await waitFor('onRecovered', () => w.recovered.length > 0);
      expect(w.recovered).toHaveLength(1);
      expect(w.recovered[0]!.ageSeconds).toBeLessThanOrEqual(2);
      await again.close();
    } finally {
      await w.watchdog.close();
    }
  });

  it('keeps beating after its connection is terminated, and the watchdog stays quiet', async () => {
    const instance = 'monitor-cut';
    const states: SourceStateEvent[] = [];
    const errors: unknown[] = [];
    const heartbeat: Heartbeat = startHeartbeat({
      connection: db,
      instance,
      intervalMs: 150,
      onState: (s) => states.push(s),
      onError: (e) => errors.push(e),
    });
    await waitFor('beats', () => heartbeat.beats >= 2);
    const w = watch({ instance, maxAgeSeconds: 2, intervalMs: 200 });
    try {
      await admin.query(
        `select pg_catalog.pg_terminate_backend(pid) from pg_catalog.pg_stat_activity
          where datname = current_database() and application_name = 'pgwarden-heartbeat'`,
      );
      const cutAt = new Date();
      await waitFor('a beat after the cut', async () => ((await beatAt(instance)) ?? new Date(0)) > cutAt);
      expect(states.some((s) => s.kind === 'disconnected')).toBe(true);
      expect(states.some((s) => s.kind === 'reconnected')).toBe(true);
      expect(errors).toHaveLength(1);
      await sleep(1_000);
      expect(w.stale).toEqual([]);
    } finally {
      await w.watchdog.close();
      await heartbeat.close();
    }
  });

  it('keeps started_at across beats, advances beat_at, and stores the details', async () => {
    const instance = 'monitor-row';
    const heartbeat = startHeartbeat({
      connection: db,
      instance,
      intervalMs: 100,
      details: () => ({ version: 'test' }),
    });
    try {
      await waitFor('a first beat', () => heartbeat.beats >= 1);
      const first = (await admin.query('select * from monitor.heartbeats where instance = $1', [instance])).rows[0];
      await waitFor('more beats', () => heartbeat.beats >= 3);
      const later = (await admin.query('select * from monitor.heartbeats where instance = $1', [instance])).rows[0];
      expect(later.started_at).toEqual(first.started_at);
      expect(later.beat_at.getTime()).toBeGreaterThan(first.beat_at.getTime());
      expect(later.details).toEqual({ version: 'test' });
    } finally {
      await heartbeat.close();
    }
  });

  it('carries the progress: events, and each source with its position and when that last moved', async () => {
    const instance = 'monitor-progress';
    let now = 1_000;
    let progress = {
      events: 0,
      states: { 'security-events': 'connected', stats: 'disconnected' },
      positions: { 'security-events': 5 },
    };
    const heartbeat = startHeartbeat({
      connection: db,
      instance,
      intervalMs: 60_000,
      clock: () => now,
      details: () => ({ version: 'test' }),
      progress: () => progress,
    });
    const stored = async () =>
      (await admin.query('select details from monitor.heartbeats where instance = $1', [instance])).rows[0]?.details;
    try {
      await waitFor('a first beat', () => heartbeat.beats >= 1);
      expect(await stored()).toEqual({
        version: 'test',
        progress: {
          at: 1_000,
          events: 0,
          eventsAt: 1_000,
          sources: {
            'security-events': { state: 'connected', up: true, position: 5, positionAt: 1_000 },
            stats: { state: 'disconnected', up: false },
          },
        },
      });
      // Same position later: its time stays, so a reader sees how long it has not moved.
      now = 4_000;
      await heartbeat.beatNow();
      expect((await stored()).progress).toMatchObject({
        at: 4_000,
        eventsAt: 1_000,
        sources: { 'security-events': { positionAt: 1_000 } },
      });
      now = 6_000;
      progress = { ...progress, events: 3, positions: { 'security-events': 9 } };
      await heartbeat.beatNow();
      expect((await stored()).progress).toMatchObject({
        at: 6_000,
        events: 3,
        eventsAt: 6_000,
        sources: { 'security-events': { position: 9, positionAt: 6_000 } },
      });
    } finally {
      await heartbeat.close();
    }
  });

  it('reports a monitor that never beat, once', async () => {
    const w = watch({ instance: 'nobody-here', maxAgeSeconds: 5, intervalMs: 100 });
    try {
      await waitFor('onStale', () => w.stale.length > 0);
      await sleep(400);
      expect(w.stale).toHaveLength(1);
      expect(w.stale[0]).toMatchObject({ reason: 'never-beat', ageSeconds: null, instance: 'nobody-here' });
    } finally {
      await w.watchdog.close();
    }
  });

  it('reports an unreachable database as an outage, once, and recovers when it is back', async () => {
    const instance = 'monitor-behind-proxy';
    const heartbeat = startHeartbeat({ connection: db, instance, intervalMs: 150 });
    await waitFor('beats', () => heartbeat.beats >= 1);
    const proxy = await silentProxy({ host: String(db.host), port: Number(db.port) });
    const w = watch({ instance, maxAgeSeconds: 5, intervalMs: 300, connection: { ...db, port: proxy.port } });
    try {
      await w.watchdog.checkNow();
      expect(w.stale).toEqual([]);
      // The path to the database goes silent (no reset): queries and connects time out.
      proxy.blackhole();
      await waitFor('onStale', () => w.stale.length > 0, 20_000);
      expect(w.stale[0]).toMatchObject({ reason: 'database-unreachable', ageSeconds: null, error: { code: 'PW607' } });
      await sleep(1_000);
      expect(w.stale).toHaveLength(1);
      proxy.heal();
      await waitFor('onRecovered', () => w.recovered.length > 0, 20_000);
      expect(w.recovered).toHaveLength(1);
    } finally {
      await w.watchdog.close();
      await heartbeat.close();
      await proxy.close();
    }
  });
});

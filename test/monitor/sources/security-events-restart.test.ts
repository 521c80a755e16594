import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, connect, withClient } from '../../../src/db/client.js';
import { memoryPositionStore } from '../../../src/monitor/event.js';
import { SecurityEventSource } from '../../../src/monitor/sources/security-events.js';
import { serverMajor } from '../../helpers/db.js';
import type { ThrowawayCluster } from '../../helpers/throwaway-cluster.js';
import { restart, startMonitorCluster } from './cluster-tools.js';
import { collector, duplicates, insertEvents, waitFor } from './helpers.js';

// Its own cluster: the server is restarted (fast and crash), and on PG 17+ the NOTIFY queue is
// shrunk to its minimum (64 pages, 512 kB) so a stalled listener can really fill half of it.
let own: (ThrowawayCluster & { port: number }) | undefined;
let app: ConnectionConfig;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  own = await startMonitorCluster('monitor-restart', serverMajor() >= 17 ? { max_notify_queue_pages: 64 } : {});
  app = { ...own.connection, database: 'app' };
}, 180_000);
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await own?.remove();
});

const maxId = () =>
  withClient(app, async (c) =>
    Number((await c.query('select coalesce(max(id), 0) as m from logs.notification_log')).rows[0].m),
  );

/** Inserts batches until stopped, reconnecting through restarts; failed inserts are simply retried. */
function keepWriting() {
  let stop = false;
  let inserts = 0;
  const done = (async () => {
    let client: pg.Client | undefined;
    while (!stop) {
      try {
        client ??= await connect(app);
        await insertEvents(client, 1 + (inserts % 5));
        inserts++;
      } catch {
        await client?.end().catch(() => undefined);
        client = undefined;
        await sleep(50);
      }
    }
    await client?.end().catch(() => undefined);
  })();
  return {
    inserts: () => inserts,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

describe('SecurityEventSource across server restarts [F-02]', () => {
  for (const mode of ['fast', 'immediate'] as const) {
    it(`delivers every committed event exactly once across pg_ctl restart -m ${mode}`, async () => {
      const c = collector();
      const start = await maxId();
      const source = new SecurityEventSource({
        connection: app,
        positions: memoryPositionStore(),
        onEvents: c.onEvents,
        onState: c.onState,
        pollIntervalMs: 1_000,
        keepAliveMs: 500,
        reconnect: { initialMs: 50, maxMs: 500 },
        gaps: { graceMs: 200 },
      });
      await source.start();
      const writer = keepWriting();
      await waitFor('writes before the restart', () => writer.inserts() >= 20);
      // A transaction still open when the server goes down never commits: its rows never show.
      const open = await connect(app);
      await open.query('begin');
      const uncommitted = await insertEvents(open, 3);
      await restart(own!.cluster, mode);
      await open.end().catch(() => undefined);
      const after = writer.inserts();
      await waitFor('writes after the restart', () => writer.inserts() >= after + 20);
      await writer.stop();
      // The truth is what the table holds after recovery: every committed row, nothing else.
      const committed = await withClient(app, async (c2) => {
        const { rows } = await c2.query<{ id: string }>(
          'select id from logs.notification_log where id > $1 order by id',
          [start],
        );
        return rows.map((r) => Number(r.id));
      });
      await waitFor('every committed event', () => committed.every((id) => c.secIds().includes(id)));
      // Ids lost with the open transaction (and any a crash made the sequence skip) were gaps
      // for a moment; nothing can fill them now, so they close.
      await waitFor('the gaps to close', () => {
        source.poke();
        return source.cursor!.gaps.length === 0;
      });
      await source.close();
      expect(c.secIds()).not.toContain(uncommitted[0]);
      expect(duplicates(c.secIds())).toEqual([]);
      expect([...c.secIds()].sort((a, b) => a - b)).toEqual(committed);
      expect(c.states.some((s) => s.kind === 'disconnected')).toBe(true);
      expect(c.states.some((s) => s.kind === 'reconnected')).toBe(true);
      expect(source.status).toBe('closed');
      expect(unhandled).toEqual([]);
    });
  }
});

describe('SecurityEventSource queue pressure at the real threshold [F-04]', () => {
  it.runIf(serverMajor() >= 17)(
    'alerts above 50 % usage, and a full queue fails writers instead of blocking them',
    async () => {
      const c = collector();
      const source = new SecurityEventSource({
        connection: app,
        positions: memoryPositionStore(),
        onEvents: c.onEvents,
        onState: c.onState,
        pollIntervalMs: 200,
      });
      await source.start();
      const slow = await connect(app);
      const writer = await connect(app);
      try {
        await slow.query('listen pgwarden_test_slow');
        await slow.query('begin');
        await slow.query('select 1');
        const usage = async () =>
          Number((await writer.query('select pg_catalog.pg_notification_queue_usage() as u')).rows[0].u);
        while ((await usage()) <= 0.4)
          await writer.query(`select pg_catalog.pg_notify('pgwarden_test_x', repeat('x', 7000))`);
        await sleep(500);
        expect(c.ofType('monitor.notify_queue_pressure')).toEqual([]);
        while ((await usage()) <= 0.55)
          await writer.query(`select pg_catalog.pg_notify('pgwarden_test_x', repeat('x', 7000))`);
        await waitFor('the pressure event', () => c.ofType('monitor.notify_queue_pressure').length === 1);
        expect(c.ofType('monitor.notify_queue_pressure')[0]!.fields.usage).toBeGreaterThan(0.5);
        // Filled up, a NOTIFY (and so a security event) fails at once rather than waiting.
        let failure: { code?: string; message?: string } | undefined;
        const started = Date.now();
        for (let i = 0; i < 200 && !failure; i++) {
          await writer
            .query(`select pg_catalog.pg_notify('pgwarden_test_x', repeat('x', 7000))`)
            .catch((err: { code?: string }) => (failure = err));
        }
        expect(failure?.message).toMatch(/too many notifications/);
        expect(Date.now() - started).toBeLessThan(30_000);
        // …but a security event still commits: past 90 % the trigger leaves its NOTIFY out, and
        // the source's poll by id reads the row anyway (a stuck listener must not stop logins).
        const { rows } = await writer.query<{ id: string }>(`select logs.log_event('test.queue_full') as id`);
        const id = Number(rows[0]!.id);
        await waitFor('the event written while the queue was full', () => c.secIds().includes(id));
        await sleep(500);
        expect(c.ofType('monitor.notify_queue_pressure')).toHaveLength(1);
      } finally {
        await slow.query('rollback').catch(() => undefined);
        await slow.end();
        await writer.end();
        await source.close();
      }
    },
  );
});

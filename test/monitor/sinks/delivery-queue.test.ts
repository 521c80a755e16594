import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ConnectionConfig } from '../../../src/db/client.js';
import { isPgwardenError } from '../../../src/errors/index.js';
import { createLogger } from '../../../src/logger/index.js';
import { AlertStore } from '../../../src/monitor/alerts/index.js';
import {
  createSink,
  type DeliveryEvent,
  DeliveryQueue,
  type DeliveryQueueOptions,
  type Sink,
} from '../../../src/monitor/sinks/index.js';
import { installedDatabase } from '../../helpers/db.js';
import { httpReceiver, type HttpReceiver, selfSignedCert, smtpReceiver, waitUntil } from '../helpers/receivers.js';
import { signal } from '../alerts/signal-fixture.js';

// The durable delivery queue against a fresh clone and real receivers: retries with backoff while
// a sink is down, dead letters, a crash between send and commit (F-09), two monitors sharing one
// queue, a flush on close, and no secret in last_error, payloads, events or log lines.

const HMAC_SECRET = 'whsec-queue-5e4d3c2b1a09f8e7';
const URL_TOKEN = 'URLTOKEN-a1b2c3d4e5';
const ROUTING_KEY = 'PDROUTING-9z8y7x6w5v';
const SMTP_PASSWORD = 'smtp-queue-pw-7d6c5b';
const SLACK_TOKEN = 'SLACKTOKEN-q1w2e3r4';
const secretMap: Record<string, string> = {
  'env:HOOK': HMAC_SECRET,
  'env:PD': ROUTING_KEY,
  'env:SMTP': SMTP_PASSWORD,
};
const secrets = (ref: string) => {
  const v = secretMap[ref];
  if (v === undefined) throw new Error('unknown secret');
  return v;
};

let db: ConnectionConfig;
let admin: pg.Client;
let store: AlertStore;
let receiver: HttpReceiver;
let hook: Sink;
const queues: DeliveryQueue[] = [];

beforeAll(async () => {
  db = await installedDatabase();
  admin = new pg.Client(db);
  await admin.connect();
  store = new AlertStore({ connection: db });
  receiver = await httpReceiver();
  hook = createSink({ name: 'hook', kind: 'webhook', url: `${receiver.url}/hook`, secret: 'env:HOOK' }, { secrets });
});

afterAll(async () => {
  await store.close();
  await receiver.close();
  await admin.end();
});

beforeEach(async () => {
  await admin.query('truncate monitor.deliveries, monitor.alert_changes, monitor.alerts');
  receiver.requests.length = 0;
  receiver.status = 200;
  receiver.beforeAnswer = undefined;
});

afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.close()));
});

function queue(options: Partial<DeliveryQueueOptions> = {}): DeliveryQueue {
  const q = new DeliveryQueue({ connection: db, sinks: new Map([[hook.name, hook]]), batchSize: 10, ...options });
  queues.push(q);
  return q;
}

const rows = async () =>
  (
    await admin.query<{
      id: string;
      state: string;
      attempts: number;
      next_attempt_at: Date;
      last_error: string | null;
    }>('select id, state, attempts, next_attempt_at, last_error from monitor.deliveries order by id')
  ).rows;
const keysAccepted = () => receiver.requests.filter((r) => r.status === 200).map((r) => r.headers['idempotency-key']);

describe('DeliveryQueue', () => {
  it('retries a sink that is down with exponential backoff and delivers once when it is back', async () => {
    let now = Date.now() + 5000;
    const q = queue({ clock: () => now, backoff: { baseMs: 1000, maxMs: 60_000, jitter: 0 } });
    await store.record(signal(), ['hook']);
    receiver.failNext(2, 500);

    expect(await q.runOnce()).toMatchObject({ claimed: 1, failed: 1, delivered: 0 });
    expect((await rows())[0]).toMatchObject({ state: 'pending', attempts: 1, next_attempt_at: new Date(now + 1000) });
    expect((await q.runOnce()).claimed).toBe(0); // not due yet
    now += 1000;
    expect(await q.runOnce()).toMatchObject({ failed: 1 });
    expect((await rows())[0]).toMatchObject({ attempts: 2, next_attempt_at: new Date(now + 2000) });
    expect((await rows())[0]!.last_error).toContain('answered HTTP 500');

    await receiver.stop(); // now the connection is refused
    now += 2000;
    expect(await q.runOnce()).toMatchObject({ failed: 1 });
    const refused = (await rows())[0]!;
    expect(refused).toMatchObject({ attempts: 3, next_attempt_at: new Date(now + 4000) });
    expect(refused.last_error).toContain('ECONNREFUSED');

    await receiver.restart();
    now += 3999;
    expect((await q.runOnce()).claimed).toBe(0);
    now += 1;
    expect(await q.runOnce()).toMatchObject({ delivered: 1 });
    now += 3_600_000;
    expect((await q.runOnce()).claimed).toBe(0);
    expect((await rows())[0]).toMatchObject({ state: 'delivered', attempts: 4, last_error: null });
    expect(keysAccepted()).toHaveLength(1);
    expect(new Set(receiver.requests.map((r) => r.headers['idempotency-key'])).size).toBe(1);
    expect(q.stats).toEqual({ delivered: 1, failed: 3, dead: 0 });
  });

  it('declares a delivery dead after maxAttempts, and not one attempt earlier', async () => {
    let now = Date.now() + 5000;
    const events: DeliveryEvent[] = [];
    const q = queue({
      clock: () => now,
      maxAttempts: 3,
      backoff: { baseMs: 10, jitter: 0 },
      onEvent: (e) => events.push(e),
    });
    await store.record(signal(), ['hook']);
    receiver.status = 500;
    expect(await q.runOnce()).toMatchObject({ failed: 1, dead: 0 });
    now += 60_000;
    expect(await q.runOnce()).toMatchObject({ failed: 1, dead: 0 });
    expect((await rows())[0]).toMatchObject({ state: 'pending', attempts: 2 });
    now += 60_000;
    expect(await q.runOnce()).toMatchObject({ failed: 0, dead: 1 });
    now += 60_000;
    expect((await q.runOnce()).claimed).toBe(0);
    expect((await rows())[0]).toMatchObject({ state: 'dead', attempts: 3 });
    expect(q.stats.dead).toBe(1);
    expect(events.map((e) => e.kind)).toEqual(['delivery-retry', 'delivery-retry', 'delivery-dead']);
  });

  it('declares a delivery refused with a permanent 4xx dead at once', async () => {
    const q = queue();
    await store.record(signal(), ['hook']);
    receiver.failNext(1, 404);
    expect(await q.runOnce()).toMatchObject({ dead: 1, failed: 0 });
    expect((await rows())[0]).toMatchObject({ state: 'dead', attempts: 1 });
    expect((await rows())[0]!.last_error).toContain('answered HTTP 404');
  });

  it('re-sends with the same Idempotency-Key after a crash between send and commit, so a deduping receiver sees it once [F-09]', async () => {
    const app = 'pgw-queue-crash-a';
    const crashing = queue({ applicationName: app, leaseMs: 60_000 });
    await store.record(signal(), ['hook']);
    receiver.beforeAnswer = async () => {
      receiver.beforeAnswer = undefined;
      // The receiver has the alert; the sender's database session dies before it can commit.
      await admin.query(
        'select pg_catalog.pg_terminate_backend(pid) from pg_catalog.pg_stat_activity where application_name = $1',
        [app],
      );
      await waitUntil(
        async () =>
          (await admin.query('select 1 from pg_catalog.pg_stat_activity where application_name = $1', [app]))
            .rowCount === 0,
        10_000,
        'the queue backend to exit',
      );
    };
    const err = await crashing.runOnce().catch((e: unknown) => e);
    expect(isPgwardenError(err)).toBe(true);
    const leased = (await rows())[0]!;
    expect(leased).toMatchObject({ state: 'pending', attempts: 1 });
    expect(leased.next_attempt_at.getTime()).toBeGreaterThan(Date.now() + 30_000);

    // Another monitor (or this one restarted) takes the delivery once the lease has run out.
    const other = queue({ clock: () => Date.now() + 61_000 });
    expect(await other.runOnce()).toMatchObject({ delivered: 1 });
    expect((await crashing.runOnce()).claimed).toBe(0);
    expect(receiver.requests).toHaveLength(2);
    const seen = new Set(keysAccepted());
    expect(seen.size).toBe(1);
    expect([...seen][0]).toMatch(/^\d+:trigger:\d+$/);
    expect((await rows())[0]).toMatchObject({ state: 'delivered', attempts: 2 });
  });

  it('never lets two monitors send the same pending delivery at the same time', async () => {
    for (let i = 0; i < 30; i += 1) await store.record(signal({ dedupeKey: `k${i}` }), ['hook']);
    const inFlight = new Set<string>();
    let overlaps = 0;
    receiver.beforeAnswer = async (req) => {
      const key = String(req.headers['idempotency-key']);
      if (inFlight.has(key)) overlaps += 1;
      inFlight.add(key);
      await new Promise((r) => setTimeout(r, 15));
      inFlight.delete(key);
    };
    const a = queue({ batchSize: 4 });
    const b = queue({ batchSize: 4 });
    for (let round = 0; round < 30; round += 1) {
      const [ra, rb] = await Promise.all([a.runOnce(), b.runOnce()]);
      if (ra.claimed + rb.claimed === 0) break;
    }
    expect(overlaps).toBe(0);
    expect(receiver.requests).toHaveLength(30);
    expect(new Set(keysAccepted()).size).toBe(30);
    expect(a.stats.delivered + b.stats.delivered).toBe(30);
    expect(a.stats.delivered).toBeGreaterThan(0);
    expect(b.stats.delivered).toBeGreaterThan(0);
    expect((await rows()).every((r) => r.state === 'delivered' && r.attempts === 1)).toBe(true);
  });

  it('finishes the send in flight on close [F-07]', async () => {
    await store.record(signal(), ['hook']);
    receiver.beforeAnswer = () => new Promise((r) => setTimeout(r, 300));
    const q = queue();
    q.start(50);
    await waitUntil(() => receiver.requests.length === 1, 10_000, 'the send to start');
    await q.close();
    expect((await rows())[0]).toMatchObject({ state: 'delivered' });
  });

  it('reports its depth and leaves deliveries of sinks it does not know alone', async () => {
    const q = queue();
    await store.record(signal(), ['hook', 'elsewhere']);
    await store.record(signal({ dedupeKey: 'b' }), ['hook']);
    receiver.status = 500;
    expect(await q.runOnce()).toMatchObject({ claimed: 2, failed: 2 });
    expect(q.depth()).toBe(3);
    receiver.status = 200;
    await admin.query(
      `update monitor.deliveries set next_attempt_at = pg_catalog.clock_timestamp() - interval '1 second' where sink = 'hook'`,
    );
    expect(await q.runOnce()).toMatchObject({ delivered: 2 });
    expect(q.depth()).toBe(1);
  });
});

describe('DeliveryQueue secrets [M-12]', () => {
  it('keeps every sink secret out of last_error, payloads, events and log lines', async () => {
    const cert = selfSignedCert();
    const smtp = await smtpReceiver({ cert, username: 'alerts', password: 'the-real-one-000' });
    try {
      receiver.status = 500;
      const sinks: Sink[] = [
        createSink(
          {
            name: 'hook',
            kind: 'webhook',
            url: `${receiver.url}/hooks/${URL_TOKEN}?token=${URL_TOKEN}`,
            secret: 'env:HOOK',
          },
          { secrets },
        ),
        createSink({ name: 'chat', kind: 'slack', url: `${receiver.url}/services/T0/B0/${SLACK_TOKEN}` }, { secrets }),
        createSink(
          { name: 'pager', kind: 'pagerduty', routingKey: 'env:PD', url: `${receiver.url}/v2/enqueue` },
          { secrets },
        ),
        createSink(
          {
            name: 'mail',
            kind: 'smtp',
            host: '127.0.0.1',
            port: smtp.port,
            caFile: cert.caFile,
            username: 'alerts',
            password: 'env:SMTP',
            from: 'a@example.com',
            to: ['b@example.com'],
          },
          { secrets },
        ),
      ];
      const lines: string[] = [];
      const log = createLogger({
        level: 'debug',
        destination: new Writable({
          write(chunk: Buffer, _enc, done) {
            lines.push(chunk.toString());
            done();
          },
        }),
      });
      const events: DeliveryEvent[] = [];
      const q = queue({
        sinks: new Map(sinks.map((s) => [s.name, s])),
        onEvent: (e) => {
          events.push(e);
          log.info(e, e.kind);
        },
      });
      await store.record(
        signal({ summary: 'login with password=hunter2 by eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl' }),
        sinks.map((s) => s.name),
      );
      const result = await q.runOnce();
      expect(result).toMatchObject({ claimed: 4, delivered: 0 });
      const table = await admin.query('select last_error, payload from monitor.deliveries');
      expect(table.rows.every((r: { last_error: string | null }) => r.last_error)).toBe(true);
      const everything = JSON.stringify([table.rows, events, lines]);
      for (const secret of [
        HMAC_SECRET,
        URL_TOKEN,
        ROUTING_KEY,
        SMTP_PASSWORD,
        SLACK_TOKEN,
        'hunter2',
        'eyJhbGciOiJIUzI1NiJ9',
      ]) {
        expect(everything).not.toContain(secret);
      }
      expect(lines.length).toBe(4);
    } finally {
      await smtp.close();
      cert.remove();
    }
  });
});

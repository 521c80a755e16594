import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionConfig } from '../../../src/db/client.js';
import { installedDatabase } from '../../helpers/db.js';
import { type HttpReceiver, httpReceiver, waitUntil } from '../helpers/receivers.js';
import {
  alertRows,
  deliveryRows,
  failedLogins,
  hooks,
  openClient,
  scrape,
  startTestMonitor,
  type TestMonitor,
  webhookSinkConfig,
} from './harness.js';

// A sink that is down, through the whole daemon with the delivery queue's default backoff (1 s,
// doubling): the alert waits in monitor.deliveries and is delivered exactly once when the
// receiver answers again; each failed attempt counts on /metrics.
let db: ConnectionConfig;
let receiver: HttpReceiver;
let monitor: TestMonitor;
let writer: pg.Client;

beforeAll(async () => {
  db = await installedDatabase();
  receiver = await httpReceiver();
  monitor = await startTestMonitor(db, { sinks: [webhookSinkConfig(receiver.url)] });
  writer = await openClient(db);
});
afterAll(async () => {
  await monitor?.close();
  await writer?.end().catch(() => undefined);
  await receiver?.close();
});

/** The one brute-force alert of `account`, once stored. */
async function alertOf(account: string) {
  await waitUntil(
    async () => (await alertRows(db, 'pg-brute-force')).some((r) => r.group_values.user === account),
    15_000,
    `the alert of ${account}`,
  );
  return (await alertRows(db, 'pg-brute-force')).find((r) => r.group_values.user === account)!;
}

describe('the monitor with a sink that is down', () => {
  it('delivers the alert once after the webhook answered 500 twice, counting the failures [M-12]', async () => {
    receiver.failNext(2, 500);
    await failedLogins(writer, 'sink-500@example.test', 12);
    const alert = await alertOf('sink-500@example.test');
    const mine = () => hooks(receiver.requests).filter((h) => h.alertId === alert.id);
    await waitUntil(() => mine().some((h) => h.status === 200), 20_000, 'the delivery to succeed');
    // The receiver answers its next two requests, whichever delivery sends them, with 500: another
    // alert of this monitor may take one of them. This alert's attempts are failures, then one 200.
    const attempts = mine().map((h) => [h.action, h.status, h.signed]);
    const failures = attempts.length - 1;
    expect(failures).toBeGreaterThanOrEqual(1);
    expect(attempts).toEqual([
      ...Array.from({ length: failures }, () => ['trigger', 500, true]),
      ['trigger', 200, true],
    ]);
    expect(receiver.requests.filter((r) => r.status === 500)).toHaveLength(2);
    // Every attempt of one delivery carries the same idempotency key (F-09).
    expect(new Set(mine().map((h) => h.key)).size).toBe(1);

    await waitUntil(
      async () => (await deliveryRows(db)).some((d) => d.alert_id === alert.id && d.state === 'delivered'),
      10_000,
      'the delivery to be marked delivered',
    );
    expect(
      (await deliveryRows(db)).filter((d) => d.alert_id === alert.id).map((d) => [d.action, d.state, d.attempts]),
    ).toEqual([['trigger', 'delivered', failures + 1]]);
    const metrics = await scrape(monitor.server.url);
    expect(metrics.value('pgwarden_monitor_sink_failures_total', { sink: 'hook' })).toBe(2);
    expect(metrics.value('pgwarden_monitor_deliveries_total', { sink: 'hook', outcome: 'retry' })).toBe(2);
    expect(
      metrics.value('pgwarden_monitor_deliveries_total', { sink: 'hook', outcome: 'sent' }),
    ).toBeGreaterThanOrEqual(1);
    await waitUntil(
      async () => (await scrape(monitor.server.url)).value('pgwarden_monitor_delivery_queue_depth') === 0,
      5_000,
      'the queue to drain',
    );
  }, 45_000);

  it('keeps the alert queued while the receiver refuses connections and delivers it once when it is back', async () => {
    await receiver.stop();
    const before = receiver.requests.length;
    await failedLogins(writer, 'sink-gone@example.test', 12);
    const alert = await alertOf('sink-gone@example.test');
    // Two refused attempts, seen on /metrics; the delivery waits in the queue meanwhile.
    await waitUntil(
      async () =>
        ((await scrape(monitor.server.url)).value('pgwarden_monitor_sink_failures_total', { sink: 'hook' }) ?? 0) >= 4,
      20_000,
      'two refused attempts',
    );
    expect((await scrape(monitor.server.url)).value('pgwarden_monitor_delivery_queue_depth')).toBeGreaterThanOrEqual(1);
    expect((await deliveryRows(db)).find((d) => d.alert_id === alert.id)?.state).toBe('pending');
    await receiver.restart();
    await waitUntil(
      async () => (await deliveryRows(db)).some((d) => d.alert_id === alert.id && d.state === 'delivered'),
      20_000,
      'the delivery once the receiver is back',
    );
    // A pass later, still exactly one request for it: nothing is sent twice.
    await new Promise((r) => setTimeout(r, 1_500));
    const mine = hooks(receiver.requests.slice(before)).filter((h) => h.alertId === alert.id);
    expect(mine.map((h) => [h.action, h.status])).toEqual([['trigger', 200]]);
  }, 45_000);
});

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
  lastEventId,
  openClient,
  scrape,
  securityEventPosition,
  startTestMonitor,
  type TestMonitor,
  webhookSinkConfig,
} from './harness.js';

// A monitor stopped mid-attack and a new one started on the same database: the new one resumes
// at the saved position (monitor.source_positions), so it reads only what arrived meanwhile,
// raises nothing twice, sends nothing twice, and keeps counting in the same alert row.
let db: ConnectionConfig;
let receiver: HttpReceiver;
let writer: pg.Client;
const running: TestMonitor[] = [];
const ACCOUNT = 'resumed@example.test';

beforeAll(async () => {
  db = await installedDatabase();
  receiver = await httpReceiver();
  writer = await openClient(db);
});
afterAll(async () => {
  for (const m of running) await m.close();
  await writer?.end().catch(() => undefined);
  await receiver?.close();
});

const start = async () => {
  const m = await startTestMonitor(db, { sinks: [webhookSinkConfig(receiver.url)] });
  running.push(m);
  return m;
};
const alertsOf = async () => (await alertRows(db, 'pg-brute-force')).filter((r) => r.group_values.user === ACCOUNT);

describe('a restarted monitor', () => {
  it('resumes where the last one stopped: no event read again, no alert raised or sent twice [F-07]', async () => {
    const first = await start();
    await failedLogins(writer, ACCOUNT, 12);
    await waitUntil(async () => (await alertsOf())[0]?.event_count === 12, 15_000, 'the first monitor to count 12');
    const [alert] = await alertsOf();
    await waitUntil(
      () => hooks(receiver.requests).some((h) => h.alertId === alert!.id && h.status === 200),
      15_000,
      'the alert to be delivered',
    );
    await first.close();
    const stoppedAt = await lastEventId(db);
    expect(await securityEventPosition(db)).toBe(stoppedAt);

    // The attack goes on while no monitor runs.
    await failedLogins(writer, ACCOUNT, 12);
    const second = await start();
    await waitUntil(
      async () => ((await alertsOf())[0]?.event_count ?? 0) >= 24,
      15_000,
      'the second monitor to count on',
    );
    await new Promise((r) => setTimeout(r, 1_500)); // a flush later: a repeat would show as a count too high

    const rows = await alertsOf();
    expect(rows.map((r) => [r.id, r.status, r.event_count])).toEqual([[alert!.id, 'open', 24]]);
    expect(second.alerts().filter((a) => a.created)).toEqual([]);
    // Only the 12 failures written while it was down were read by the second monitor.
    const metrics = await scrape(second.server.url);
    expect(
      metrics.value('pgwarden_monitor_events_total', { source: 'security-event', type: 'auth.login_failed' }),
    ).toBe(12);
    expect(metrics.sum('pgwarden_monitor_alerts_total')).toBe(0);
    expect(await securityEventPosition(db)).toBe(await lastEventId(db));

    // One notification in all: the second monitor's incident merged within the suppression window.
    await new Promise((r) => setTimeout(r, 1_500)); // a delivery pass later
    expect(
      hooks(receiver.requests)
        .filter((h) => h.alertId === alert!.id)
        .map((h) => [h.action, h.status]),
    ).toEqual([['trigger', 200]]);
    expect((await deliveryRows(db)).map((d) => [d.alert_id, d.action, d.state])).toEqual([
      [alert!.id, 'trigger', 'delivered'],
    ]);
  }, 45_000);
});

import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, withClient } from '../../../src/db/client.js';
import { installedDatabase } from '../../helpers/db.js';
import { type HttpReceiver, httpReceiver, waitUntil } from '../helpers/receivers.js';
import {
  alertRows,
  deliveryRows,
  failedLogins,
  hooks,
  lastEventId,
  openClient,
  securityEventPosition,
  startTestMonitor,
  type TestMonitor,
  webhookSinkConfig,
} from './harness.js';

// F-07 through the whole daemon: close() while an attack is still being counted and a delivery
// is in flight writes what is pending before it returns: the incident's last events, the learned
// profiles (otherwise saved every 30 s), and the deliveries (the one in flight is finished and
// recorded, the one just queued is sent).
let db: ConnectionConfig;
let receiver: HttpReceiver;
let writer: pg.Client;
let monitor: TestMonitor;

beforeAll(async () => {
  db = await installedDatabase();
  receiver = await httpReceiver();
  writer = await openClient(db);
  monitor = await startTestMonitor(db, { sinks: [webhookSinkConfig(receiver.url)] });
});
afterAll(async () => {
  await monitor?.close();
  await writer?.end().catch(() => undefined);
  await receiver?.close();
});

const alertOf = async (account: string) =>
  (await alertRows(db, 'pg-brute-force')).find((r) => r.group_values.user === account);

describe('close() of a busy monitor', () => {
  it('writes the pending incident counts, the profiles and the deliveries before it returns [F-07, M-12]', async () => {
    // The first alert's delivery is held by the receiver for 2.5 s: it is in flight at close().
    let held = false;
    receiver.beforeAnswer = async () => {
      if (held) return;
      held = true;
      await new Promise((r) => setTimeout(r, 2_500));
    };
    await failedLogins(writer, 'in-flight@example.test', 10);
    await waitUntil(() => receiver.requests.length === 1, 15_000, 'the first delivery to be in flight');
    const inFlight = (await alertOf('in-flight@example.test'))!;

    // A second attack: read and raised, but its last events are not yet written (updates go out
    // at most once a second) when close() is called.
    await failedLogins(writer, 'pending@example.test', 14);
    const last = await lastEventId(db);
    await waitUntil(async () => ((await securityEventPosition(db)) ?? 0) >= last, 10_000, 'the monitor to read them');
    await monitor.close();

    expect.soft((await alertOf('pending@example.test'))?.event_count).toBe(14);
    // The delivery in flight finished and was recorded; the one queued last was sent too.
    const pending = (await alertOf('pending@example.test'))!;
    expect(
      hooks(receiver.requests)
        .map((h) => [h.alertId, h.action, h.status])
        .sort(),
    ).toEqual(
      [
        [inFlight.id, 'trigger', 200],
        [pending.id, 'trigger', 200],
      ].sort(),
    );
    expect((await deliveryRows(db)).map((d) => [d.alert_id, d.state])).toEqual([
      [inFlight.id, 'delivered'],
      [pending.id, 'delivered'],
    ]);
    // Profiles are saved every 30 s; these were saved by close().
    const principals = await withClient(db, async (c) => {
      const { rows } = await c.query<{ principal: string }>('select principal from monitor.user_profiles order by 1');
      return rows.map((r) => r.principal);
    });
    expect(principals).toEqual(expect.arrayContaining(['in-flight@example.test', 'pending@example.test']));
    expect(monitor.server.monitor.ready()).toBe(false);
  }, 45_000);
});

import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, withClient } from '../../../src/db/client.js';
import { installedDatabase } from '../../helpers/db.js';
import { waitUntil } from '../helpers/receivers.js';
import {
  alertRows,
  ATTACKER,
  failedLogins,
  lastEventId,
  openClient,
  securityEventPosition,
  startTestMonitor,
  type TestMonitor,
} from './harness.js';

// The daemon end to end on the shared cluster: pgwarden's security events in, one alert per
// incident out, at the rule's threshold and not below it.
let db: ConnectionConfig;
let monitor: TestMonitor;
let writer: pg.Client;

beforeAll(async () => {
  db = await installedDatabase();
  monitor = await startTestMonitor(db);
  writer = await openClient(db);
});
afterAll(async () => {
  await monitor?.close();
  await writer?.end().catch(() => undefined);
});

describe('the monitor daemon', () => {
  it('raises nothing for 9 failed logins and one brute-force alert at the 10th [M-01, M-12]', async () => {
    const account = 'smoke@example.test';
    const firstId = (await lastEventId(db)) + 1;
    await failedLogins(writer, account, 9);
    const ninth = await lastEventId(db);
    await waitUntil(async () => ((await securityEventPosition(db)) ?? 0) >= ninth, 10_000, 'the 9 failures to be read');
    await new Promise((r) => setTimeout(r, 300)); // the pipeline's alert write follows the read
    expect(await alertRows(db, 'pg-brute-force')).toEqual([]);

    await failedLogins(writer, account, 1);
    await waitUntil(async () => (await alertRows(db, 'pg-brute-force')).length > 0, 10_000, 'the alert');
    const [alert] = await alertRows(db, 'pg-brute-force');
    expect(alert).toMatchObject({ status: 'open', event_count: 10, group_values: { user: account, addr: ATTACKER } });
    expect(monitor.alerts().filter((a) => a.rule === 'pg-brute-force')).toMatchObject([
      { created: true, severity: 'high', summary: `10 failed logins for ${account} from ${ATTACKER} within 5 min` },
    ]);
    // The alert links the events that make it up (sec:<id> of logs.notification_log).
    const evidence = await withClient(db, async (c) => {
      const { rows } = await c.query<{ evidence: string[] }>('select evidence from monitor.alerts where id = $1', [
        alert!.id,
      ]);
      return rows[0]!.evidence;
    });
    expect([...evidence].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `sec:${firstId + i}`).sort());
  });
});

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, quoteIdent, withClient } from '../../../src/db/client.js';
import { closeChangeWindow, openChangeWindow } from '../../../src/monitor/change-windows.js';
import { installedDatabase, uniquePrefix } from '../../helpers/db.js';
import { waitUntil } from '../helpers/receivers.js';
import { alertRows, lastEventId, securityEventPosition, startTestMonitor, type TestMonitor } from './harness.js';

// M-07 "outside an approved migration", through the whole daemon: a migration role drops a
// policy inside the change window a security admin approved (no alert), then again after the
// window was closed (an alert). The window reaches the running monitor only as the verified
// security event monitor.open_change_window() wrote.
let db: ConnectionConfig;
let monitor: TestMonitor;
let role: string;
let asRole: ConnectionConfig;

beforeAll(async () => {
  db = await installedDatabase();
  role = `${uniquePrefix()}migrator`;
  const password = randomBytes(12).toString('hex');
  await withClient(db, async (c) => {
    await c.query(`create role ${quoteIdent(role)} login password '${password}'`);
    await c.query(`create schema ${quoteIdent(role)} authorization ${quoteIdent(role)}`);
  });
  asRole = { ...db, user: role, password };
  await withClient(asRole, async (c) => {
    const t = `${quoteIdent(role)}.orders`;
    await c.query(`create table ${t} (id int, tenant_id text)`);
    await c.query(`alter table ${t} enable row level security`);
    for (const p of ['p_read', 'p_write', 'p_admin']) await c.query(`create policy ${p} on ${t} using (true)`);
  });
  monitor = await startTestMonitor(db);
}, 60_000);
afterAll(async () => {
  await monitor?.close();
  await withClient(db, async (c) => {
    await c.query(`drop schema if exists ${quoteIdent(role)} cascade`);
    await c.query(`drop role if exists ${quoteIdent(role)}`);
  }).catch(() => undefined);
});

/** Drops a policy as the migration role and waits until the monitor read the event it caused. */
async function dropPolicy(name: string): Promise<void> {
  await withClient(asRole, (c) => c.query(`drop policy ${name} on ${quoteIdent(role)}.orders`));
  const id = await lastEventId(db);
  await waitUntil(async () => ((await securityEventPosition(db)) ?? 0) >= id, 10_000, 'the drop to be read');
  await new Promise((r) => setTimeout(r, 300)); // the pipeline's alert write follows the read
}

const policyAlerts = async () => (await alertRows(db, 'pg-policy-dropped')).filter((a) => a.group_values.user === role);

describe('an approved change window in the running monitor [M-07]', () => {
  it('raises nothing for a DROP POLICY inside the window, and an alert once the window is closed', async () => {
    const opened = await withClient(db, (c) =>
      openChangeWindow(c, {
        principal: role,
        startsAt: new Date(),
        endsAt: new Date(Date.now() + 3_600_000),
        reason: 'release migration',
        approver: 'lena@example.com',
        ticket: 'CHG-7',
      }),
    );
    await dropPolicy('p_read');
    await dropPolicy('p_write');
    expect(await policyAlerts()).toEqual([]);

    await withClient(db, (c) => closeChangeWindow(c, opened.id, 'lena@example.com'));
    await dropPolicy('p_admin');
    await waitUntil(async () => (await policyAlerts()).length > 0, 10_000, 'the alert after the window');
    expect(await policyAlerts()).toMatchObject([{ status: 'open', event_count: 1 }]);
  }, 60_000);
});

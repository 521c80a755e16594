import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quoteIdent } from '../../src/db/index.js';
import {
  ChangeWindows,
  closeChangeWindow,
  loadOpenChangeWindows,
  openChangeWindow,
} from '../../src/monitor/change-windows.js';
import type { MonitorEvent } from '../../src/monitor/event.js';
import {
  SECURITY_EVENT_COLUMNS,
  type SecurityEventRow,
  securityEventFromRow,
} from '../../src/monitor/sources/security-event-row.js';
import { installedDatabase, uniquePrefix } from '../helpers/db.js';

// Approved change windows in the database (case M-07: privilege changes "outside an approved
// migration" alert): who may open one, what is refused, and how the monitor trusts only what
// monitor.change_windows holds, not an event anyone with logs.log_event() could write.

const minute = 60_000;

describe('approved change windows', () => {
  let admin: pg.Pool;
  let secAdmin: pg.Pool;
  let auditor: pg.Pool;
  let secLogin: string;
  let auditLogin: string;

  const login = async (role: string, name: string) => {
    const password = randomBytes(12).toString('hex');
    await admin.query(`create role ${quoteIdent(name)} login password '${password}' in role ${role}`);
    return { user: name, password };
  };

  beforeAll(async () => {
    const db = await installedDatabase();
    admin = new pg.Pool({ ...db, max: 2 });
    secLogin = `${uniquePrefix()}lena`;
    auditLogin = `${uniquePrefix()}audit`;
    secAdmin = new pg.Pool({ ...db, ...(await login('pgw_security_admin', secLogin)), max: 2 });
    auditor = new pg.Pool({ ...db, ...(await login('pgw_auditor', auditLogin)), max: 2 });
  });
  afterAll(async () => {
    await secAdmin?.end();
    await auditor?.end();
    for (const r of [secLogin, auditLogin])
      await admin?.query(`drop role if exists ${quoteIdent(r)}`).catch(() => undefined);
    await admin?.end();
  });

  const window = (over: Partial<Parameters<typeof openChangeWindow>[1]> = {}) => ({
    principal: 'migrator',
    startsAt: new Date(Date.now() + minute),
    endsAt: new Date(Date.now() + 61 * minute),
    reason: 'release 4.2 migration',
    approver: 'lena@example.com',
    ticket: 'CHG-1042',
    ...over,
  });

  /** The security event a window's opening wrote, as the monitor's source reads it. */
  async function sourceEvent(windowId: string): Promise<MonitorEvent> {
    const { rows } = await admin.query<SecurityEventRow>(
      `select ${SECURITY_EVENT_COLUMNS} from logs.notification_log n
        where n.event_type = 'monitor.change_window_opened' and n.details ->> 'window_id' = $1`,
      [windowId],
    );
    expect(rows).toHaveLength(1);
    return { ...securityEventFromRow(rows[0]!), time: Date.now() } as MonitorEvent;
  }

  it('opens a window as a security admin, logs who approved it and why, and the source verifies it [M-07]', async () => {
    const opened = await openChangeWindow(secAdmin, window());
    expect(opened).toMatchObject({ principal: 'migrator', approver: 'lena@example.com', approvedBy: secLogin });
    const event = await sourceEvent(opened.id);
    expect(event).toMatchObject({
      type: 'monitor.change_window_opened',
      user: 'lena@example.com',
      dbUser: secLogin,
      fields: {
        window_verified: true,
        window_principal: 'migrator',
        window_starts: opened.startsAt,
        window_ends: opened.endsAt,
        ticket: 'CHG-1042',
        reason: 'release 4.2 migration',
      },
    });
    // The enricher learns it from the event and covers the migrator inside it only.
    const windows = new ChangeWindows();
    windows.contextOf(event);
    expect(windows.covering('Migrator', opened.startsAt + minute)?.id).toBe(opened.id);
    expect(windows.covering('migrator', opened.endsAt)).toBeUndefined();
    expect((await loadOpenChangeWindows(secAdmin)).map((w) => w.id)).toContain(opened.id);
  });

  it('refuses a self-approved, backdated, day-long or reasonless window with PW608, writing nothing [M-07]', async () => {
    const before = await admin.query('select count(*)::int as n from monitor.change_windows');
    const refused = [
      window({ principal: secLogin }),
      window({ principal: 'LENA@example.com' }),
      window({ startsAt: new Date(Date.now() - 60 * minute) }),
      window({ endsAt: new Date(Date.now() + 25 * 60 * minute) }),
      window({ reason: '  ' }),
      window({ endsAt: new Date(Date.now()) }),
    ];
    for (const w of refused) {
      await expect(openChangeWindow(secAdmin, w)).rejects.toMatchObject({ code: 'PW608' });
    }
    const after = await admin.query('select count(*)::int as n from monitor.change_windows');
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it('lets an auditor read windows but neither open one nor write the table [M-07]', async () => {
    await expect(openChangeWindow(auditor, window())).rejects.toMatchObject({ code: '42501' });
    await expect(auditor.query('select count(*) from monitor.change_windows')).resolves.toBeDefined();
    await expect(
      secAdmin.query(
        `insert into monitor.change_windows (principal, starts_at, ends_at, reason, approver)
         values ('mallory', now(), now() + interval '1 hour', 'sneaky', 'mallory')`,
      ),
    ).rejects.toMatchObject({ code: '42501' });
  });

  it('gives no window for an opening event forged with logs.log_event(), even naming a real window [M-07]', async () => {
    const real = await openChangeWindow(secAdmin, window({ principal: 'deployer' }));
    // A security_admin login writes the event itself, for itself, with an id no open window has
    // and the verification fields filled in.
    const details = {
      window_id: Number(real.id) + 100_000,
      principal: secLogin,
      window_verified: true,
      window_principal: secLogin,
    };
    await secAdmin.query(
      `select logs.log_event('monitor.change_window_opened', 'warning', 'x', null, null, $1::jsonb)`,
      [JSON.stringify(details)],
    );
    const { rows } = await admin.query<SecurityEventRow>(
      `select ${SECURITY_EVENT_COLUMNS} from logs.notification_log n
        where n.event_type = 'monitor.change_window_opened' and n.details ->> 'principal' = $1`,
      [secLogin],
    );
    expect(rows).toHaveLength(1);
    const forged = { ...securityEventFromRow(rows[0]!), time: Date.now() } as MonitorEvent;
    expect(forged.fields.window_verified).toBeUndefined();
    expect(forged.fields.window_principal).toBeUndefined();
    const windows = new ChangeWindows();
    windows.contextOf(forged);
    expect(windows.size).toBe(0);
    // The real window's event names the principal the table holds, whatever the details claim.
    const event = await sourceEvent(real.id);
    expect(event.fields.window_principal).toBe('deployer');
  });

  it('closes a window early, logs it, and the enricher drops it [M-07]', async () => {
    const opened = await openChangeWindow(secAdmin, window({ principal: 'release_bot' }));
    const windows = new ChangeWindows(await loadOpenChangeWindows(secAdmin));
    expect(windows.covering('release_bot', opened.startsAt)).toBeDefined();
    await closeChangeWindow(secAdmin, opened.id, 'lena@example.com');
    await expect(closeChangeWindow(secAdmin, opened.id, 'lena@example.com')).rejects.toMatchObject({ code: 'PW608' });
    const { rows } = await admin.query<SecurityEventRow>(
      `select ${SECURITY_EVENT_COLUMNS} from logs.notification_log n
        where n.event_type = 'monitor.change_window_closed' and n.details ->> 'window_id' = $1`,
      [opened.id],
    );
    expect(rows).toHaveLength(1);
    windows.contextOf({ ...securityEventFromRow(rows[0]!), time: Date.now() } as MonitorEvent);
    expect(windows.covering('release_bot', opened.startsAt)).toBeUndefined();
    expect((await loadOpenChangeWindows(secAdmin)).map((w) => w.id)).not.toContain(opened.id);
    // Its opening event no longer verifies: a replay after the close gives no window either.
    expect((await sourceEvent(opened.id)).fields.window_verified).toBeUndefined();
  });
});

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quoteIdent } from '../../src/db/index.js';
import { AlertStore } from '../../src/monitor/alerts/index.js';
import type { AlertSignal } from '../../src/monitor/alert-signal.js';
import { installedDatabase, uniquePrefix } from '../helpers/db.js';

const signal = (key: string): AlertSignal => ({
  kind: 'fire',
  rule: { id: 'pg-brute-force', title: 'Brute force', severity: 'high', attack: ['T1110.001'], suppressSeconds: 3600 },
  dedupeKey: `pg-brute-force|user=${key}`,
  group: { user: key },
  eventCount: 10,
  firstSeen: Date.now() - 1000,
  lastSeen: Date.now(),
  eventIds: ['sec:1'],
  summary: `10 failed logins for ${key}`,
});

describe('monitor privileges of security_admin (the monitor and dashboard login)', () => {
  let admin: pg.Pool;
  let monitor: pg.Pool;
  let login: string;
  beforeAll(async () => {
    const db = await installedDatabase();
    admin = new pg.Pool({ ...db, max: 2 });
    login = `${uniquePrefix()}monitor`;
    const password = randomBytes(12).toString('hex');
    await admin.query(`create role ${quoteIdent(login)} login password '${password}' in role pgw_security_admin`);
    monitor = new pg.Pool({ ...db, user: login, password, max: 2 });
  });
  afterAll(async () => {
    await monitor?.end();
    await admin?.query(`drop role if exists ${quoteIdent(login)}`).catch(() => undefined);
    await admin?.end();
  });

  it('allows recording alerts and moving them along the lifecycle through monitor.set_alert_status', async () => {
    const store = new AlertStore({ connection: monitor });
    const { alert } = await store.record(signal('alice'), []);
    await store.record({ ...signal('alice'), kind: 'update', eventCount: 5 }, []);
    const acked = await store.setStatus(alert.id, 'acknowledged', 'soc@example.com', 'looking');
    expect(acked.status).toBe('acknowledged');
    const { rows } = await admin.query(
      'select actor, db_user, new_status from monitor.alert_changes where alert_id = $1',
      [alert.id],
    );
    // The history names the application user the caller vouched for and the login it cannot choose.
    expect(rows).toEqual([{ actor: 'soc@example.com', db_user: login, new_status: 'acknowledged' }]);
  });

  it('denies rewriting an alert’s status, reopening it, or forging its history directly', async () => {
    const store = new AlertStore({ connection: monitor });
    const { alert } = await store.record(signal('bob'), []);
    await store.setStatus(alert.id, 'resolved', 'soc@example.com');
    for (const sql of [
      `update monitor.alerts set status = 'open', resolved_by = null where id = ${alert.id}`,
      `update monitor.alerts set resolved_by = 'ciso@example.com' where id = ${alert.id}`,
      `insert into monitor.alert_changes (alert_id, actor, old_status, new_status, note) values (${alert.id}, 'ciso@example.com', 'open', 'resolved', 'approved')`,
      `insert into monitor.alerts (rule_id, dedupe_key, title, severity, first_seen, last_seen, status) values ('x', 'x', 'x', 'low', now(), now(), 'resolved')`,
      `delete from monitor.alerts where id = ${alert.id}`,
      `update monitor.silences set ends_at = 'infinity'`,
    ])
      await expect(monitor.query(sql), sql).rejects.toMatchObject({ code: '42501' });
    const { rows } = await admin.query('select status from monitor.alerts where id = $1', [alert.id]);
    expect(rows[0].status).toBe('resolved');
  });

  it('logs every silence as a security event, so muting the sinks cannot go unnoticed', async () => {
    await monitor.query(
      `insert into monitor.silences (rule_id, matchers, ends_at, reason) values ('pg-brute-force', '{"addr":"10.0.0.5"}', now() + interval '1 hour', 'jump host')`,
    );
    const { rows } = await admin.query(
      `select severity, actor, details->>'reason' as reason from logs.notification_log where event_type = 'monitor.silence_created'`,
    );
    expect(rows).toEqual([{ severity: 'warning', actor: login, reason: 'jump host' }]);
  });

  it('lets the request-layer reporter claim a source address only on context.* events, and request roles not at all', async () => {
    const { rows } = await monitor.query(
      `select monitor.log_request_event('context.token_rejected', 'warning', '203.0.113.9', '{"reason":"signature"}') as id`,
    );
    const stored = await admin.query('select host(source_addr) as addr from logs.notification_log where id = $1', [
      rows[0].id,
    ]);
    expect(stored.rows).toEqual([{ addr: '203.0.113.9' }]);
    await expect(
      monitor.query(`select monitor.log_request_event('auth.login_failed', 'notice', '198.51.100.1', '{}')`),
    ).rejects.toMatchObject({ code: 'PW603' });
    const client = await admin.connect();
    try {
      await client.query('begin');
      await client.query('set local role pgw_app_user');
      await expect(
        client.query(`select monitor.log_request_event('context.token_rejected', 'warning', '198.51.100.1', '{}')`),
      ).rejects.toMatchObject({ code: '42501' });
    } finally {
      await client.query('rollback');
      client.release();
    }
  });
});

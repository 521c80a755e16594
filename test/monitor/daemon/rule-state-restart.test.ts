import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, quoteIdent, withClient } from '../../../src/db/client.js';
import { isPgwardenError } from '../../../src/errors/index.js';
import type { MonitorDaemonEvent } from '../../../src/monitor/daemon.js';
import { RuleEngine, type RuleEngineSnapshot, RuleStateStore } from '../../../src/monitor/rules/index.js';
import { emptyDatabase, installedDatabase, uniquePrefix } from '../../helpers/db.js';
import { waitUntil } from '../helpers/receivers.js';
import {
  alertRows,
  failedLogins,
  lastEventId,
  openClient,
  scrape,
  securityEventPosition,
  startTestMonitor,
  type TestMonitor,
} from './harness.js';

// An attack split across a monitor restart: 5 failed logins before a graceful stop, 5 after the
// next start. The first monitor saves its windows in monitor.rule_state at shutdown, the next one
// restores them before its sources start, so the 10 make one pg-brute-force alert (M-01); a batch
// the source delivers again after the restart is not counted twice.
let db: ConnectionConfig;
let writer: pg.Client;
const running: TestMonitor[] = [];

beforeAll(async () => {
  db = await installedDatabase();
  writer = await openClient(db);
});
afterAll(async () => {
  for (const m of running) await m.close();
  await writer?.end().catch(() => undefined);
});

const start = async () => {
  const m = await startTestMonitor(db);
  running.push(m);
  return m;
};
const alertsOf = async (account: string) =>
  (await alertRows(db, 'pg-brute-force')).filter((r) => r.group_values.user === account);
/** Until the monitor handled every event written so far (its saved position is the last id). */
const caughtUp = async () =>
  waitUntil(
    async () => (await securityEventPosition(db)) === (await lastEventId(db)),
    15_000,
    'the monitor to read all',
  );
const ruleStateEvents = (m: TestMonitor) =>
  m.events.filter(
    (e): e is Extract<MonitorDaemonEvent, { kind: 'monitor-rule-state' }> => e.kind === 'monitor-rule-state',
  );
const loginFailures = async (m: TestMonitor) =>
  (await scrape(m.server.url)).value('pgwarden_monitor_events_total', {
    source: 'security-event',
    type: 'auth.login_failed',
  });

describe('a monitor restarted in the middle of an attack', () => {
  it('counts 5 failures before and 5 after a graceful restart as one brute-force alert of 10 [M-01]', async () => {
    const account = 'split@example.test';
    const first = await start();
    await failedLogins(writer, account, 5);
    await caughtUp();
    await first.close();
    expect(ruleStateEvents(first).map((e) => e.action)).toEqual(['saved']);
    const saved = await withClient(db, (c) =>
      c.query<{ n: number }>(`select pg_catalog.count(*)::int as n from monitor.rule_state s`),
    );
    expect(saved.rows[0]?.n).toBe(1);
    expect(await alertsOf(account)).toEqual([]);

    const second = await start();
    const [restored] = ruleStateEvents(second);
    expect(restored?.action === 'restored' && restored.report.groups).toBeGreaterThan(0);
    await failedLogins(writer, account, 5);
    await waitUntil(async () => (await alertsOf(account)).length > 0, 15_000, 'the brute-force alert');
    await caughtUp();
    expect(await loginFailures(second)).toBe(5);
    // close() hands on every pending event of the incident: a double count would show.
    await second.close();

    const rows = await alertsOf(account);
    expect(rows.map((r) => [r.status, r.event_count])).toEqual([['open', 10]]);
    expect(second.alerts().filter((a) => a.rule === 'pg-brute-force' && a.created)).toHaveLength(1);
  }, 60_000);

  it('does not count twice a batch delivered again after the restart: one alert of 10, not 12 [M-01]', async () => {
    const account = 'replayed@example.test';
    const first = await start();
    await failedLogins(writer, account, 5);
    await caughtUp();
    await first.close();

    // The last two failures go unconfirmed, as when a position save was lost: the next monitor
    // reads them again.
    await withClient(db, async (c) => {
      const { rows } = await c.query<{ id: string }>(
        `select n.id::text from logs.notification_log n where n.actor = $1 order by n.id`,
        [account],
      );
      await c.query(
        `update monitor.source_positions p set position = pg_catalog.jsonb_set(p.position, '{last}', $1::jsonb)
          where p.source = 'security-events'`,
        [rows[2]!.id],
      );
    });
    const second = await start();
    await failedLogins(writer, account, 5);
    await waitUntil(async () => (await alertsOf(account)).length > 0, 15_000, 'the brute-force alert');
    await caughtUp();
    // 7 failures read (2 again, 5 new), 10 counted.
    expect(await loginFailures(second)).toBe(7);
    await second.close();
    expect((await alertsOf(account)).map((r) => [r.status, r.event_count])).toEqual([['open', 10]]);
    expect(second.alerts().filter((a) => a.rule === 'pg-brute-force' && a.created)).toHaveLength(1);
  }, 60_000);
});

describe('RuleStateStore (monitor.rule_state)', () => {
  let admin: pg.Pool;
  let pool: pg.Pool;
  let login: string;
  beforeAll(async () => {
    admin = new pg.Pool({ ...db, max: 1 });
    login = `${uniquePrefix()}state`;
    const password = randomBytes(12).toString('hex');
    await admin.query(`create role ${quoteIdent(login)} login password '${password}' in role pgw_security_admin`);
    pool = new pg.Pool({ ...db, user: login, password, max: 1 });
  });
  afterAll(async () => {
    await pool?.end();
    await admin?.query(`drop role if exists ${quoteIdent(login)}`).catch(() => undefined);
    await admin?.end();
  });

  const snapshot = (): RuleEngineSnapshot => new RuleEngine({ rules: [] }).snapshot(Date.now());

  it('allows security_admin to save, replace and load an instance’s state', async () => {
    const store = new RuleStateStore(pool);
    expect(await store.load('store-test')).toBeUndefined();
    const s = { ...snapshot(), omitted: 3 };
    const { bytes } = await store.save('store-test', s);
    expect(bytes).toBe(Buffer.byteLength(JSON.stringify(s)));
    await store.save('store-test', { ...s, omitted: 4 });
    const loaded = await store.load('store-test');
    expect(loaded?.state).toEqual({ ...s, omitted: 4 });
    expect(loaded?.savedAt).toBeInstanceOf(Date);
  });

  it('saves a state holding a NUL character (which jsonb refuses) with U+FFFD in its place', async () => {
    const store = new RuleStateStore(pool);
    await store.save('store-test-nul', { ...snapshot(), seen: { ids: ['log:a\u0000b'], times: [1] } });
    expect((await store.load('store-test-nul'))?.state).toMatchObject({ seen: { ids: ['log:a\ufffdb'] } });
  });

  it('refuses a state over its byte bound, and a bad instance name, with PW603', async () => {
    const store = new RuleStateStore(pool, { maxBytes: 100 });
    const big = { ...snapshot(), seen: { ids: Array.from({ length: 20 }, (_, i) => `sec:${i}`), times: [] } };
    await expect(store.save('store-test-big', big)).rejects.toSatisfy((e) => isPgwardenError(e, 'PW603'));
    await expect(new RuleStateStore(pool).load('')).rejects.toSatisfy((e) => isPgwardenError(e, 'PW603'));
    expect(await new RuleStateStore(pool).load('store-test-big')).toBeUndefined();
  });

  it('reports PW603 on a database without the monitor module', async () => {
    const bare = new pg.Pool({ ...(await emptyDatabase()), max: 1 });
    try {
      const err = await new RuleStateStore(bare).load('x').catch((e: unknown) => e);
      expect(isPgwardenError(err, 'PW603')).toBe(true);
      expect((err as Error).message).toMatch(/loading the rule engine's state of monitor "x"/);
    } finally {
      await bare.end();
    }
  });
});

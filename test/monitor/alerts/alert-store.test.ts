import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ConnectionConfig } from '../../../src/db/client.js';
import { ErrorCodes } from '../../../src/errors/index.js';
import { AlertStore, buildAlertPayload, MAX_EVIDENCE } from '../../../src/monitor/alerts/index.js';
import { installedDatabase } from '../../helpers/db.js';
import { rejected } from '../../helpers/errors.js';
import { bruteForce, signal } from './signal-fixture.js';

// The alert store against a fresh clone: one incident is one row with a counter, the suppression
// window, silences, the lifecycle and its history, and the outbox rows it queues.

const T0 = Date.UTC(2025, 0, 1, 9, 0, 0);
let db: ConnectionConfig;
let admin: pg.Client;
let now = T0;
let store: AlertStore;

beforeAll(async () => {
  db = await installedDatabase();
  admin = new pg.Client(db);
  await admin.connect();
  store = new AlertStore({ connection: db, clock: () => now, lifecycleSinks: ['pager'] });
});

afterAll(async () => {
  await store.close();
  await admin.end();
});

beforeEach(async () => {
  now = T0;
  await admin.query('truncate monitor.deliveries, monitor.alert_changes, monitor.alerts, monitor.silences');
});

const deliveries = async () =>
  (
    await admin.query<{ alert_id: string; sink: string; action: string; payload: Record<string, unknown> }>(
      'select alert_id, sink, action, payload from monitor.deliveries order by id',
    )
  ).rows;
const alertCount = async () => Number((await admin.query('select count(*) as n from monitor.alerts')).rows[0].n);

describe('AlertStore.record', () => {
  it('raises one alert with a counter for 1 fire and 99 updates, and sends it once [M-12]', async () => {
    const first = await store.record(signal(), ['hook', 'pager']);
    expect(first).toMatchObject({ created: true, silenced: false, action: 'trigger' });
    for (let i = 0; i < 99; i += 1) {
      now += 1000;
      const r = await store.record(
        signal({ kind: 'update', eventCount: 1, eventIds: [`sec:${100 + i}`, `sec:${1000 + i}`, `sec:${2000 + i}`] }),
        ['hook', 'pager'],
      );
      expect(r).toMatchObject({ created: false, action: null, deliveryIds: [] });
    }
    expect(await alertCount()).toBe(1);
    const alert = (await store.get(first.alert.id))!;
    expect(alert).toMatchObject({ occurrences: 1, eventCount: 10 + 99, status: 'open' });
    const sent = await deliveries();
    expect(sent.map((d) => [d.sink, d.action])).toEqual([
      ['hook', 'trigger'],
      ['pager', 'trigger'],
    ]);
    expect(sent[0]!.payload).toMatchObject({
      id: first.alert.id,
      event_count: 10,
      occurrences: 1,
      rule: 'pg-brute-force',
    });
  });

  it('links the evidence event ids, without repeats, capped at 200 keeping the first [M-12]', async () => {
    const first = await store.record(signal({ eventIds: ['sec:1', 'sec:2', 'sec:2', 'sec:3'] }), []);
    expect(first.alert.evidence).toEqual(['sec:1', 'sec:2', 'sec:3']);
    for (let batch = 0; batch < 5; batch += 1) {
      const ids = Array.from({ length: 50 }, (_, i) => `sec:${10 + batch * 50 + i}`);
      await store.record(signal({ kind: 'update', eventCount: 50, eventIds: ['sec:1', ...ids] }), []);
    }
    const alert = (await store.get(first.alert.id))!;
    expect(alert.evidence).toHaveLength(MAX_EVIDENCE);
    expect(new Set(alert.evidence).size).toBe(MAX_EVIDENCE);
    expect(alert.evidence.slice(0, 4)).toEqual(['sec:1', 'sec:2', 'sec:3', 'sec:10']);
    expect(alert.evidence).not.toContain('sec:259');
    expect(alert.eventCount).toBe(10 + 250);
  });

  it('sends an update once the suppression window has passed, and not a moment before [M-12]', async () => {
    const rule = { ...bruteForce, suppressSeconds: 60 };
    const at = async (ms: number) => {
      now = T0 + ms;
      return (await store.record(signal({ rule, kind: 'update', eventCount: 1 }), ['hook'])).action;
    };
    expect((await store.record(signal({ rule }), ['hook'])).action).toBe('trigger');
    expect(await at(59_999)).toBeNull();
    expect(await at(60_000)).toBe('update');
    expect(await at(60_001)).toBeNull();
    expect(await at(119_999)).toBeNull();
    expect(await at(120_000)).toBe('update');
    const sent = await deliveries();
    expect(sent.map((d) => d.action)).toEqual(['trigger', 'update', 'update']);
    expect(sent[1]!.payload).toMatchObject({ event_count: 12 });
  });

  it('merges a second fire of a live incident into its alert as another occurrence', async () => {
    const a = await store.record(signal(), ['hook']);
    const b = await store.record(signal({ eventCount: 12 }), ['hook']);
    expect(b.alert.id).toBe(a.alert.id);
    expect(b).toMatchObject({ created: false, action: null });
    expect(b.alert).toMatchObject({ occurrences: 2, eventCount: 22 });
  });

  it('keeps incidents of other groups and rules apart', async () => {
    await store.record(signal(), []);
    await store.record(signal({ addr: '198.51.100.7', dedupeKey: 'pg-brute-force|user=alice|addr=198.51.100.7' }), []);
    await store.record(signal({ rule: { ...bruteForce, id: 'pg-spray' } }), []);
    expect(await alertCount()).toBe(3);
  });

  it('opens one alert when two monitors record the same new incident at once', async () => {
    const other = new AlertStore({ connection: db, clock: () => now });
    try {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? store : other).record(signal(), ['hook', 'pager'])),
      );
    } finally {
      await other.close();
    }
    expect(await alertCount()).toBe(1);
    const { rows } = await admin.query('select occurrences, event_count from monitor.alerts');
    expect(rows[0]).toEqual({ occurrences: '20', event_count: '200' });
    expect((await deliveries()).map((d) => d.sink)).toEqual(['hook', 'pager']);
  });

  it('refuses a sink name the queue could not store (PW604)', async () => {
    const err = await rejected(store.record(signal(), ['Bad Sink']));
    expect(err.code).toBe(ErrorCodes.MONITOR_SINK_INVALID);
    expect(await alertCount()).toBe(0);
  });
});

describe('silences', () => {
  const endsAt = () => new Date(now + 3_600_000);

  it('stores and counts a silenced alert but queues nothing for it', async () => {
    await store.silence({
      ruleId: 'pg-brute-force',
      matchers: { addr: '203.0.113.9' },
      endsAt: new Date(now + 3 * 3_600_000),
      reason: 'pentest',
      createdBy: 'ops',
    });
    const r = await store.record(signal(), ['hook']);
    expect(r).toMatchObject({ created: true, silenced: true, action: null, deliveryIds: [] });
    now += 2 * 3_600_000; // past the suppression window, but the silence still covers it
    expect((await store.record(signal({ kind: 'update', eventCount: 5 }), ['hook'])).action).toBeNull();
    expect(await deliveries()).toEqual([]);
    expect((await store.get(r.alert.id))!).toMatchObject({ eventCount: 15, silenced: true, notifiedAt: null });
    // Once the silence is over, the incident is announced for the first time: a trigger.
    now += 3_600_000;
    const after = await store.record(signal({ kind: 'update', eventCount: 1 }), ['hook']);
    expect(after).toMatchObject({ silenced: false, action: 'trigger' });
  });

  it('sends what the silence does not cover: another group, another rule, before it starts or after it ended', async () => {
    await store.silence({
      ruleId: 'pg-brute-force',
      matchers: { addr: '10.0.0.5' },
      endsAt: endsAt(),
      reason: 'scanner',
      createdBy: 'ops',
    });
    await store.silence({
      ruleId: 'pg-spray',
      matchers: {},
      endsAt: endsAt(),
      reason: 'spray rule tuning',
      createdBy: 'ops',
    });
    await store.silence({
      matchers: { user: 'alice' },
      startsAt: new Date(now + 600_000),
      endsAt: new Date(now + 1_200_000),
      reason: 'later',
      createdBy: 'ops',
    });
    await store.silence({
      matchers: { user: 'bob' },
      startsAt: new Date(now - 7_200_000),
      endsAt: new Date(now - 1),
      reason: 'over',
      createdBy: 'ops',
    });
    const results = [
      await store.record(signal(), ['hook']),
      await store.record(signal({ user: 'bob', dedupeKey: 'pg-brute-force|user=bob|addr=203.0.113.9' }), ['hook']),
    ];
    expect(results.map((r) => r.action)).toEqual(['trigger', 'trigger']);
    const matched = await store.record(signal({ addr: '10.0.0.5', dedupeKey: 'k|addr=10.0.0.5' }), ['hook']);
    expect(matched.silenced).toBe(true);
    const spray = await store.record(signal({ rule: { ...bruteForce, id: 'pg-spray' } }), ['hook']);
    expect(spray.silenced).toBe(true);
    expect((await store.silences()).map((s) => s.reason).sort()).toEqual(['later', 'scanner', 'spray rule tuning']);
  });

  it('refuses a silence that ends before it starts', async () => {
    const err = await rejected(
      store.silence({ matchers: {}, endsAt: new Date(now - 1), reason: 'x', createdBy: 'ops' }),
    );
    expect(err.code).toBe(ErrorCodes.USAGE);
  });
});

describe('alert lifecycle', () => {
  it('moves open → acknowledged → resolved and keeps who did it and why', async () => {
    const { alert } = await store.record(signal(), ['hook']);
    await store.setStatus(alert.id, 'acknowledged', 'alice@example.com', 'looking into it');
    const resolved = await store.setStatus(alert.id, 'resolved', 'bob@example.com', 'IP blocked');
    expect(resolved).toMatchObject({
      status: 'resolved',
      acknowledgedBy: 'alice@example.com',
      resolvedBy: 'bob@example.com',
    });
    const detail = (await store.get(alert.id))!;
    expect(detail.changes.map((c) => [c.actor, c.oldStatus, c.newStatus, c.note])).toEqual([
      ['alice@example.com', 'open', 'acknowledged', 'looking into it'],
      ['bob@example.com', 'acknowledged', 'resolved', 'IP blocked'],
    ]);
    const events = await admin.query(
      `select event_type, actor from logs.notification_log where event_type like 'monitor.alert_%' order by id`,
    );
    expect(events.rows.slice(-2)).toEqual([
      { event_type: 'monitor.alert_acknowledged', actor: 'alice@example.com' },
      { event_type: 'monitor.alert_resolved', actor: 'bob@example.com' },
    ]);
  });

  it('refuses to move an alert back (PW600) or to touch an unknown one (PW601)', async () => {
    const { alert } = await store.record(signal(), []);
    await store.setStatus(alert.id, 'resolved', 'alice');
    const back = await rejected(store.setStatus(alert.id, 'acknowledged', 'alice'));
    expect(back.code).toBe(ErrorCodes.MONITOR_ALERT_TRANSITION);
    expect(back.sqlState).toBe('PW600');
    const again = await rejected(store.setStatus(alert.id, 'resolved', 'alice'));
    expect(again.code).toBe(ErrorCodes.MONITOR_ALERT_TRANSITION);
    const unknown = await rejected(store.setStatus('987654321', 'acknowledged', 'alice'));
    expect(unknown.code).toBe(ErrorCodes.MONITOR_ALERT_NOT_FOUND);
    expect((await rejected(store.setStatus('not-an-id', 'resolved', 'alice'))).code).toBe(
      ErrorCodes.MONITOR_ALERT_NOT_FOUND,
    );
    expect((await store.get(alert.id))!.changes).toHaveLength(1);
  });

  it('queues acknowledge and resolve for the lifecycle sinks that were sent the alert', async () => {
    const { alert } = await store.record(signal(), ['hook', 'pager']);
    await store.setStatus(alert.id, 'acknowledged', 'alice');
    await store.setStatus(alert.id, 'resolved', 'alice');
    const sent = await deliveries();
    expect(sent.map((d) => [d.sink, d.action])).toEqual([
      ['hook', 'trigger'],
      ['pager', 'trigger'],
      ['pager', 'acknowledge'],
      ['pager', 'resolve'],
    ]);
    expect(sent[3]!.payload).toMatchObject({ status: 'resolved', id: alert.id });
    // A silenced alert reached no sink, so its resolution is not announced either.
    await store.silence({
      matchers: { user: 'carol' },
      endsAt: new Date(now + 60_000),
      reason: 'test',
      createdBy: 'ops',
    });
    const quiet = await store.record(signal({ user: 'carol', dedupeKey: 'c' }), ['pager']);
    await store.setStatus(quiet.alert.id, 'resolved', 'alice');
    expect(await deliveries()).toHaveLength(4);
  });

  it('opens a new alert when more of an incident arrives after it was resolved', async () => {
    const first = await store.record(signal(), ['hook']);
    await store.setStatus(first.alert.id, 'resolved', 'alice');
    const more = await store.record(signal({ kind: 'update', eventCount: 3 }), ['hook']);
    expect(more).toMatchObject({ created: true, action: 'trigger' });
    expect(more.alert).toMatchObject({ status: 'open', eventCount: 3 });
    expect(more.alert.id).not.toBe(first.alert.id);
  });

  it('opens a new alert for a fire after the last one was resolved', async () => {
    const first = await store.record(signal(), ['hook']);
    await store.setStatus(first.alert.id, 'resolved', 'alice');
    const second = await store.record(signal(), ['hook']);
    expect(second.alert.id).not.toBe(first.alert.id);
    expect(second).toMatchObject({ created: true, action: 'trigger' });
    expect(second.alert).toMatchObject({ occurrences: 1, status: 'open' });
    expect((await deliveries()).map((d) => [d.alert_id, d.action])).toEqual([
      [first.alert.id, 'trigger'],
      [second.alert.id, 'trigger'],
    ]);
  });
});

describe('AlertStore.list', () => {
  it('filters by status and severity and pages newest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const severity = i % 2 ? 'critical' : 'high';
      const r = await store.record(signal({ rule: { ...bruteForce, severity }, dedupeKey: `k${i}` }), []);
      ids.push(r.alert.id);
    }
    await store.setStatus(ids[0]!, 'resolved', 'alice');
    expect((await store.list()).map((a) => a.id)).toEqual([...ids].reverse());
    expect((await store.list({ status: ['open', 'acknowledged'] })).map((a) => a.id)).toEqual(ids.slice(1).reverse());
    expect((await store.list({ severity: 'critical' })).map((a) => a.id)).toEqual([ids[3], ids[1]]);
    const page1 = await store.list({ limit: 2 });
    const page2 = await store.list({ limit: 2, before: page1.at(-1)!.id });
    expect([...page1, ...page2].map((a) => a.id)).toEqual(ids.slice(1).reverse());
    expect(await store.get('999999999')).toBeUndefined();
  });
});

describe('alert hygiene [M-12]', () => {
  const jwt =
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiJ9.Zm9yZ2VkLXNpZ25hdHVyZS1oZXJlLTEyMzQ1Njc4';
  const secrets = [jwt, 'hunter2', 'S3cr3tPw', 'tok-9f8e7d6c5b4a', 'a3f1c9e07b5d4e2f8a6c1b3d5e7f9a0b'];

  it('keeps passwords, tokens and connection passwords out of the stored alert and its payload [M-12]', async () => {
    const r = await store.record(
      signal({
        dedupeKey: `pg-brute-force|user=${jwt}`,
        group: { user: jwt, note: 'password=hunter2' },
        summary: `login as ${jwt} via postgresql://app:S3cr3tPw@db.internal:5432/app failed (password=hunter2)`,
        details: {
          token: 'tok-9f8e7d6c5b4a',
          nested: { statement: "alter role app password 'hunter2'" },
          key: 'a3f1c9e07b5d4e2f8a6c1b3d5e7f9a0b',
        },
        eventIds: ['sec:1'],
      }),
      ['hook'],
    );
    const stored = JSON.stringify((await admin.query('select * from monitor.alerts')).rows);
    const queued = JSON.stringify(await deliveries());
    const payload = JSON.stringify(
      buildAlertPayload(r.alert, { alertUrl: (id) => `https://mon.example/alerts/${id}` }),
    );
    for (const text of [stored, queued, payload]) {
      for (const s of secrets) expect(text).not.toContain(s);
    }
    expect(r.alert.summary).toContain('postgresql://app:***@db.internal:5432/app');
    expect(r.alert.summary).toContain('[redacted JWT]');
    expect(r.alert.group).toEqual({ user: '[redacted JWT]', note: 'password=***' });
    expect(r.alert.evidence).toEqual(['sec:1']);
  });
});

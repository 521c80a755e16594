import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DashboardClient, type DashboardFixture, dashboardFixture } from './helpers/dashboard-fixture.js';

// Its own database: the overview counts every alert, so no other file's alerts may mix in.
let d: DashboardFixture;
let c: DashboardClient;
beforeAll(async () => {
  d = await dashboardFixture();
  const u = await d.user('auditor');
  c = new DashboardClient(d.url);
  expect((await c.login(u.email, u.password)).status).toBe(200);
});
afterAll(async () => {
  await d?.close();
});

const exists = async (table: string) =>
  (await d.f.sql<{ t: string | null }>('select to_regclass($1)::text as t', [table]))[0]!.t !== null;

const logEvent = async (type: string, actor: string, details: Record<string, unknown> = {}) =>
  Number(
    (
      await d.f.sql<{ id: string }>(`select logs.log_event($1, 'warning', $2, 'app', 'acme', $3::jsonb) as id`, [
        type,
        actor,
        JSON.stringify(details),
      ])
    )[0]!.id,
  );

describe('GET /api/overview', () => {
  it('counts live alerts by severity and status, and resolved ones of the last 24 h', async () => {
    await d.alert({ severity: 'critical' });
    await d.alert({ severity: 'critical' });
    await d.alert({ severity: 'high', status: 'acknowledged' });
    await d.alert({ severity: 'low' });
    const resolved = await d.alert({ severity: 'medium' });
    await d.f.sql(`select monitor.set_alert_status($1, 'resolved', 'test', null)`, [resolved]);
    const r = await c.get('api/overview');
    expect(r.status).toBe(200);
    expect(r.body.alerts).toEqual({
      bySeverity: [
        { severity: 'critical', open: 2, acknowledged: 0 },
        { severity: 'high', open: 0, acknowledged: 1 },
        { severity: 'medium', open: 0, acknowledged: 0 },
        { severity: 'low', open: 1, acknowledged: 0 },
      ],
      open: 3,
      acknowledged: 1,
      resolvedLast24h: 1,
    });
  });

  it('counts security events per minute over the last 60 minutes from logs.notification_log', async () => {
    for (let i = 0; i < 5; i += 1) await logEvent('auth.login_failed', `victim${i}@example.test`);
    const r = await c.get('api/overview');
    const epm = r.body.eventsPerMinute as { source: string; points: Array<{ minute: string; count: number }> };
    expect(epm.source).toBe('database');
    expect(epm.points).toHaveLength(60);
    const minutes = epm.points.map((p) => Date.parse(p.minute));
    minutes.slice(1).forEach((m, i) => expect(m - minutes[i]!).toBe(60_000));
    const total = epm.points.reduce((s, p) => s + p.count, 0);
    const [all] = await d.f.sql<{ n: number }>('select count(*)::int as n from logs.notification_log');
    expect(total).toBeGreaterThanOrEqual(5);
    expect(total).toBeLessThanOrEqual(all!.n);
  });

  it('takes events per minute and counters from liveStats when the monitor runs in-process', async () => {
    const start = Date.UTC(2030, 0, 1, 12, 0);
    const server = await d.another({
      liveStats: () => ({
        eventsPerMinute: Array.from({ length: 70 }, (_, i) => ({ minute: start + i * 60_000, count: i })),
        counters: { 'events received': 4711 },
      }),
    });
    try {
      const u = await d.user('auditor');
      const live = new DashboardClient(server.url);
      await live.login(u.email, u.password);
      const r = await live.get('api/overview');
      const epm = r.body.eventsPerMinute as { source: string; points: Array<{ minute: string; count: number }> };
      expect(epm.source).toBe('live');
      expect(epm.points).toHaveLength(60);
      expect(epm.points[0]).toEqual({ minute: new Date(start + 10 * 60_000).toISOString(), count: 10 });
      expect(epm.points.at(-1)!.count).toBe(69);
      expect(r.body.counters).toEqual({ 'events received': 4711 });
    } finally {
      await server.close();
    }
  });

  it('reports the latest compliance score and its trend', async () => {
    if (!(await exists('compliance.scan_runs'))) {
      expect((await c.get('api/overview')).body.compliance).toBeNull();
      return;
    }
    expect((await c.get('api/overview')).body.compliance).toEqual({ latest: null, trend: [] });
    for (const [day, score] of [
      [1, 61],
      [3, 87],
      [2, 74],
    ] as const)
      await d.f.sql(
        `insert into compliance.scan_runs (started_at, target, database, server_version, tool_version, score, summary, report)
         values ($1, 'db1', 'app', '17', '0.1.0', $2, '{}', '{}')`,
        [new Date(Date.UTC(2025, 0, day)), score],
      );
    const compliance = (await c.get('api/overview')).body.compliance as {
      latest: { score: number };
      trend: Array<{ score: number }>;
    };
    expect(compliance.latest.score).toBe(87);
    expect(compliance.trend.map((p) => p.score)).toEqual([61, 74, 87]);
  });

  it('reports the ledger as never verified, verified, then tamper detected', async () => {
    if (!(await exists('ledger.state'))) {
      expect((await c.get('api/overview')).body.ledger).toBeNull();
      return;
    }
    const ledger = async () => (await c.get('api/overview')).body.ledger as Record<string, unknown>;
    expect(await ledger()).toEqual({ status: 'never_verified', lastVerifiedAt: null, lastTamperAt: null });
    await logEvent('ledger.verified', 'sealer');
    expect(await ledger()).toMatchObject({ status: 'verified', lastTamperAt: null });
    await logEvent('ledger.tamper_detected', 'verifier', { first_bad_position: 3 });
    const after = await ledger();
    expect(after.status).toBe('tamper_detected');
    expect(typeof after.lastTamperAt).toBe('string');
  });

  it('reports the heartbeat age of the freshest monitor instance, null when none ever beat', async () => {
    const heartbeat = async () =>
      (await c.get('api/overview')).body.heartbeat as { ageSeconds: number | null; instances: unknown[] };
    expect(await heartbeat()).toEqual({ ageSeconds: null, instances: [] });
    await d.f.sql(
      `insert into monitor.heartbeats (instance, started_at, beat_at) values
         ('old', now() - interval '1 hour', now() - interval '10 minutes'),
         ('fresh', now() - interval '1 hour', now() - interval '30 seconds')`,
    );
    const h = await heartbeat();
    expect(h.ageSeconds).toBeGreaterThanOrEqual(29);
    expect(h.ageSeconds).toBeLessThan(300);
    expect(h.instances).toHaveLength(2);
  });
});

describe('GET /api/users/risk', () => {
  it('lists profiles riskiest first with their reasons, the overview shows the top five', async () => {
    const reasons = [{ reason: 'login at an unusual hour', points: 30 }, 'new source address 203.0.113.9'];
    for (const [principal, score] of [
      ['low@example.test', 5],
      ['<img src=x onerror=alert(3)>', 95],
      ['mid@example.test', 50],
      ['a@example.test', 40],
      ['b@example.test', 30],
      ['c@example.test', 20],
    ] as const)
      await d.f.sql(
        `insert into monitor.user_profiles (principal, profile, risk_score, risk_reasons) values ($1, '{}', $2, $3::jsonb)`,
        [principal, score, JSON.stringify(score > 90 ? reasons : [])],
      );
    const r = await c.get('api/users/risk');
    const users = r.body.users as Array<{ principal: string; riskScore: number; reasons: unknown[] }>;
    expect(users.map((u) => u.riskScore)).toEqual([95, 50, 40, 30, 20, 5]);
    expect(users[0]).toMatchObject({ principal: '<img src=x onerror=alert(3)>', reasons });
    expect((await c.get('api/users/risk?limit=2')).body.users).toHaveLength(2);
    const top = (await c.get('api/overview')).body.topRiskUsers as Array<{ riskScore: number }>;
    expect(top.map((u) => u.riskScore)).toEqual([95, 50, 40, 30, 20]);
    expect((await c.get('api/users/risk?limit=0')).status).toBe(400);
  });
});

describe('GET /api/alerts', () => {
  it('filters by status and severity, and pages with limit and before without gaps or repeats', async () => {
    for (let i = 0; i < 5; i += 1) await d.alert({ severity: 'medium', ruleId: 'paging' });
    const all = (await c.get('api/alerts?severity=medium&status=open')).body.alerts as Array<{
      id: number;
      severity: string;
      status: string;
    }>;
    expect(all.length).toBeGreaterThanOrEqual(5);
    expect(all.every((a) => a.severity === 'medium' && a.status === 'open')).toBe(true);
    const seen: number[] = [];
    let before: number | null = null;
    do {
      const page = await c.get(`api/alerts?severity=medium&status=open&limit=2${before ? `&before=${before}` : ''}`);
      const ids = (page.body.alerts as Array<{ id: number }>).map((a) => a.id);
      expect(ids.length).toBeLessThanOrEqual(2);
      seen.push(...ids);
      before = page.body.nextBefore as number | null;
    } while (before !== null);
    expect(seen).toEqual(all.map((a) => a.id));
    const active = (await c.get('api/alerts?status=active')).body.alerts as Array<{ status: string }>;
    expect(active.length).toBeGreaterThan(0);
    expect(active.every((a) => a.status !== 'resolved')).toBe(true);
    const resolved = (await c.get('api/alerts?status=resolved')).body.alerts as Array<{ status: string }>;
    expect(resolved.map((a) => a.status)).toEqual(['resolved']);
  });

  it('answers 400 for an unknown status or severity, or a limit out of range', async () => {
    for (const q of ['status=closed', 'severity=urgent', 'limit=0', 'limit=201', 'limit=abc', 'before=-1'])
      expect((await c.get(`api/alerts?${q}`)).status, q).toBe(400);
  });

  it('resolves sec: evidence to security events, lists other ids as they are, and marks missing rows', async () => {
    const first = await logEvent('auth.login_failed', 'alice@example.test', { reason: 'password' });
    const second = await logEvent('auth.login_failed', 'alice@example.test', { reason: 'password' });
    const id = await d.alert({ evidence: [`sec:${first}`, 'log:pg-main:4096', `sec:${second}`, 'sec:999999999'] });
    const r = await c.get(`api/alerts/${id}`);
    const evidence = r.body.evidence as Array<{ id: string; kind: string; event?: Record<string, unknown> }>;
    expect(evidence.map((e) => [e.id, e.kind])).toEqual([
      [`sec:${first}`, 'security-event'],
      ['log:pg-main:4096', 'reference'],
      [`sec:${second}`, 'security-event'],
      ['sec:999999999', 'missing'],
    ]);
    expect(evidence[0]!.event).toMatchObject({
      id: first,
      type: 'auth.login_failed',
      severity: 'warning',
      actor: 'alice@example.test',
      subject: 'app',
      tenant: 'acme',
      details: { reason: 'password' },
    });
    expect(r.body.alert).toMatchObject({
      id,
      groupValues: { user: 'alice', addr: '203.0.113.9' },
      attack: ['T1110.001'],
    });
    expect(r.body.changes).toEqual([]);
  });
});

describe('GET /api/timeline', () => {
  it('merges security events and alerts newest first and pages through them without gaps or repeats', async () => {
    const from = new Date(Date.now() - 10 * 60_000);
    await d.alert({ title: 'timeline alert', firstSeen: new Date(Date.now() - 5 * 60_000) });
    await logEvent('auth.login_failed', 'timeline@example.test');
    const window = `from=${from.toISOString()}&to=${new Date(Date.now() + 60_000).toISOString()}`;
    const whole = await c.get(`api/timeline?${window}&limit=500`);
    const items = whole.body.items as Array<{ kind: string; time: string; id: string | number; title?: string }>;
    expect(whole.body.next).toBeNull();
    expect(items.some((i) => i.kind === 'alert' && i.title === 'timeline alert')).toBe(true);
    expect(items.some((i) => i.kind === 'event')).toBe(true);
    const times = items.map((i) => Date.parse(i.time));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    const paged: typeof items = [];
    let cursor: string | null = null;
    do {
      const page = await c.get(`api/timeline?${window}&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      paged.push(...(page.body.items as typeof items));
      cursor = page.body.next as string | null;
    } while (cursor !== null);
    expect(paged.map((i) => `${i.kind}:${i.id}`)).toEqual(items.map((i) => `${i.kind}:${i.id}`));
  });

  it('answers 400 for a bad time, an empty window or a cursor it did not give out', async () => {
    for (const q of [
      'from=yesterday',
      'to=2025-13-45T00:00:00Z',
      'from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z',
      'cursor=abc',
    ])
      expect((await c.get(`api/timeline?${q}`)).status, q).toBe(400);
  });
});

describe('secrets written into security events', () => {
  // A JWT-shaped value (header {"alg":"HS256"}) and credentials a careless writer logged.
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJlLXZhbHVlLWhlcmU';
  const secrets = ['hunter2-Secret!', 'tok_4f9a1c77e2', 'rt-nested-secret-value', jwt];

  async function leakyEvent(): Promise<number> {
    const details = {
      reason: 'password',
      password: secrets[0],
      token: secrets[1],
      session: { refreshToken: secrets[2], started: '2025-01-31T12:00:00Z' },
      note: `replayed ${jwt}`,
    };
    const [row] = await d.f.sql<{ id: string }>(
      `select logs.log_event('app.debug_dump', 'warning', 'mallory@example.test', $1, 'acme', $2::jsonb) as id`,
      [jwt, JSON.stringify(details)],
    );
    return Number(row!.id);
  }

  it("masks secret keys and JWT-looking values in an alert's evidence", async () => {
    const ev = await leakyEvent();
    const id = await d.alert({ evidence: [`sec:${ev}`] });
    const before = c.bodies.length;
    const r = await c.get(`api/alerts/${id}`);
    expect(r.status).toBe(200);
    const [evidence] = r.body.evidence as Array<{ event: Record<string, unknown> }>;
    expect(evidence!.event.details).toEqual({
      reason: 'password',
      password: '***',
      token: '***',
      session: { refreshToken: '***', started: '2025-01-31T12:00:00Z' },
      note: 'replayed [redacted JWT]',
    });
    expect(evidence!.event.subject).toBe('[redacted JWT]');
    expect(evidence!.event.actor).toBe('mallory@example.test');
    const text = c.bodies.slice(before).join('\n');
    for (const s of secrets) expect(text).not.toContain(s);
  });

  it('masks JWT-looking values in the timeline', async () => {
    const ev = await leakyEvent();
    const before = c.bodies.length;
    const r = await c.get('api/timeline?limit=500');
    const item = (r.body.items as Array<Record<string, unknown>>).find((i) => i.id === `sec:${ev}`);
    expect(item).toMatchObject({ kind: 'event', type: 'app.debug_dump', subject: '[redacted JWT]' });
    const text = c.bodies.slice(before).join('\n');
    for (const s of secrets) expect(text).not.toContain(s);
  });
});

import { describe, expect, it } from 'vitest';
import type { MonitorEvent } from '../../../src/monitor/event.js';
import { classifyLogRecord } from '../../../src/monitor/sources/server-log/index.js';
import { eventFactory, feed, firedRules, fires, min, packEngine, sec, t0 } from './engine-helpers.js';

type Spec = Partial<MonitorEvent> & { type: string };

describe('row-level security bypass rules [M-10]', () => {
  const attempts: [string, Spec][] = [
    ['SET ROLE refused', { type: 'pg.error', sqlstate: '42501', fields: { category: 'set_role_denied' } }],
    ['row_security = off refused', { type: 'pg.error', fields: { category: 'row_security_off' } }],
    ['a request role reading pg_authid', { type: 'pg.error', fields: { category: 'catalog_probe' } }],
    [
      'request.jwt.claims set from a user statement',
      { type: 'pg.statement', fields: { category: 'jwt_claims_tampering' } },
    ],
    [
      'an unmarked SET ROLE error',
      { type: 'pg.error', sqlstate: '42501', message: 'permission denied to set role "tenant_admin"' },
    ],
    [
      'an unmarked SET SESSION AUTHORIZATION error',
      { type: 'pg.error', message: 'permission denied to set session authorization' },
    ],
    [
      'an unmarked row_security error',
      {
        type: 'pg.error',
        sqlstate: '42501',
        message: 'query would be affected by row-level security policy for table "invoices"',
      },
    ],
  ];
  for (const [name, spec] of attempts) {
    it(`raises one RLS_BYPASS_ATTEMPT alert with its evidence for ${name} [M-10]`, async () => {
      const ev = eventFactory();
      const e = ev({ time: t0, user: 'tenant_a_user', severity: 'error', ...spec });
      const signals = feed(await packEngine(), [e]);
      expect(firedRules(signals)).toEqual(['pg-rls-bypass-attempt']);
      expect(fires(signals)[0]?.eventIds).toEqual([e.id]);
      expect(fires(signals)[0]?.summary).toContain('RLS_BYPASS_ATTEMPT');
    });
  }

  const violation = (ev: ReturnType<typeof eventFactory>, i: number, marked: boolean) =>
    ev({
      type: 'pg.error',
      time: t0 + i * 10 * sec,
      user: 'tenant_a_user',
      severity: 'error',
      sqlstate: '42501',
      message: 'new row violates row-level security policy for table "invoices"',
      ...(marked ? { fields: { category: 'rls_violation' } } : {}),
    });

  it('raises a burst alert for 5 RLS violations by one user within 1 min, none for 4 [M-10]', async () => {
    const ev = eventFactory();
    const five = [0, 1, 2, 3, 4].map((i) => violation(ev, i, i % 2 === 0));
    const signals = feed(await packEngine(), five);
    expect(firedRules(signals)).toEqual(['pg-rls-violation-burst']);
    expect(fires(signals)[0]?.eventIds).toEqual(five.map((e) => e.id));
    expect(fires(feed(await packEngine(), five.slice(0, 4)))).toEqual([]);
  });
});

describe('token forgery rule [M-11]', () => {
  const rejected = (ev: ReturnType<typeof eventFactory>, n: number, reason: string, addr = '203.0.113.66') =>
    Array.from({ length: n }, (_, i) =>
      ev({ type: 'context.token_rejected', time: t0 + i * 2 * sec, addr, severity: 'warning', fields: { reason } }),
    );

  it('raises one TOKEN_FORGERY alert for 20 rejected tokens from one address within 1 min [M-11]', async () => {
    const ev = eventFactory();
    const events = [...rejected(ev, 10, 'signature'), ...rejected(ev, 10, 'audience')].map((e, i) => ({
      ...e,
      time: t0 + i * 2 * sec,
    }));
    const signals = feed(await packEngine(), events);
    expect(firedRules(signals)).toEqual(['pg-token-forgery']);
    expect(fires(signals)[0]?.dedupeKey).toBe('pg-token-forgery|addr=203.0.113.66');
    expect(fires(signals)[0]?.summary).toBe(
      '20 forged or invalid tokens from 203.0.113.66 within 1 min (TOKEN_FORGERY)',
    );
  });

  it('raises nothing for 19, nor for 19 bad ones and an expired one [M-11]', async () => {
    const ev = eventFactory();
    expect(fires(feed(await packEngine(), rejected(ev, 19, 'algorithm')))).toEqual([]);
    const mixed = [...rejected(ev, 19, 'malformed'), ...rejected(ev, 1, 'expired')].map((e, i) => ({
      ...e,
      time: t0 + i * sec,
    }));
    expect(fires(feed(await packEngine(), mixed))).toEqual([]);
  });

  it('raises nothing for expired tokens, one or many [M-11]', async () => {
    const ev = eventFactory();
    expect(fires(feed(await packEngine(), rejected(ev, 1, 'expired')))).toEqual([]);
    expect(fires(feed(await packEngine(), rejected(ev, 30, 'expired')))).toEqual([]);
  });
});

describe('superuser, behaviour and mass-read rules', () => {
  const session = (addr: string | undefined, superuser: boolean | string = true): Spec => ({
    type: 'pg.activity',
    source: 'stats',
    user: 'postgres',
    ...(addr ? { addr } : {}),
    fields: { superuser },
  });

  it('raises an alert for a superuser session from a remote address, once per session', async () => {
    const ev = eventFactory();
    const samples = [0, 1, 2].map((i) => ev({ time: t0 + i * 15 * sec, ...session('203.0.113.5') }));
    const signals = feed(await packEngine(), samples);
    expect(firedRules(signals)).toEqual(['pg-superuser-remote-login']);
    expect(fires(signals)[0]?.dedupeKey).toBe('pg-superuser-remote-login|user=postgres|addr=203.0.113.5');
    const v6 = ev({ time: t0, type: 'pg.login', user: 'postgres', addr: '2001:db8::5', fields: { superuser: 'on' } });
    expect(firedRules(feed(await packEngine(), [v6]))).toEqual(['pg-superuser-remote-login']);
  });

  /** A `connection authorized` line from `host`, classified as the server-log source does. */
  const loginLine = (host: string, superuser?: boolean): MonitorEvent => {
    const record = {
      offset: 0,
      errorSeverity: 'LOG',
      pid: 4242,
      sessionId: '6b04c5d8.1092',
      user: 'postgres',
      database: 'postgres',
      remoteHost: host,
      message: 'connection authorized: user=postgres database=postgres application_name=psql',
    };
    const e = classifyLogRecord(record, 'log:x:0');
    // The daemon's RoleAttributes marks the logins of superuser roles (role-attributes.test.ts).
    return { ...e, time: t0, fields: superuser === undefined ? e.fields : { ...e.fields, superuser } };
  };

  it('raises an alert for a superuser session of seconds seen only by its marked server-log login', async () => {
    // A scripted session is gone before a statistics sample sees it: the login line is all there is.
    const signals = feed(await packEngine(), [loginLine('203.0.113.5', true)]);
    expect(firedRules(signals)).toEqual(['pg-superuser-remote-login']);
    expect(fires(signals)[0]?.summary).toBe('superuser postgres connected from 203.0.113.5');
  });

  it('raises nothing for the login line of a role not marked superuser, nor for a marked one over the loopback', async () => {
    expect(fires(feed(await packEngine(), [loginLine('203.0.113.5')]))).toEqual([]);
    expect(fires(feed(await packEngine(), [loginLine('127.0.0.1', true)]))).toEqual([]);
    expect(fires(feed(await packEngine(), [loginLine('[local]', true)]))).toEqual([]);
  });

  for (const [name, spec] of [
    ['IPv4 loopback', session('127.0.0.1')],
    ['another loopback address', session('127.0.1.1')],
    ['IPv6 loopback', session('::1')],
    ['IPv4-mapped loopback', session('::ffff:127.0.0.1')],
    ['a unix socket', session(undefined)],
    ['a unix socket reported as [local]', session('[local]')],
    ['an ordinary role from a remote address', session('203.0.113.5', false)],
  ] as const) {
    it(`raises nothing for a superuser session over ${name}`, async () => {
      const ev = eventFactory();
      expect(fires(feed(await packEngine(), [ev({ time: t0, ...spec })]))).toEqual([]);
    });
  }

  it('raises an unusual-access alert for each anomaly the analytics raises, none for the same type from another source', async () => {
    const ev = eventFactory();
    const anomaly = (score: number, source: 'monitor' | 'security-event' = 'monitor') =>
      ev({
        type: 'ueba.anomaly',
        source,
        time: t0,
        user: 'alice',
        fields: { score, reason: 'new_address' },
      });
    const signals = feed(await packEngine(), [anomaly(70)]);
    expect(firedRules(signals)).toEqual(['pg-unusual-access']);
    expect(fires(signals)[0]?.details).toMatchObject({
      fields: { 'fields.score': 70, 'fields.reason': 'new_address' },
    });
    // The analytics applies monitor.riskThreshold: a lower configured threshold still alerts.
    expect(firedRules(feed(await packEngine(), [anomaly(55)]))).toEqual(['pg-unusual-access']);
    expect(fires(feed(await packEngine(), [anomaly(90, 'security-event')]))).toEqual([]);
  });

  const reads = (ev: ReturnType<typeof eventFactory>, rows: number[], gapMs: number) =>
    rows.map((n, i) =>
      ev({ type: 'pg.rows_read', source: 'stats', time: t0 + i * gapMs, user: 'reporting', fields: { rows: n } }),
    );

  it('raises a mass-read alert for 100,000 rows within 10 min, none when spread wider', async () => {
    const ev = eventFactory();
    const signals = feed(await packEngine(), reads(ev, [60_000, 40_000], 3 * min));
    expect(firedRules(signals)).toEqual(['pg-mass-read']);
    expect(fires(signals)[0]?.summary).toBe('reporting read 100000 rows within 10 min');
    expect(fires(feed(await packEngine(), reads(ev, [60_000, 39_999], 3 * min)))).toEqual([]);
    expect(fires(feed(await packEngine(), reads(ev, [60_000, 50_000], 15 * min)))).toEqual([]);
  });

  it('takes the mass-read threshold from an override', async () => {
    const ev = eventFactory();
    const engine = await packEngine({
      overrides: { 'pg-mass-read': { threshold: { sum: { 'fields.rows': 500_000 } } } },
    });
    expect(fires(feed(engine, reads(ev, [60_000, 50_000], min)))).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import type { MonitorEvent } from '../../../src/monitor/event.js';
import { eventFactory, feed, firedRules, fires, min, packEngine, sec, t0 } from './engine-helpers.js';

const failure = (ev: ReturnType<typeof eventFactory>, time: number, user: string | undefined, addr: string) =>
  ev({
    type: 'auth.login_failed',
    time,
    addr,
    ...(user ? { user } : {}),
    fields: { reason: 'wrong_password', account: `acct-${user ?? 'none'}` },
  });

describe('authentication rules', () => {
  it('raises one brute-force alert for 10 failures on one account from one address in 5 min [M-01]', async () => {
    const ev = eventFactory();
    const events = Array.from({ length: 10 }, (_, i) => failure(ev, t0 + i * 25 * sec, 'alice', '203.0.113.9'));
    const signals = feed(await packEngine(), events);
    expect(firedRules(signals)).toEqual(['pg-brute-force']);
    const [fire] = fires(signals);
    expect(fire?.dedupeKey).toBe('pg-brute-force|user=alice|addr=203.0.113.9');
    expect(fire?.group).toEqual({ user: 'alice', addr: '203.0.113.9' });
    expect(fire?.eventCount).toBe(10);
    expect(fire?.summary).toBe('10 failed logins for alice from 203.0.113.9 within 5 min');
    expect(fire?.eventIds).toEqual(events.map((e) => e.id));
    expect(fire?.firstSeen).toBe(t0);
    expect(fire?.lastSeen).toBe(t0 + 9 * 25 * sec);
    expect(fire?.rule).toMatchObject({
      id: 'pg-brute-force',
      severity: 'high',
      attack: ['T1110.001'],
      suppressSeconds: 3600,
    });
    expect(fire?.details).toMatchObject({ threshold: { count: 10 }, window: '5m', windowSeconds: 300 });
  });

  it('raises nothing for 9 failures in 5 min [M-01]', async () => {
    const ev = eventFactory();
    const events = Array.from({ length: 9 }, (_, i) => failure(ev, t0 + i * 10 * sec, 'alice', '203.0.113.9'));
    expect(fires(feed(await packEngine(), events))).toEqual([]);
  });

  it('raises nothing for 10 failures spread over 2 h [M-01]', async () => {
    const ev = eventFactory();
    const events = Array.from({ length: 10 }, (_, i) => failure(ev, t0 + i * 13 * min, 'alice', '203.0.113.9'));
    expect(fires(feed(await packEngine(), events))).toEqual([]);
  });

  it('keys an unknown account by the digest of its name [M-01]', async () => {
    const ev = eventFactory();
    const events = Array.from({ length: 10 }, (_, i) => failure(ev, t0 + i * sec, undefined, '203.0.113.9'));
    const [fire, ...rest] = fires(feed(await packEngine(), events));
    expect(rest).toEqual([]);
    expect(fire?.dedupeKey).toBe('pg-brute-force|fields.account=acct-none|addr=203.0.113.9');
  });

  it('counts server-log authentication failures for a database role [M-01]', async () => {
    const ev = eventFactory();
    const events = Array.from({ length: 10 }, (_, i) =>
      ev({ type: 'pg.auth_failed', time: t0 + i * sec, user: 'postgres', addr: '198.51.100.4', severity: 'error' }),
    );
    expect(firedRules(feed(await packEngine(), events))).toEqual(['pg-brute-force']);
  });

  it('does not count logins that only had to go through the service [M-01]', async () => {
    const ev = eventFactory();
    const events = Array.from({ length: 12 }, (_, i) =>
      ev({
        type: 'auth.login_failed',
        time: t0 + i * sec,
        user: 'alice',
        addr: '203.0.113.9',
        fields: { reason: 'mfa_needs_service' },
      }),
    );
    expect(fires(feed(await packEngine(), events))).toEqual([]);
  });

  it('raises a distributed brute-force alert keyed by account for 10 failures from 10 addresses [M-02]', async () => {
    const ev = eventFactory();
    const events = Array.from({ length: 10 }, (_, i) => failure(ev, t0 + i * 20 * sec, 'alice', `198.51.${i}.7`));
    const signals = feed(await packEngine(), events);
    expect(firedRules(signals)).toEqual(['pg-distributed-brute-force']);
    expect(fires(signals)[0]?.dedupeKey).toBe('pg-distributed-brute-force|user=alice');
    expect(fires(signals)[0]?.details).toMatchObject({ distinct: { addr: 10 } });
  });

  it('raises nothing for 10 failures from 2 addresses, or 9 from 9 addresses [M-02]', async () => {
    const ev = eventFactory();
    const two = Array.from({ length: 10 }, (_, i) => failure(ev, t0 + i * 20 * sec, 'alice', `198.51.${i % 2}.7`));
    expect(fires(feed(await packEngine(), two))).toEqual([]);
    const nine = Array.from({ length: 9 }, (_, i) => failure(ev, t0 + i * 20 * sec, 'alice', `198.51.${i}.7`));
    expect(fires(feed(await packEngine(), nine))).toEqual([]);
  });

  const spray = (ev: ReturnType<typeof eventFactory>, users: string[]) =>
    users.flatMap((user, i) => [
      ev({ type: 'pg.auth_failed', time: t0 + i * 2 * min, user, addr: '203.0.113.50', severity: 'error' }),
      ...(i % 2 === 0
        ? [ev({ type: 'pg.auth_failed', time: t0 + i * 2 * min + sec, user, addr: '203.0.113.50', severity: 'error' })]
        : []),
    ]);

  it('raises a spray alert for 11 distinct usernames from one address in 30 min [M-03]', async () => {
    const ev = eventFactory();
    const users = Array.from({ length: 11 }, (_, i) => `user${i}`);
    const signals = feed(await packEngine(), spray(ev, users));
    expect(firedRules(signals)).toEqual(['pg-password-spray']);
    expect(fires(signals)[0]?.dedupeKey).toBe('pg-password-spray|addr=203.0.113.50');
    expect(fires(signals)[0]?.summary).toBe('failed logins for 11 accounts from 203.0.113.50 within 30 min');
  });

  it('raises nothing for 10 distinct usernames [M-03]', async () => {
    const ev = eventFactory();
    const users = Array.from({ length: 10 }, (_, i) => `user${i}`);
    expect(fires(feed(await packEngine(), spray(ev, users)))).toEqual([]);
  });

  it('counts Alice, alice and ALICE as one username [M-03]', async () => {
    const ev = eventFactory();
    // 9 others and four spellings of alice: 10 accounts.
    const users = [...Array.from({ length: 9 }, (_, i) => `user${i}`), 'Alice', 'alice ', ' ALICE', 'Ａｌｉｃｅ'];
    expect(fires(feed(await packEngine(), spray(ev, users)))).toEqual([]);
    const more = eventFactory('more');
    expect(firedRules(feed(await packEngine(), spray(more, [...users, 'bob'])))).toEqual(['pg-password-spray']);
  });

  it('raises a block spray alert when neighbouring addresses share the spray [M-03]', async () => {
    const ev = eventFactory();
    const events = Array.from({ length: 11 }, (_, i) =>
      failure(ev, t0 + i * min, `user${i}`, `203.0.113.${10 + (i % 3)}`),
    );
    const signals = feed(await packEngine(), events);
    expect(firedRules(signals)).toEqual(['pg-password-spray-block']);
    expect(fires(signals)[0]?.dedupeKey).toBe('pg-password-spray-block|addrBlock=203.0.113.0/24');
  });

  it('raises one stuffing alert and one compromise alert per account that succeeded [M-05]', async () => {
    const ev = eventFactory();
    const events: MonitorEvent[] = [];
    const succeeded: string[] = [];
    // 500 distinct pairs from 50 addresses (10 each, each address in its own /24); 2 % succeed:
    // the 8th attempt of the first 10 addresses.
    for (let ip = 0; ip < 50; ip += 1) {
      for (let k = 0; k < 10; k += 1) {
        const user = `user${ip * 10 + k}@example.com`;
        const time = t0 + (ip * 10 + k) * 600;
        const addr = `198.51.${ip}.20`;
        if (ip < 10 && k === 7) {
          succeeded.push(user);
          events.push(ev({ type: 'auth.login_succeeded', time, user, addr, severity: 'info' }));
        } else events.push(failure(ev, time, user, addr));
      }
    }
    const signals = feed(await packEngine(), events);
    const fired = fires(signals);
    expect(fired.filter((s) => s.rule.id === 'pg-credential-stuffing')).toHaveLength(1);
    const compromised = fired.filter((s) => s.rule.id === 'pg-success-from-attacking-address');
    expect(compromised.map((s) => s.group.user).sort()).toEqual([...succeeded].sort());
    expect(fired).toHaveLength(1 + succeeded.length);
    const stuffing = fired.find((s) => s.rule.id === 'pg-credential-stuffing');
    expect(stuffing?.dedupeKey).toBe('pg-credential-stuffing');
    expect(stuffing?.details).toMatchObject({ distinct: { 'user??fields.account': 100, addr: 11 } });
    // The rest of the attack joins the one stuffing incident.
    const updates = signals.filter((s) => s.kind === 'update' && s.rule.id === 'pg-credential-stuffing');
    expect((stuffing?.eventCount ?? 0) + updates.reduce((n, s) => n + s.eventCount, 0)).toBe(490);
  });

  it('raises a compromise alert for 5 failures then a success on one account within 10 min [M-06]', async () => {
    const ev = eventFactory();
    const events = [
      ...Array.from({ length: 5 }, (_, i) => failure(ev, t0 + i * min, 'bob', '203.0.113.77')),
      ev({ type: 'auth.login_succeeded', time: t0 + 6 * min, user: 'bob', addr: '203.0.113.77', severity: 'info' }),
    ];
    const signals = feed(await packEngine(), events);
    expect(firedRules(signals)).toEqual(['pg-account-compromise']);
    const [fire] = fires(signals);
    expect(fire?.dedupeKey).toBe('pg-account-compromise|user=bob');
    expect(fire?.eventCount).toBe(6);
    expect(fire?.eventIds).toEqual(events.map((e) => e.id));
    expect(fire?.summary).toContain('POSSIBLE_ACCOUNT_COMPROMISE');
  });

  it('raises no compromise alert for 4 failures then a success [M-06]', async () => {
    const ev = eventFactory();
    const events = [
      ...Array.from({ length: 4 }, (_, i) => failure(ev, t0 + i * min, 'bob', '203.0.113.77')),
      ev({ type: 'auth.login_succeeded', time: t0 + 6 * min, user: 'bob', addr: '203.0.113.77', severity: 'info' }),
    ];
    expect(fires(feed(await packEngine(), events))).toEqual([]);
  });

  it('raises no compromise alert when the failures lie more than 10 min before the success [M-06]', async () => {
    const ev = eventFactory();
    const events = [
      ...Array.from({ length: 5 }, (_, i) => failure(ev, t0 + i * sec, 'bob', '203.0.113.77')),
      ev({ type: 'auth.login_succeeded', time: t0 + 11 * min, user: 'bob', addr: '203.0.113.77', severity: 'info' }),
    ];
    expect(fires(feed(await packEngine(), events))).toEqual([]);
  });

  it('raises a token-theft alert for a reused refresh token and an MFA alert for 5 wrong codes, not 4', async () => {
    const ev = eventFactory();
    const reuse = ev({ type: 'auth.refresh_reuse_detected', time: t0, user: 'carol', severity: 'critical' });
    const codes = (n: number, user: string) =>
      Array.from({ length: n }, (_, i) =>
        ev({ type: 'auth.mfa_failed', time: t0 + i * min, user, fields: { reason: 'wrong_code' } }),
      );
    const signals = feed(
      await packEngine(),
      [reuse, ...codes(5, 'dave'), ...codes(4, 'erin')].sort((a, b) => a.time - b.time),
    );
    expect(firedRules(signals)).toEqual(['pg-mfa-guessing', 'pg-refresh-token-reuse']);
    expect(fires(signals).find((s) => s.rule.id === 'pg-mfa-guessing')?.group).toEqual({ user: 'dave' });
  });
});

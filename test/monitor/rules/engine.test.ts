import { describe, expect, it } from 'vitest';
import type { AlertSignal } from '../../../src/monitor/alert-signal.js';
import { parseRules, RuleEngine } from '../../../src/monitor/rules/index.js';
import { eventFactory, feed, fires, min, packEngine, sec, t0 } from './engine-helpers.js';

const bruteForce = (ev: ReturnType<typeof eventFactory>, time: number, user = 'alice', addr = '203.0.113.9') =>
  ev({ type: 'auth.login_failed', time, user, addr, fields: { reason: 'wrong_password' } });

describe('RuleEngine incidents [M-12]', () => {
  it('turns 1,000 failures into one fire and a few updates that count the rest [M-12]', async () => {
    const ev = eventFactory();
    const events = Array.from({ length: 1000 }, (_, i) => bruteForce(ev, t0 + i * 10));
    const signals = feed(await packEngine(), events);
    const fired = fires(signals);
    expect(fired).toHaveLength(1);
    expect(fired[0]?.eventCount).toBe(10);
    const updates = signals.filter((s) => s.kind === 'update');
    expect(updates.length).toBeGreaterThan(0);
    expect(updates.length).toBeLessThanOrEqual(11);
    expect(updates.reduce((n, s) => n + s.eventCount, 0)).toBe(990);
    expect(new Set(updates.map((s) => s.dedupeKey))).toEqual(new Set([fired[0]?.dedupeKey]));
    // Evidence: real event ids, oldest first, at most 50 per signal.
    const ids = new Set(events.map((e) => e.id));
    for (const s of signals) {
      expect(s.eventIds.length).toBeLessThanOrEqual(50);
      expect(s.eventIds.every((id) => ids.has(id))).toBe(true);
      expect(s.firstSeen).toBeLessThanOrEqual(s.lastSeen);
    }
    expect(fired[0]?.eventIds).toEqual(events.slice(0, 10).map((e) => e.id));
    expect(updates[0]?.eventIds[0]).toBe(events[10]?.id);
    expect(updates.at(-1)?.summary).toBe('1000 failed logins for alice from 203.0.113.9 within 5 min');
  });

  it('sends updates no more often than the update interval [M-12]', async () => {
    const ev = eventFactory();
    const engine = await packEngine({}, { updateIntervalMs: 5000 });
    const out: AlertSignal[] = [];
    for (let i = 0; i < 100; i += 1) {
      out.push(...engine.process(bruteForce(ev, t0 + i * 100)));
      out.push(...engine.flush(t0 + i * 100));
    }
    const updates = out.filter((s) => s.kind === 'update');
    expect(updates.length).toBe(1);
    expect(engine.flush(t0 + 20_000).reduce((n, s) => n + s.eventCount, 0) + (updates[0]?.eventCount ?? 0)).toBe(90);
  });

  it('closes an incident after a quiet window and fires again for a later burst, with the same key [M-12]', async () => {
    const ev = eventFactory();
    const first = Array.from({ length: 12 }, (_, i) => bruteForce(ev, t0 + i * sec));
    const later = Array.from({ length: 10 }, (_, i) => bruteForce(ev, t0 + 20 * min + i * sec));
    const signals = feed(await packEngine(), [...first, ...later]);
    const fired = fires(signals);
    expect(fired).toHaveLength(2);
    expect(fired[0]?.dedupeKey).toBe(fired[1]?.dedupeKey);
    expect(fired[1]?.eventIds).toEqual(later.map((e) => e.id));
    expect(fired[0]?.rule.suppressSeconds).toBe(3600);
  });

  it('keeps the incident open while events keep coming within the window [M-12]', async () => {
    const ev = eventFactory();
    // One failure every 4 min for an hour after the burst: never a quiet 5 min.
    const burst = Array.from({ length: 10 }, (_, i) => bruteForce(ev, t0 + i * sec));
    const trickle = Array.from({ length: 15 }, (_, i) => bruteForce(ev, t0 + (i + 1) * 4 * min));
    const signals = feed(await packEngine(), [...burst, ...trickle]);
    expect(fires(signals)).toHaveLength(1);
    expect(signals.filter((s) => s.kind === 'update').reduce((n, s) => n + s.eventCount, 0)).toBe(15);
  });

  it('gives stable dedupe keys, escaping separators in values [M-12]', async () => {
    const [rule] = parseRules(
      'id: t.key\ntitle: T\nseverity: low\nattack: [T1078]\nmatch: { type: x }\ngroup_by: [user, fields.app]\n',
      'inline.yml',
    );
    const ev = eventFactory();
    const keyOf = () =>
      new RuleEngine({ rules: [rule!] }).process(
        ev({ type: 'x', time: t0, user: 'Bob ', fields: { app: 'a|b=c%' } }),
      )[0]?.dedupeKey;
    expect(keyOf()).toBe('t.key|user=bob|fields.app=a%7Cb=c%25');
    expect(keyOf()).toBe(keyOf());
    const missing = new RuleEngine({ rules: [rule!] }).process(ev({ type: 'x', time: t0 }))[0];
    expect(missing?.dedupeKey).toBe('t.key|user=|fields.app=');
    expect(missing?.group).toEqual({});
  });
});

describe('RuleEngine windows use the receive time [M-15]', () => {
  it('counts events whose client timestamps claim to be hours old [M-15]', async () => {
    const ev = eventFactory();
    const events = Array.from({ length: 10 }, (_, i) => ({
      ...bruteForce(ev, t0 + i * sec),
      occurredAt: t0 - 3 * 3600_000 - i * 20 * min,
    }));
    expect(fires(feed(await packEngine(), events)).map((s) => s.rule.id)).toEqual(['pg-brute-force']);
  });

  it('does not count events received over 2 h even when their timestamps say one minute [M-15]', async () => {
    const ev = eventFactory();
    const events = Array.from({ length: 10 }, (_, i) => ({
      ...bruteForce(ev, t0 + i * 13 * min),
      occurredAt: t0 + i * sec,
    }));
    expect(fires(feed(await packEngine(), events))).toEqual([]);
  });
});

describe('RuleEngine memory', () => {
  it('keeps at most maxGroupsPerRule groups for 1M distinct addresses, and none after a quiet window', async () => {
    const engine = await packEngine({}, { maxGroupsPerRule: 20_000 });
    for (let i = 0; i < 1_000_000; i += 1) {
      const time = t0 + Math.floor(i / 20);
      engine.process({
        id: `m:${i}`,
        source: 'security-event',
        type: 'context.token_rejected',
        time,
        severity: 'warning',
        addr: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        fields: { reason: 'signature' },
      });
      if (i % 20_000 === 0) engine.flush(time);
    }
    const stats = engine.stats();
    expect(stats.eventsProcessed).toBe(1_000_000);
    expect(stats.eventsMatched).toBe(1_000_000);
    expect(stats.groups).toBeLessThanOrEqual(20_000);
    expect(stats.groupsEvicted).toBeGreaterThanOrEqual(1_000_000 - 20_000);
    engine.flush(t0 + 2 * 86_400_000);
    expect(engine.stats().groups).toBe(0);
  }, 120_000);

  it('caps the groups of every rule, those of sequence conditions included, for distinct failing logins', async () => {
    const engine = await packEngine({}, { maxGroupsPerRule: 2000 });
    const rules = engine.stats().rules;
    for (let i = 0; i < 100_000; i += 1) {
      const addr = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      engine.process({
        id: `m:${i}`,
        source: 'server-log',
        type: 'pg.auth_failed',
        time: t0 + i,
        severity: 'error',
        user: `u${i}`,
        addr,
        addrBlock: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.0/24`,
        fields: {},
      });
    }
    const { groupsByRule } = engine.stats();
    expect(Object.keys(groupsByRule)).toHaveLength(rules);
    // Per rule at most 2000 groups, plus at most 2000 of its `after` condition.
    expect(groupsByRule['pg-password-spray']).toBe(2000);
    expect(groupsByRule['pg-brute-force']).toBe(2000);
    expect(groupsByRule['pg-success-from-attacking-address']).toBe(2000);
    for (const n of Object.values(groupsByRule)) expect(n).toBeLessThanOrEqual(4000);
  }, 60_000);
});

import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import type { AlertSignal } from '../../../src/monitor/alert-signal.js';
import type { MonitorEvent } from '../../../src/monitor/event.js';
import { parseRules, RuleEngine, type RuleEngineSnapshot, ruleFingerprint } from '../../../src/monitor/rules/index.js';
import { eventFactory, min, packEngine, sec, t0 } from './engine-helpers.js';

// The engine's windows across a monitor restart: a snapshot taken by one engine, stored as JSON
// (what monitor.rule_state keeps), restored into a new one that goes on counting.

const failure = (ev: ReturnType<typeof eventFactory>, time: number, user = 'alice', addr = '203.0.113.9') =>
  ev({ type: 'auth.login_failed', time, user, addr, fields: { reason: 'wrong_password' } });

const isSeenCase = (input: unknown) =>
  typeof input === 'object' &&
  input !== null &&
  'seen' in input &&
  (input as RuleEngineSnapshot).seen.times.length === 0;

/** The snapshot as it comes back from the jsonb column. */
const stored = (s: RuleEngineSnapshot): unknown => JSON.parse(JSON.stringify(s)) as unknown;

const run = (engine: RuleEngine, events: readonly MonitorEvent[]) => events.flatMap((e) => engine.process(e));
const firesOf = (signals: readonly AlertSignal[], rule: string) =>
  signals.filter((s) => s.kind === 'fire' && s.rule.id === rule);

/** `n` failures one second apart from `start`. */
const burst = (ev: ReturnType<typeof eventFactory>, n: number, start: number, user?: string, addr?: string) =>
  Array.from({ length: n }, (_, i) => failure(ev, start + i * sec, user, addr));

describe('RuleEngine.snapshot / restore', () => {
  it('counts 5 failures before and 5 after a restart as one brute-force incident of 10 [M-01]', async () => {
    const ev = eventFactory();
    const before = burst(ev, 5, t0);
    const old = await packEngine();
    expect(firesOf(run(old, before), 'pg-brute-force')).toEqual([]);
    const snapshot = old.snapshot(t0 + 10 * sec);

    const engine = await packEngine();
    const report = engine.restore(stored(snapshot), t0 + 30 * sec);
    expect(report.restored).toBe(true);
    expect(report.groups).toBeGreaterThan(0);
    const after = burst(ev, 5, t0 + 30 * sec);
    const signals = run(engine, after);
    const [fire, ...more] = firesOf(signals, 'pg-brute-force');
    expect(more).toEqual([]);
    expect(fire?.eventCount).toBe(10);
    expect(fire?.firstSeen).toBe(t0);
    expect(fire?.lastSeen).toBe(t0 + 34 * sec);
    expect(fire?.eventIds).toEqual([...before, ...after].map((e) => e.id));
    expect(fire?.summary).toBe('10 failed logins for alice from 203.0.113.9 within 5 min');
  });

  it('does not fire for 4 failures before and 5 after a restart (boundary) [M-01]', async () => {
    const ev = eventFactory();
    const old = await packEngine();
    run(old, burst(ev, 4, t0));
    const engine = await packEngine();
    engine.restore(stored(old.snapshot(t0 + 10 * sec)), t0 + 30 * sec);
    expect(firesOf(run(engine, burst(ev, 5, t0 + 30 * sec)), 'pg-brute-force')).toEqual([]);
    // The tenth does.
    expect(firesOf(engine.process(failure(ev, t0 + 40 * sec)), 'pg-brute-force')[0]?.eventCount).toBe(10);
  });

  it('keeps distinct values and sequences: distributed brute force and success after failures [M-02] [M-06]', async () => {
    const ev = eventFactory();
    const old = await packEngine();
    run(old, [...burst(ev, 3, t0, 'bob', '198.51.100.1'), ...burst(ev, 2, t0 + 5 * sec, 'bob', '198.51.100.2')]);
    const engine = await packEngine();
    engine.restore(stored(old.snapshot(t0 + 10 * sec)), t0 + 20 * sec);
    const signals = run(engine, burst(ev, 5, t0 + 20 * sec, 'bob', '198.51.100.3'));
    const [fire] = firesOf(signals, 'pg-distributed-brute-force');
    expect(fire?.eventCount).toBe(10);
    expect(fire?.details?.distinct).toEqual({ addr: 3 });
    // Five failures before the restart, the success after it: M-06 across the restart.
    const success = ev({ type: 'auth.login_succeeded', time: t0 + 40 * sec, user: 'bob', addr: '198.51.100.3' });
    expect(firesOf(engine.process(success), 'pg-account-compromise')).toHaveLength(1);
  });

  it('does not count twice the events a source delivers again after the restart', async () => {
    const ev = eventFactory();
    const before = burst(ev, 5, t0);
    const old = await packEngine();
    run(old, before);
    const engine = await packEngine();
    expect(engine.restore(stored(old.snapshot(t0 + 10 * sec)), t0 + 30 * sec).seenIds).toBeGreaterThanOrEqual(5);
    // The last batch read again (same ids, received again), then five new failures.
    const repeated = before.slice(2).map((e, i) => ({ ...e, time: t0 + 30 * sec + i }));
    const fresh = burst(ev, 5, t0 + 31 * sec);
    expect(firesOf(run(engine, repeated), 'pg-brute-force')).toEqual([]);
    const signals = run(engine, fresh.slice(0, 4));
    expect(firesOf(signals, 'pg-brute-force')).toEqual([]);
    const [fire] = firesOf(engine.process(fresh[4]!), 'pg-brute-force');
    expect(fire?.eventCount).toBe(10);
    expect(new Set(fire?.eventIds).size).toBe(10);
    expect(engine.stats().eventsSkipped).toBe(3);
  });

  it('stops checking ids once the restored ones aged out', async () => {
    const ev = eventFactory();
    const before = burst(ev, 5, t0);
    const old = await packEngine({}, { recentIdsMs: 2 * min });
    run(old, before);
    const engine = await packEngine({}, { recentIdsMs: 2 * min });
    engine.restore(stored(old.snapshot(t0 + 10 * sec)), t0 + 20 * sec);
    engine.process({ ...before[0]!, time: t0 + 30 * sec });
    expect(engine.stats().eventsSkipped).toBe(1);
    // Past the guard (restore + 2 min) the same id is a new event again.
    engine.process({ ...before[1]!, time: t0 + 20 * sec + 2 * min + 1 });
    engine.process({ ...before[0]!, time: t0 + 20 * sec + 2 * min + 2 });
    expect(engine.stats().eventsSkipped).toBe(1);
    expect(engine.stats().eventsProcessed).toBe(2);
  });

  it('does not fire again for an incident that fired before the restart; its new events are updates [M-12]', async () => {
    const ev = eventFactory();
    const old = await packEngine();
    const first = run(old, burst(ev, 12, t0));
    expect(firesOf(first, 'pg-brute-force')).toHaveLength(1);
    const snapshot = old.snapshot(t0 + 15 * sec);
    // The daemon flushes after the snapshot: the 2 pending events go out with the old engine.
    const lastUpdate = old.flush(t0 + 15 * sec).filter((s) => s.rule.id === 'pg-brute-force');
    expect(lastUpdate.map((s) => s.eventCount)).toEqual([2]);

    const engine = await packEngine();
    expect(engine.restore(stored(snapshot), t0 + 40 * sec).incidents).toBeGreaterThanOrEqual(1);
    const signals = run(engine, burst(ev, 3, t0 + 40 * sec));
    expect(firesOf(signals, 'pg-brute-force')).toEqual([]);
    const updates = engine.flush(t0 + 45 * sec).filter((s) => s.rule.id === 'pg-brute-force');
    expect(updates.map((s) => [s.kind, s.eventCount, s.dedupeKey])).toEqual([
      ['update', 3, 'pg-brute-force|user=alice|addr=203.0.113.9'],
    ]);
    expect(updates[0]?.summary).toBe('15 failed logins for alice from 203.0.113.9 within 5 min');
  });

  it('starts a rule empty when its definition changed, and keeps it for a title or severity edit', async () => {
    const ev = eventFactory();
    const old = await packEngine();
    run(old, burst(ev, 5, t0));
    const snapshot = stored(old.snapshot(t0 + 10 * sec));

    const changed = await packEngine({ overrides: { 'pg-brute-force': { window: '10m' } } });
    const report = changed.restore(snapshot, t0 + 30 * sec);
    expect(report.skipped['rule-changed']).toBe(1);
    expect(changed.stats().groupsByRule['pg-brute-force']).toBe(0);
    expect(firesOf(run(changed, burst(ev, 5, t0 + 30 * sec)), 'pg-brute-force')).toEqual([]);

    const reworded = await packEngine({ overrides: { 'pg-brute-force': { severity: 'critical' } } });
    expect(reworded.restore(snapshot, t0 + 30 * sec).skipped['rule-changed']).toBeUndefined();
    const [fire] = firesOf(run(reworded, burst(ev, 5, t0 + 30 * sec)), 'pg-brute-force');
    expect([fire?.eventCount, fire?.rule.severity]).toEqual([10, 'critical']);

    const without = await packEngine({ disable: ['pg-brute-force'] });
    expect(without.restore(snapshot, t0 + 30 * sec).skipped['rule-gone']).toBe(1);
  });

  it('drops what expired by the time of the restore, and a state older than the longest window', async () => {
    const ev = eventFactory();
    const old = await packEngine();
    // 3 failures at t0, 4 at t0 + 3 min; restored at t0 + 5.5 min, only the 4 are still in the window.
    run(old, [...burst(ev, 3, t0), ...burst(ev, 4, t0 + 3 * min)]);
    run(old, burst(ev, 9, t0, 'carol'));
    const snapshot = stored(old.snapshot(t0 + 3 * min + 10 * sec));
    const engine = await packEngine();
    const report = engine.restore(snapshot, t0 + 5.5 * min);
    expect(report.skipped.expired).toBeGreaterThanOrEqual(1); // carol's group
    expect(firesOf(run(engine, burst(ev, 5, t0 + 5.5 * min, 'carol')), 'pg-brute-force')).toEqual([]);
    const alice = run(engine, burst(ev, 6, t0 + 5.5 * min));
    // Fired by the 6th: 4 kept + 6 (had the 3 old ones been kept, the 3rd would have fired).
    expect(firesOf(alice, 'pg-brute-force').map((s) => [s.eventCount, s.lastSeen])).toEqual([
      [10, t0 + 5.5 * min + 5 * sec],
    ]);

    // The pack's longest window is 1 h: a state saved 61 min before is ignored whole.
    const late = await packEngine();
    const stale = late.restore(snapshot, t0 + 3 * min + 10 * sec + 61 * min);
    expect([stale.restored, stale.skipped.stale, late.stats().groups]).toEqual([false, 1, 0]);
  });

  it('ignores a corrupt or wrong-version state without throwing, and still counts', async () => {
    const ev = eventFactory();
    const old = await packEngine();
    run(old, burst(ev, 5, t0));
    const good = stored(old.snapshot(t0 + 10 * sec)) as RuleEngineSnapshot;
    const brute = good.rules['pg-brute-force']!;
    const group = brute.groups[0]!;
    const bad: [unknown, string][] = [
      [null, 'malformed'],
      ['{"v":1}', 'malformed'],
      [[good], 'malformed'],
      [{ ...good, v: 2 }, 'version'],
      [{ ...good, at: 'yesterday' }, 'malformed'],
      [{ ...good, at: t0 + 2 * 86_400_000 }, 'future'],
      [{ ...good, rules: { 'pg-brute-force': { ...brute, groups: 'many' } } }, 'malformed'],
      [{ ...good, rules: { 'pg-brute-force': { ...brute, groups: [{ ...group, key: 7 }] } } }, 'malformed'],
      [{ ...good, rules: { 'pg-brute-force': { ...brute, groups: [{ ...group, parts: [] }] } } }, 'malformed'],
      [
        {
          ...good,
          rules: { 'pg-brute-force': { ...brute, groups: [{ ...group, ring: { times: [3, 2], ids: ['a', 'b'] } }] } },
        },
        'malformed',
      ],
      [
        { ...good, rules: { 'pg-brute-force': { ...brute, groups: [{ ...group, incident: { total: 'x' } }] } } },
        'malformed',
      ],
      [{ ...good, seen: { ids: [1], times: [] } }, 'malformed'], // the groups are restored, the ids not
    ];
    for (const [input, reason] of bad) {
      const engine = await packEngine();
      const report = engine.restore(input, t0 + 30 * sec);
      expect(report.skipped[reason as keyof typeof report.skipped], JSON.stringify(input).slice(0, 200)).toBe(1);
      const seenOnly = isSeenCase(input);
      expect(engine.stats().groupsByRule['pg-brute-force']).toBe(seenOnly ? 1 : 0);
      // The engine works as a fresh one: ten new failures fire.
      const signals = run(engine, burst(ev, 10, t0 + 30 * sec, `fresh-${reason}`));
      expect(firesOf(signals, 'pg-brute-force').map((s) => s.eventCount)).toEqual([10]);
    }
    // A bad group among good ones: the good ones are restored.
    const mixed = { ...good, rules: { ...good.rules, 'pg-brute-force': { ...brute, groups: [{ key: 1 }, group] } } };
    const engine = await packEngine();
    const report = engine.restore(mixed, t0 + 30 * sec);
    expect(report.skipped.malformed).toBe(1);
    expect(firesOf(run(engine, burst(ev, 5, t0 + 30 * sec)), 'pg-brute-force').map((s) => s.eventCount)).toEqual([10]);
  });

  it('keeps a full engine snapshot under its byte bound, newest groups first, and the group cap on restore', () => {
    const [rule] = parseRules(
      [
        'id: test-brute-force',
        'title: Brute force',
        'severity: high',
        'attack: [T1110.001]',
        'match: { type: auth.login_failed }',
        'group_by: [user, addr]',
        'window: 30m',
        'threshold: { count: 10 }',
      ].join('\n'),
      'state.yml',
    );
    const ev = eventFactory('log:/var/lib/postgresql/17/main/log/postgresql-2024-05-01_090000.json');
    const old = new RuleEngine({ rules: [rule!] });
    // 20,000 groups one event short of the threshold: about 14 MB as JSON without a bound.
    const groups = 20_000;
    for (let g = 0; g < groups; g += 1)
      for (let i = 0; i < 9; i += 1) old.process(failure(ev, t0 + g * 10 + i, `user-${g}@example.com`, '203.0.113.9'));
    expect(old.stats().groups).toBe(groups);
    const now = t0 + groups * 10;
    const full = old.snapshot(now);
    expect(Buffer.byteLength(JSON.stringify(full))).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(full.omitted).toBeGreaterThan(0);
    const small = old.snapshot(now, { maxBytes: 64 * 1024 });
    expect(Buffer.byteLength(JSON.stringify(small))).toBeLessThanOrEqual(64 * 1024);
    const kept = small.rules['test-brute-force']!.groups;
    expect(kept.length + small.omitted).toBe(groups);
    // The newest are kept, oldest first (the order a restore inserts them in).
    expect(kept.at(-1)?.parts).toEqual([
      ['user', `user-${groups - 1}@example.com`],
      ['addr', '203.0.113.9'],
    ]);

    const capped = new RuleEngine({ rules: [rule!], maxGroupsPerRule: 100 });
    capped.restore(stored(full), now);
    expect(capped.stats().groupsByRule['test-brute-force']).toBe(100);
    const newest = capped.process(failure(ev, now + 1, `user-${groups - 1}@example.com`, '203.0.113.9'));
    expect(newest.map((s) => s.eventCount)).toEqual([10]);
    expect(capped.process(failure(ev, now + 2, 'user-0@example.com', '203.0.113.9'))).toEqual([]);
    expect(ruleFingerprint(rule!)).toBe(full.rules['test-brute-force']!.fingerprint);
  });
});

import { describe, expect, it } from 'vitest';
import { UserAnalytics } from '../../../src/monitor/analytics/index.js';
import { alice, DAY, ev, HOUR, MONDAY, Recorder, seeded, weekdays, workday, type Worker } from './simulate.js';

const bob: Worker = { ...alice, user: 'bob@example.com' };

describe('UserAnalytics cold start', () => {
  it('reports a 2-day-old user’s odd login as learning, with a small capped weight and no anomaly event', () => {
    const analytics = new UserAnalytics();
    const rec = new Recorder(analytics);
    weekdays(rec, bob, MONDAY, 2, seeded(3)); // Mon + Tue: 82 events, but under 3 days old
    expect(analytics.risk(bob.user).events).toBeGreaterThan(50);
    const before = analytics.stats();
    const r = rec.observe(ev(bob.user, MONDAY + 2 * DAY + 3 * HOUR, 'pg.login', { addr: '198.51.100.7' }));
    expect(r.learning).toBe(true);
    expect(r.anomalies.map((a) => [a.code, a.learning, a.weight]).sort()).toEqual([
      ['new_address', true, 10],
      ['unusual_hour', true, 8.8],
    ]);
    expect(r.score).toBe(15); // 18.8 points of learning reasons, capped at 15
    expect(r.events).toEqual([]);
    expect(analytics.stats().learningAnomalies).toBe(before.learningAnomalies + 2);
    expect(analytics.stats().anomalyEvents).toBe(0);
  });

  it('never lets learning reasons alone reach the threshold, however many pile up', () => {
    const analytics = new UserAnalytics();
    const rec = new Recorder(analytics);
    weekdays(rec, bob, MONDAY, 2, seeded(3));
    const t = MONDAY + 2 * DAY + 3 * HOUR;
    for (let i = 0; i < 30; i++) {
      rec.observe(ev(bob.user, t + i * 60_000, 'pg.login', { addr: `203.0.${i}.1` }));
      rec.observe(ev(bob.user, t + i * 60_000, 'pg.rows_read', { addr: `203.0.${i}.1`, fields: { rows: 500_000 } }));
    }
    expect(rec.results.flatMap((r) => r.anomalies).length).toBeGreaterThan(30);
    expect(Math.max(...rec.results.map((r) => r.score))).toBe(15);
    expect(rec.events).toEqual([]);
    // Even with a high alert naming the user the learning part stays capped, and alerts raise nothing.
    analytics.noteAlert(bob.user, 'critical', 'Brute force');
    const after = rec.observe(ev(bob.user, t + 31 * 60_000, 'pg.login', { addr: '203.0.200.1' }));
    expect(after.score).toBeLessThan(70);
    expect(rec.events).toEqual([]);
  });

  it('keeps a user older than 3 days but with only 49 events learning; the 50th event ends it', () => {
    const analytics = new UserAnalytics();
    const rec = new Recorder(analytics);
    // One login and six statements a day, five days: 35 events over 5 days.
    const quiet = (day: number, n: number) => {
      for (let i = 0; i < n; i++) {
        rec.observe(ev('carol', MONDAY + day * DAY + 10 * HOUR + i * 60_000, 'pg.statement', { addr: '192.0.2.30' }));
      }
    };
    for (let d = 0; d < 5; d++) quiet(d, 7);
    quiet(5, 14); // 49 events in all
    expect(analytics.risk('carol').events).toBe(49);
    const odd = (t: number, addr: string) => rec.observe(ev('carol', t, 'pg.login', { addr }));
    const at49 = odd(MONDAY + 6 * DAY + 3 * HOUR, '198.51.100.7');
    expect(at49.learning).toBe(true);
    expect(at49.anomalies.map((a) => a.code).sort()).toEqual(['new_address', 'unusual_hour']);
    const at50 = odd(MONDAY + 6 * DAY + 4 * HOUR, '198.51.101.7');
    expect(at50.learning).toBe(false);
    expect(at50.anomalies.every((a) => !a.learning)).toBe(true);
  });

  it('scores nothing at all for a principal’s first 10 events (everything is new to it)', () => {
    const analytics = new UserAnalytics();
    const rec = new Recorder(analytics);
    for (let i = 0; i < 10; i++) {
      rec.observe(ev('dave', MONDAY + i * 7 * HOUR, 'pg.login', { addr: `198.51.${i}.1` }));
    }
    expect(rec.results.every((r) => r.learning && r.anomalies.length === 0)).toBe(true);
    const eleventh = rec.observe(ev('dave', MONDAY + 3 * DAY, 'pg.login', { addr: '198.51.99.1' }));
    expect(eleventh.anomalies.map((a) => a.code)).toContain('new_address');
    expect(eleventh.learning).toBe(true);
  });

  it('leaves cold start after 3 days and 50 events: the same odd login then raises an event', () => {
    const analytics = new UserAnalytics();
    const rec = new Recorder(analytics);
    weekdays(rec, bob, MONDAY, 3, seeded(3));
    workday(rec, bob, MONDAY + 3 * DAY, seeded(4));
    const r = rec.observe(ev(bob.user, MONDAY + 4 * DAY + 3 * HOUR, 'pg.login', { addr: '198.51.100.7' }));
    expect(r.learning).toBe(false);
    expect(r.events).toHaveLength(1);
  });
});

import { describe, expect, it } from 'vitest';
import { UserAnalytics } from '../../../src/monitor/analytics/index.js';
import { alice, DAY, ev, HOUR, MONDAY, Recorder, seeded, weekdays, workday } from './simulate.js';

/** Alice after two working weeks (Mon 1 – Fri 12 Jan 2024); the clock stands on Sunday 14 Jan 03:00. */
function trainedAlice() {
  let now = MONDAY;
  const analytics = new UserAnalytics({ clock: () => now });
  const rec = new Recorder(analytics);
  weekdays(rec, alice, MONDAY, 14, seeded(1));
  const sunday3am = MONDAY + 13 * DAY + 3 * HOUR;
  now = sunday3am;
  return { analytics, rec, sunday3am, setNow: (t: number) => (now = t) };
}

describe('UserAnalytics scoring', () => {
  it('learns two weeks of office hours without a single anomaly event', () => {
    const { analytics, rec } = trainedAlice();
    expect(rec.events).toEqual([]);
    // After the learning period nothing of the routine is anomalous.
    const late = rec.results.slice(Math.floor(rec.results.length / 2));
    expect(late.flatMap((r) => r.anomalies)).toEqual([]);
    expect(analytics.risk(alice.user)).toMatchObject({ score: 0, learning: false });
    expect(analytics.risk(alice.user).events).toBe(rec.results.length);
  });

  it('flags a Sunday 03:00 login from a new /24 with unusual_hour + new_address and raises one anomaly event', () => {
    const { analytics, rec, sunday3am } = trainedAlice();
    rec.clear();
    const r = rec.observe(ev(alice.user, sunday3am + 2 * 60_000, 'pg.login', { addr: '198.51.100.7' }));
    expect(r.learning).toBe(false);
    expect(r.anomalies.map((a) => a.code).sort()).toEqual(['new_address', 'unusual_hour']);
    const newAddr = r.anomalies.find((a) => a.code === 'new_address')!;
    expect(newAddr.explanation).toBe(
      'first login from 198.51.100.7 (block 198.51.100.0/24 never seen) in 12 days of history',
    );
    expect(r.anomalies.find((a) => a.code === 'unusual_hour')!.explanation).toMatch(
      /^login on Sun 03:00 UTC, an hour holding 0\.0%/,
    );
    expect(r.score).toBeGreaterThanOrEqual(70);
    expect(r.events).toHaveLength(1);
    const [event] = r.events;
    expect(event).toMatchObject({
      id: `ueba:${alice.user}:${sunday3am + 2 * 60_000}`,
      source: 'monitor',
      type: 'ueba.anomaly',
      severity: 'warning',
      user: alice.user,
      addr: '198.51.100.7',
      fields: { score: r.score, reason: 'new_address' },
    });
    expect(String(event!.fields.reasons).split(',').sort()).toEqual(['new_address', 'unusual_hour']);
    expect(event!.time).toBeUndefined();

    const risk = analytics.risk(alice.user);
    expect(risk.score).toBe(r.score);
    // Most recent first; both come from the same event (raised in detector order).
    expect(risk.reasons.map((x) => [x.code, x.time, x.weight, x.learning])).toEqual([
      ['unusual_hour', sunday3am + 2 * 60_000, 35, false],
      ['new_address', sunday3am + 2 * 60_000, 40, false],
    ]);
    expect(risk.profileAge).toBeGreaterThan(12 * DAY);
  });

  it('respects the cool-down on repeats: the same session and a neighbour address raise nothing more [M-12]', () => {
    const { rec, sunday3am } = trainedAlice();
    rec.clear();
    rec.observe(ev(alice.user, sunday3am, 'pg.login', { addr: '198.51.100.7' }));
    expect(rec.events).toHaveLength(1);
    // The same session goes on: the address is known now and the hour already reported.
    for (let i = 1; i <= 20; i++) {
      const r = rec.observe(ev(alice.user, sunday3am + i * 10_000, 'pg.statement', { addr: '198.51.100.7' }));
      expect(r.anomalies).toEqual([]);
    }
    // A second address in the now-known block: a weak reason; the score stays above the
    // threshold but rises by less than 15, so the cool-down holds.
    const r = rec.observe(ev(alice.user, sunday3am + 5 * 60_000, 'pg.login', { addr: '198.51.100.8' }));
    expect(r.anomalies.map((a) => a.code)).toEqual(['new_address_block']);
    expect(r.score).toBeGreaterThanOrEqual(70);
    expect(rec.events).toHaveLength(1);
  });

  it('raises again after the cool-down when new reasons keep the score above the threshold', () => {
    const { rec, sunday3am } = trainedAlice();
    rec.clear();
    rec.observe(ev(alice.user, sunday3am, 'pg.login', { addr: '198.51.100.7' }));
    const inside = rec.observe(ev(alice.user, sunday3am + 59 * 60_000, 'pg.login', { addr: '203.0.113.9' }));
    expect(inside.anomalies.map((a) => a.code)).toEqual(['new_address']);
    expect(inside.score).toBeGreaterThanOrEqual(70);
    expect(rec.events).toHaveLength(1);
    const after = rec.observe(ev(alice.user, sunday3am + 61 * 60_000, 'pg.login', { addr: '203.0.114.9' }));
    expect(after.anomalies.map((a) => a.code).sort()).toEqual(['new_address', 'unusual_hour']);
    expect(rec.events).toHaveLength(2);
  });

  it('raises again inside the cool-down only when the score rose by at least 15', () => {
    const { rec, sunday3am } = trainedAlice();
    rec.clear();
    const first = rec.observe(ev(alice.user, sunday3am, 'pg.login', { addr: '198.51.100.7' }));
    const again = rec.observe(ev(alice.user, sunday3am + 10 * 60_000, 'pg.login', { addr: '203.0.113.50' }));
    expect(again.anomalies.map((a) => a.code)).toEqual(['new_address']);
    expect(again.score).toBeGreaterThanOrEqual(first.score + 15);
    expect(rec.events).toHaveLength(2);
    expect(rec.events[1]!.fields.score).toBe(again.score);
  });

  it('stays quiet on the next normal Monday while the score decays', () => {
    const { analytics, rec, sunday3am, setNow } = trainedAlice();
    rec.clear();
    const hit = rec.observe(ev(alice.user, sunday3am, 'pg.login', { addr: '198.51.100.7' }));
    const monday = MONDAY + 14 * DAY;
    setNow(sunday3am + 2 * HOUR);
    const twoHoursLater = analytics.risk(alice.user).score;
    expect(twoHoursLater).toBeLessThan(hit.score);
    expect(twoHoursLater).toBe(Math.round(hit.score / 4));
    workday(rec, alice, monday, seeded(7));
    expect(rec.events).toHaveLength(1);
    expect(rec.results.slice(1).flatMap((r) => r.anomalies)).toEqual([]);
    setNow(monday + 17 * HOUR);
    expect(analytics.risk(alice.user).score).toBe(0);
    // The reasons stay listed (most recent first) though they no longer weigh.
    expect(analytics.risk(alice.user).reasons[0]).toMatchObject({ code: expect.any(String), contribution: 0 });
  });

  it('reports a volume spike of 200 000 rows in an hour with its z-score', () => {
    const { rec, analytics } = trainedAlice();
    rec.clear();
    const monday10 = MONDAY + 14 * DAY + 10 * HOUR;
    rec.observe(ev(alice.user, monday10 + 60_000, 'pg.login', { addr: alice.addrs[0] }));
    const r = rec.observe(ev(alice.user, monday10 + 5 * 60_000, 'pg.rows_read', { fields: { rows: 200_000 } }));
    expect(r.anomalies.map((a) => a.code)).toEqual(['volume_spike']);
    expect(r.anomalies[0]!.explanation).toMatch(
      /^200,000 rows read or changed this hour against a usual \d{3,5} ± \d+ per active hour \(z-score \d{3,}\.\d\)$/,
    );
    // A spike this size alone reaches the threshold (exfiltration needs no second signal).
    expect(r.anomalies[0]!.weight).toBeGreaterThanOrEqual(70);
    expect(rec.events).toHaveLength(1);
    // One reason per hour: more rows in the same hour add nothing.
    const more = rec.observe(ev(alice.user, monday10 + 10 * 60_000, 'pg.rows_read', { fields: { rows: 50_000 } }));
    expect(more.anomalies).toEqual([]);
    expect(analytics.stats().anomalyEvents).toBe(1);
  });

  it('does not call a volume below the minimum a spike, however high its z-score', () => {
    const { rec } = trainedAlice();
    rec.clear();
    const monday10 = MONDAY + 14 * DAY + 10 * HOUR;
    const r = rec.observe(ev(alice.user, monday10, 'pg.rows_read', { addr: alice.addrs[0], fields: { rows: 9_999 } }));
    expect(r.anomalies).toEqual([]);
    const spike = rec.observe(
      ev(alice.user, monday10 + 60_000, 'pg.rows_read', { addr: alice.addrs[0], fields: { rows: 1 } }),
    );
    expect(spike.anomalies.map((a) => a.code)).toEqual(['volume_spike']);
  });

  it('reports an error burst of 10 errors in two minutes, not 9', () => {
    const { rec } = trainedAlice();
    rec.clear();
    const t = MONDAY + 14 * DAY + 11 * HOUR;
    const codes = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        rec.observe(ev(alice.user, t + i * 10_000, 'pg.error', { addr: alice.addrs[0], sqlstate: '42501' })),
      ).flatMap((r) => r.anomalies.map((a) => a.code));
    expect(codes(9)).toEqual([]);
    const tenth = rec.observe(ev(alice.user, t + 95_000, 'pg.error', { addr: alice.addrs[0] }));
    expect(tenth.anomalies.map((a) => a.code)).toEqual(['error_burst']);
    expect(tenth.anomalies[0]!.explanation).toMatch(
      /^10 errors among the last ~10 events \(\d+\.\d%\), against a usual error rate of 0\.0%$/,
    );
  });

  it('reports a table the user never touched, once per quarter hour', () => {
    const { rec } = trainedAlice();
    rec.clear();
    const t = MONDAY + 14 * DAY + 10 * HOUR;
    const read = (table: string, at: number) =>
      rec.observe(ev(alice.user, at, 'pg.table_read', { addr: alice.addrs[0], fields: { table } })).anomalies;
    expect(read('public.orders', t)).toEqual([]);
    expect(read('hr.salaries', t + 60_000).map((a) => [a.code, a.explanation])).toEqual([
      ['new_table', 'first access to table hr.salaries (3 tables known before)'],
    ]);
    expect(read('hr.reviews', t + 2 * 60_000)).toEqual([]);
    expect(read('hr.bonuses', t + 17 * 60_000).map((a) => a.code)).toEqual(['new_table']);
  });

  it('neither learns nor flags addresses and hours from failed logins', () => {
    const { rec, analytics, sunday3am } = trainedAlice();
    rec.clear();
    const failed = rec.observe(ev(alice.user, sunday3am, 'auth.login_failed', { addr: '198.51.100.7' }));
    expect(failed.anomalies).toEqual([]);
    expect(analytics.profileOf(alice.user)!.addrs.map(([a]) => a)).not.toContain('198.51.100.7');
    // When the guess finally succeeds, the address is still new.
    const success = rec.observe(ev(alice.user, sunday3am + 60_000, 'auth.login_succeeded', { addr: '198.51.100.7' }));
    expect(success.anomalies.map((a) => a.code).sort()).toEqual(['new_address', 'unusual_hour']);
  });

  it('ignores the monitor’s own events and events without a user', () => {
    const { rec, analytics } = trainedAlice();
    const before = analytics.stats();
    const r = rec.observe({ ...ev(alice.user, MONDAY + 20 * DAY, 'ueba.anomaly'), source: 'monitor' });
    const { user: _user, ...anonymous } = ev('x', MONDAY + 20 * DAY, 'pg.error');
    const r2 = rec.observe(anonymous as Parameters<UserAnalytics['observe']>[0]);
    expect([r.user, r2.user]).toEqual([undefined, undefined]);
    expect(analytics.stats().skipped).toBe(before.skipped + 2);
    expect(analytics.risk(alice.user).events).toBe(before.observed);
  });

  it('treats spellings of one principal as one profile', () => {
    const { rec, sunday3am } = trainedAlice();
    const r = rec.observe(ev(' ALICE@example.com', sunday3am, 'pg.login', { addr: alice.addrs[0] }));
    expect(r.user).toBe(alice.user);
    expect(r.learning).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../src/errors/index.js';
import { HourClock, resolveThresholds, UserAnalytics } from '../../../src/monitor/analytics/index.js';
import { alice, DAY, ev, HOUR, MONDAY, Recorder, seeded, weekdays, type Worker } from './simulate.js';

function trained(worker: Worker, options: ConstructorParameters<typeof UserAnalytics>[0] = {}) {
  let now = MONDAY + 14 * DAY;
  const analytics = new UserAnalytics({ clock: () => now, ...options });
  const rec = new Recorder(analytics);
  weekdays(rec, worker, MONDAY, 14, seeded(11));
  rec.clear();
  return { analytics, rec, setNow: (t: number) => (now = t) };
}

describe('UserAnalytics risk', () => {
  it('adds alerts naming the user to the score without raising an anomaly event', () => {
    const { analytics, rec, setNow } = trained(alice);
    const t = MONDAY + 14 * DAY + 10 * HOUR;
    setNow(t);
    analytics.noteAlert(alice.user, 'critical', 'Brute force on alice');
    analytics.noteAlert('Alice@Example.com', 'critical');
    expect(analytics.risk(alice.user)).toMatchObject({ score: 100 });
    expect(analytics.risk(alice.user).reasons[0]).toMatchObject({
      code: 'alert',
      weight: 50,
      time: t,
      explanation: 'named in a critical alert',
    });
    expect(analytics.risk(alice.user).reasons[1]!.explanation).toBe('named in a critical alert: Brute force on alice');
    // Routine activity carries no behavioural reason: the alerts alone raise nothing.
    rec.observe(ev(alice.user, t + 60_000, 'pg.statement', { addr: alice.addrs[0] }));
    expect(rec.events).toEqual([]);
    setNow(t + HOUR);
    expect(analytics.risk(alice.user).score).toBe(50);
  });

  it('raises when a high alert (30) and a new address (40) together reach 70, not with a medium alert (15)', () => {
    const high = trained(alice);
    const t = MONDAY + 14 * DAY + 10 * HOUR;
    high.setNow(t);
    high.analytics.noteAlert(alice.user, 'high');
    const r = high.rec.observe(ev(alice.user, t, 'pg.login', { addr: '198.51.100.7' }));
    expect(r.score).toBe(70);
    expect(r.events).toHaveLength(1);
    expect(r.events[0]!.fields).toMatchObject({ score: 70, reason: 'new_address', reasons: 'new_address,alert' });

    const medium = trained(alice);
    medium.setNow(t);
    medium.analytics.noteAlert(alice.user, 'medium');
    const m = medium.rec.observe(ev(alice.user, t, 'pg.login', { addr: '198.51.100.7' }));
    expect(m.score).toBe(55);
    expect(m.events).toEqual([]);
  });

  it('lists the riskiest users first in topRisk', () => {
    let now = MONDAY;
    const analytics = new UserAnalytics({ clock: () => now });
    analytics.noteAlert('low-user', 'low');
    analytics.noteAlert('high-user', 'high');
    analytics.noteAlert('medium-user', 'medium');
    expect(analytics.topRisk(2).map((r) => [r.user, r.score])).toEqual([
      ['high-user', 30],
      ['medium-user', 15],
    ]);
    now += 24 * HOUR;
    expect(analytics.topRisk(10)).toEqual([]);
    expect(analytics.risk('nobody')).toEqual({
      user: 'nobody',
      score: 0,
      learning: true,
      reasons: [],
      profileAge: 0,
      events: 0,
    });
  });

  it('counts hours in the configured time zone (a New York office is not unusual at 09:00 local)', () => {
    // 09–17 in New York is 14–22 UTC in winter.
    const ny: Worker = { ...alice, user: 'ny', startHour: 14, endHour: 21 };
    const { rec } = trained(ny, { timeZone: 'America/New_York' });
    const monday = MONDAY + 14 * DAY;
    const morning = rec.observe(ev('ny', monday + 15 * HOUR, 'pg.login', { addr: '198.51.100.7' }));
    expect(morning.anomalies.map((a) => a.code)).toEqual(['new_address']);
    const night = rec.observe(ev('ny', monday + 8 * HOUR, 'pg.login', { addr: ny.addrs[0] }));
    expect(night.anomalies.map((a) => a.explanation)).toEqual([
      expect.stringMatching(/^login on Mon 03:00 America\/New_York, an hour holding 0\.0%/),
    ]);
  });

  it('maps the monitor clock to local hours of the week across daylight saving', () => {
    const berlin = new HourClock('Europe/Berlin');
    expect(berlin.hourOfWeek(Date.UTC(2024, 0, 1, 8))).toBe(9); // Mon 09:00 CET
    expect(berlin.hourOfWeek(Date.UTC(2024, 6, 1, 7))).toBe(9); // Mon 09:00 CEST
    expect(berlin.hourOfWeek(Date.UTC(2024, 0, 7, 23))).toBe(0); // Sun 23:00 UTC is Mon 00:00 in Berlin
    expect(new HourClock().hourOfWeek(Date.UTC(2024, 0, 7, 23))).toBe(167);
    expect(new HourClock('Asia/Kolkata').hourOfWeek(Date.UTC(2024, 0, 1, 3, 29))).toBe(8); // 08:59 IST
  });

  it('refuses an unknown time zone and nonsense thresholds with PW100', () => {
    expect(() => new UserAnalytics({ timeZone: 'Mars/Olympus' })).toThrow(
      expect.objectContaining({ code: ErrorCodes.CONFIG_INVALID }),
    );
    expect(() => resolveThresholds({ threshold: 0 })).toThrow(/threshold: 0/);
    expect(() => resolveThresholds({ cooldownMs: -1 })).toThrow(expect.objectContaining({ code: 'PW100' }));
    expect(() => resolveThresholds({ weights: { new_address: 101 } })).toThrow(/weights\.new_address/);
    expect(resolveThresholds({ threshold: 80, weights: { new_table: 20 } })).toMatchObject({
      threshold: 80,
      cooldownMs: HOUR,
      weights: { new_table: 20, new_address: 40 },
    });
  });
});

import { describe, expect, it } from 'vitest';
import { UserAnalytics } from '../../../src/monitor/analytics/index.js';
import { DAY, ev, MONDAY } from './simulate.js';

describe('UserAnalytics memory bounds', () => {
  it('keeps at most maxProfiles of 100 000 users in memory (least recently used evicted)', () => {
    const analytics = new UserAnalytics({ maxProfiles: 1_000 });
    analytics.observe(ev('keeper', MONDAY, 'pg.login', { addr: '192.0.2.1' }));
    for (let i = 0; i < 100_000; i++) {
      analytics.observe(ev(`u${i}`, MONDAY + i, 'pg.statement', { addr: '192.0.2.2' }));
      // A user active all along is never the least recently used.
      if (i % 500 === 0) analytics.observe(ev('keeper', MONDAY + i, 'pg.statement', { addr: '192.0.2.1' }));
    }
    const stats = analytics.stats();
    expect(stats.profiles).toBe(1_000);
    expect(stats.evictions).toBe(100_001 - 1_000);
    // Without a store nothing waits to be written.
    expect(stats.pendingWrites).toBe(0);
    expect(analytics.risk('keeper').events).toBe(201);
    expect(analytics.risk('u0').events).toBe(0);
    expect(analytics.risk('u99999').events).toBe(1);
  });

  it('caps the address, block, table and reason lists, keeping the most recently seen', () => {
    const analytics = new UserAnalytics();
    for (let i = 0; i < 1_000; i++) {
      const t = MONDAY + i * 60_000;
      const addr = i % 10 === 0 ? '192.0.2.1' : `10.${i % 250}.${Math.floor(i / 250)}.${i % 200}`;
      analytics.observe(ev('roamer', t, 'pg.login', { addr }));
      analytics.observe(ev('roamer', t, 'pg.table_read', { addr, fields: { table: `s.table_${i}` } }));
    }
    const profile = analytics.profileOf('roamer')!;
    expect(profile.addrs).toHaveLength(32);
    expect(profile.blocks).toHaveLength(16);
    expect(profile.tables).toHaveLength(64);
    // The address used every tenth login survives 900 others; the oldest one-off ones do not.
    expect(profile.addrs.map(([a]) => a)).toContain('192.0.2.1');
    expect(profile.addrs.map(([a]) => a)).not.toContain('10.1.0.1');
    expect(profile.tables.map(([t]) => t)).toContain('s.table_999');
    expect(profile.tables.map(([t]) => t)).not.toContain('s.table_0');
    expect(analytics.risk('roamer').reasons.length).toBeLessThanOrEqual(20);
    // A profile stays a few kilobytes whatever the user does.
    expect(JSON.stringify(profile).length).toBeLessThan(16_000);
  });

  it('ignores over-long values rather than storing them', () => {
    const analytics = new UserAnalytics();
    analytics.observe(ev('x', MONDAY, 'pg.table_read', { addr: '192.0.2.1', fields: { table: 't'.repeat(5_000) } }));
    analytics.observe(ev('x', MONDAY + DAY, 'pg.table_read', { addr: `a\0b`, fields: { table: 'ok' } }));
    expect(analytics.profileOf('x')).toMatchObject({
      tables: [['ok', 1, MONDAY + DAY]],
      addrs: [['192.0.2.1', 1, MONDAY]],
    });
    expect(analytics.observe(ev('u'.repeat(501), MONDAY, 'pg.login')).user).toBeUndefined();
  });
});

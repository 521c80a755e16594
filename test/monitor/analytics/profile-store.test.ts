import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionConfig } from '../../../src/db/client.js';
import { quoteIdent } from '../../../src/db/client.js';
import { ProfileStore, UserAnalytics } from '../../../src/monitor/analytics/index.js';
import { installedDatabase } from '../../helpers/db.js';
import { alice, DAY, ev, HOUR, MONDAY, Recorder, seeded, weekdays } from './simulate.js';

let db: ConnectionConfig;
let pool: pg.Pool;

beforeAll(async () => {
  db = await installedDatabase();
  pool = new pg.Pool({ ...db, max: 4 });
  pool.on('error', () => undefined);
});
afterAll(async () => {
  await pool?.end();
});

/** Empties the table between tests (each test tells its own story). */
async function fresh(): Promise<ProfileStore> {
  await pool.query('delete from monitor.user_profiles');
  return new ProfileStore(pool);
}

/** A clock the test moves, and an analytics on `store` that reads it. */
function analyticsOn(store: ProfileStore, start: number, maxProfiles?: number) {
  const clock = { now: start };
  const analytics = new UserAnalytics({ clock: () => clock.now, store, ...(maxProfiles ? { maxProfiles } : {}) });
  return { analytics, clock, rec: new Recorder(analytics) };
}

const sunday3am = MONDAY + 13 * DAY + 3 * HOUR;

describe('ProfileStore', () => {
  it('round-trips learned baselines and risk through flush and load', async () => {
    const store = await fresh();
    const first = analyticsOn(store, sunday3am);
    expect(await first.analytics.load()).toBe(0);
    weekdays(first.rec, alice, MONDAY, 14, seeded(5));
    const hit = first.rec.observe(ev(alice.user, sunday3am, 'pg.login', { addr: '198.51.100.7' }));
    expect(hit.events).toHaveLength(1);
    expect(await first.analytics.flush()).toBe(1);
    expect(await first.analytics.flush()).toBe(0); // nothing changed since

    const { rows } = await pool.query(
      `select principal, risk_score, risk_reasons, jsonb_typeof(profile) as kind, updated_at
         from monitor.user_profiles`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ principal: alice.user, risk_score: hit.score, kind: 'object' });
    expect(rows[0].risk_reasons.map((r: { code: string }) => r.code)).toEqual(['new_address', 'unusual_hour']);
    expect(rows[0].risk_reasons[0]).toMatchObject({
      weight: 40,
      learning: false,
      time: sunday3am,
      explanation: expect.stringContaining('198.51.100.7'),
    });

    const second = analyticsOn(store, sunday3am);
    expect(await second.analytics.load()).toBe(1);
    expect(second.analytics.risk(alice.user)).toEqual(first.analytics.risk(alice.user));
    const a = first.analytics.profileOf(alice.user)!;
    const b = second.analytics.profileOf(alice.user)!;
    expect({ ...b, addrs: new Set(b.addrs), tables: new Set(b.tables), blocks: new Set(b.blocks) }).toEqual({
      ...a,
      addrs: new Set(a.addrs),
      tables: new Set(a.tables),
      blocks: new Set(a.blocks),
    });
  });

  it('continues after a restart without re-flagging known addresses or repeating the anomaly event', async () => {
    const store = await fresh();
    const first = analyticsOn(store, sunday3am);
    expect(await first.analytics.load()).toBe(0);
    weekdays(first.rec, alice, MONDAY, 14, seeded(5));
    first.rec.observe(ev(alice.user, sunday3am, 'pg.login', { addr: '198.51.100.7' }));
    await first.analytics.flush();

    const restarted = analyticsOn(store, sunday3am + 10 * 60_000);
    await restarted.analytics.load();
    // The attacker's session goes on after the restart: nothing is new, the cool-down holds.
    const again = restarted.rec.observe(ev(alice.user, sunday3am + 10 * 60_000, 'pg.login', { addr: '198.51.100.7' }));
    expect(again.anomalies).toEqual([]);
    const neighbour = restarted.rec.observe(
      ev(alice.user, sunday3am + 11 * 60_000, 'pg.login', { addr: '198.51.100.9' }),
    );
    expect(neighbour.anomalies.map((x) => x.code)).toEqual(['new_address_block']);
    expect(neighbour.score).toBeGreaterThanOrEqual(70);
    expect(restarted.rec.events).toEqual([]);
    // Monday is routine for the restored baseline.
    weekdays(restarted.rec, alice, MONDAY + 14 * DAY, 1, seeded(6));
    expect(restarted.rec.results.slice(2).flatMap((r) => r.anomalies)).toEqual([]);
    expect(restarted.analytics.risk(alice.user).learning).toBe(false);
  });

  it('writes evicted profiles and restores them when their user returns', async () => {
    const store = await fresh();
    const { analytics, rec } = analyticsOn(store, MONDAY + 14 * DAY, 2);
    await analytics.load();
    weekdays(rec, alice, MONDAY, 14, seeded(5));
    const events = analytics.risk(alice.user).events;
    // Two other users push alice out of memory; before a flush she comes back from the write queue.
    rec.observe(ev('bob', MONDAY + 14 * DAY, 'pg.login', { addr: '192.0.2.50' }));
    rec.observe(ev('carol', MONDAY + 14 * DAY, 'pg.login', { addr: '192.0.2.51' }));
    expect(analytics.stats()).toMatchObject({ profiles: 2, pendingWrites: 1 });
    const back = rec.observe(ev(alice.user, MONDAY + 14 * DAY + 10 * HOUR, 'pg.login', { addr: alice.addrs[0] }));
    expect(back).toMatchObject({ learning: false, anomalies: [] });
    expect(back.restoring).toBeUndefined();

    // Evicted again and written: her next event waits for the stored profile.
    rec.observe(ev('bob', MONDAY + 14 * DAY + 11 * HOUR, 'pg.statement'));
    rec.observe(ev('carol', MONDAY + 14 * DAY + 11 * HOUR, 'pg.statement'));
    // (Evictions with a full write queue may already have started a flush in the background.)
    await analytics.flush();
    expect(analytics.stats().pendingWrites).toBe(0);
    expect((await pool.query('select principal from monitor.user_profiles order by 1')).rows).toEqual([
      { principal: alice.user },
      { principal: 'bob' },
      { principal: 'carol' },
    ]);
    const waiting = rec.observe(ev(alice.user, MONDAY + 14 * DAY + 12 * HOUR, 'pg.login', { addr: '198.51.100.7' }));
    expect(waiting).toMatchObject({ restoring: true, anomalies: [] });
    await analytics.flush();
    // Judged against the restored baseline once it arrived: a new address to an established user.
    expect(analytics.risk(alice.user).events).toBe(events + 2);
    expect(analytics.risk(alice.user).reasons.map((r) => r.code)).toEqual(['new_address']);
    expect(analytics.stats()).toMatchObject({ restoring: 0, restoreErrors: 0 });
  });

  it('writes 1 200 dirty profiles in batches and loads the most recent up to maxProfiles', async () => {
    const store = await fresh();
    const { analytics } = analyticsOn(store, MONDAY);
    await analytics.load();
    for (let i = 0; i < 1_200; i++) analytics.observe(ev(`user${i}`, MONDAY + i, 'pg.login', { addr: '192.0.2.1' }));
    expect(await analytics.flush()).toBe(1_200);
    expect((await pool.query('select count(*)::int as n from monitor.user_profiles')).rows[0].n).toBe(1_200);

    const small = analyticsOn(store, MONDAY, 100);
    expect(await small.analytics.load()).toBe(100);
    expect(small.analytics.stats().profiles).toBe(100);
    // A user not loaded is fetched when it shows up, and keeps its history.
    const r = small.analytics.observe(ev('user0', MONDAY + DAY, 'pg.statement', { addr: '192.0.2.1' }));
    expect(r.restoring).toBe(true);
    await small.analytics.flush();
    expect(small.analytics.risk('user0').events).toBe(2);
  });

  it('skips a stored row that is not a profile instead of failing to start', async () => {
    const store = await fresh();
    await pool.query(
      `insert into monitor.user_profiles (principal, profile, risk_score, risk_reasons)
       values ('broken', '{"v": 99}', 3, '[{"code": "nonsense"}]')`,
    );
    const { analytics } = analyticsOn(store, MONDAY);
    expect(await analytics.load()).toBe(0);
    expect(analytics.stats().invalidProfiles).toBe(1);
  });

  it('keeps events waiting through a failed fetch and judges them once the store answers again', async () => {
    await fresh();
    const name = `ueba_${randomBytes(4).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    await pool.query(`create role ${quoteIdent(name)} login password '${password}' in role pgw_security_admin`);
    const rolePool = new pg.Pool({ ...db, user: name, password, max: 1 });
    rolePool.on('error', () => undefined);
    try {
      const seed = analyticsOn(new ProfileStore(rolePool), MONDAY + 14 * DAY);
      await seed.analytics.load();
      weekdays(seed.rec, alice, MONDAY, 14, seeded(5));
      await seed.analytics.flush();

      // A monitor that did not load: alice's events wait for her row, and the server refuses it.
      const { analytics, rec } = analyticsOn(new ProfileStore(rolePool), MONDAY + 14 * DAY);
      await pool.query(`revoke pgw_security_admin from ${quoteIdent(name)}`);
      const t = MONDAY + 14 * DAY + 3 * HOUR;
      expect(rec.observe(ev(alice.user, t, 'pg.login', { addr: '198.51.100.7' })).restoring).toBe(true);
      await expect(analytics.flush()).resolves.toBe(0);
      expect(analytics.stats()).toMatchObject({ restoring: 1, profiles: 0 });
      expect(analytics.stats().restoreErrors).toBeGreaterThanOrEqual(1);

      await pool.query(`grant pgw_security_admin to ${quoteIdent(name)}`);
      await analytics.flush();
      expect(analytics.stats()).toMatchObject({ restoring: 0, profiles: 1 });
      // Judged against the restored baseline: an established user at 03:00 from a new /24.
      const late = analytics.takeLate();
      expect(late.map((e) => [e.type, e.user, e.fields.reasons])).toEqual([
        ['ueba.anomaly', alice.user, expect.stringMatching(/new_address/)],
      ]);
    } finally {
      await rolePool.end();
    }
  });

  it('allows a member of security_admin to flush and load; denies an auditor writing', async () => {
    const suffix = randomBytes(4).toString('hex');
    const as = async (role: string) => {
      const name = `ueba_${suffix}_${role.replace('pgw_', '')}`;
      const password = randomBytes(12).toString('hex');
      await pool.query(`create role ${quoteIdent(name)} login password '${password}' in role ${quoteIdent(role)}`);
      const p = new pg.Pool({ ...db, user: name, password, max: 1 });
      p.on('error', () => undefined);
      return p;
    };
    await fresh();
    const adminPool = await as('pgw_security_admin');
    const auditorPool = await as('pgw_auditor');
    try {
      const admin = analyticsOn(new ProfileStore(adminPool), MONDAY);
      admin.analytics.observe(ev('eve', MONDAY, 'pg.login', { addr: '192.0.2.9' }));
      expect(await admin.analytics.flush()).toBe(1);
      expect(await analyticsOn(new ProfileStore(adminPool), MONDAY).analytics.load()).toBe(1);

      const auditor = analyticsOn(new ProfileStore(auditorPool), MONDAY);
      expect(await auditor.analytics.load()).toBe(1);
      auditor.analytics.observe(ev('eve', MONDAY + 1, 'pg.statement'));
      await expect(auditor.analytics.flush()).rejects.toMatchObject({ sqlState: '42501' });
      expect(auditor.analytics.stats()).toMatchObject({ flushErrors: 1 });
    } finally {
      await adminPool.end();
      await auditorPool.end();
    }
  });
});

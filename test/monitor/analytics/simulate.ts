import type { MonitorEvent, UntimedEvent } from '../../../src/monitor/event.js';
import type { AnalyticsResult, UserAnalytics } from '../../../src/monitor/analytics/index.js';

export const HOUR = 3_600_000;
export const DAY = 86_400_000;
/** Monday 2024-01-01 00:00 UTC. */
export const MONDAY = Date.UTC(2024, 0, 1);

/** A small seeded PRNG (mulberry32): the same seed gives the same benign day on every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let counter = 0;

/** One event of `user` at `time` (the monitor's receive time). */
export function ev(
  user: string,
  time: number,
  type: string,
  more: Partial<Omit<MonitorEvent, 'user' | 'time' | 'type'>> = {},
): MonitorEvent {
  counter += 1;
  return {
    id: `test:${counter}`,
    source: type.startsWith('audit.') ? 'audit' : type.startsWith('auth.') ? 'security-event' : 'server-log',
    severity: 'info',
    fields: {},
    ...more,
    user,
    time,
    type,
  };
}

/** How one simulated office worker behaves. */
export interface Worker {
  user: string;
  /** First and last working hour (UTC), e.g. 9 and 16 for 09–17. */
  startHour: number;
  endHour: number;
  addrs: string[];
  tables: string[];
  /** Rows read per working hour (±10 %). */
  rowsPerHour: number;
}

/** Collects what the analytics returned: every anomaly event and every result. */
export class Recorder {
  readonly results: AnalyticsResult[] = [];
  readonly events: UntimedEvent[] = [];

  constructor(private readonly analytics: UserAnalytics) {}

  observe(e: MonitorEvent): AnalyticsResult {
    const r = this.analytics.observe(e);
    this.results.push(r);
    this.events.push(...r.events);
    return r;
  }

  clear(): void {
    this.results.length = 0;
    this.events.length = 0;
  }
}

/**
 * One working day of `w` starting at `day` (00:00 UTC): a login from one of its addresses, then
 * each working hour a rows-read sample, a table read and a few statements.
 */
export function workday(rec: Recorder, w: Worker, day: number, rnd: () => number): void {
  const addr = w.addrs[Math.floor(rnd() * w.addrs.length)]!;
  rec.observe(ev(w.user, day + w.startHour * HOUR + 5 * 60_000, 'pg.login', { addr }));
  for (let h = w.startHour; h <= w.endHour; h++) {
    const base = day + h * HOUR;
    for (let i = 0; i < 3; i++) {
      rec.observe(ev(w.user, base + (10 + i * 15) * 60_000, 'pg.statement', { addr }));
    }
    const table = w.tables[Math.floor(rnd() * w.tables.length)]!;
    rec.observe(ev(w.user, base + 20 * 60_000, 'pg.table_read', { addr, fields: { table } }));
    const rows = Math.round(w.rowsPerHour * (0.9 + 0.2 * rnd()));
    rec.observe(ev(w.user, base + 50 * 60_000, 'pg.rows_read', { addr, fields: { rows } }));
  }
}

/** `days` days from `from` (00:00 UTC), working on weekdays only. */
export function weekdays(rec: Recorder, w: Worker, from: number, days: number, rnd: () => number): void {
  for (let d = 0; d < days; d++) {
    const day = from + d * DAY;
    const weekday = (new Date(day).getUTCDay() + 6) % 7; // Monday 0
    if (weekday < 5) workday(rec, w, day, rnd);
  }
}

/** The office worker of the catalog scenario: 09–17 UTC on weekdays, two addresses, ~1 000 rows/h. */
export const alice: Worker = {
  user: 'alice@example.com',
  startHour: 9,
  endHour: 16,
  addrs: ['192.0.2.10', '192.0.2.11'],
  tables: ['public.orders', 'public.customers', 'public.invoices'],
  rowsPerHour: 1000,
};

import type { EventFacts } from './event-facts.js';
import type { HourClock } from './hour-clock.js';
import { type AnalyticsThresholds, DAY } from './options.js';
import { type Profile, rollWindow, windowCounts } from './profile.js';

/** Why a user's behaviour looks unusual. */
export type AnomalyCode =
  /** An address never seen, in a block never seen (for this user). */
  | 'new_address'
  /** An address never seen, inside a block this user was already seen in (weak). */
  | 'new_address_block'
  /** Activity at an hour of the week this user is (almost) never active in. */
  | 'unusual_hour'
  /** A table this user never touched (only while the user's table list is not full). */
  | 'new_table'
  /** Rows read or changed in this hour far above the user's usual rows per active hour. */
  | 'volume_spike'
  /** Errors in the recent window far above the user's baseline error rate. */
  | 'error_burst';

/** One anomaly an event shows. */
export interface Anomaly {
  code: AnomalyCode;
  /** Points added to the user's risk score (the learning factor already applied). */
  weight: number;
  /** True when the user was still in cold start: the weight is small and capped, and no event is raised. */
  learning: boolean;
  /** One sentence a person reads, e.g. "first login from 198.51.100.7 (block 198.51.100.0/24 never seen) in 42 days of history". */
  explanation: string;
  /** The event's time (monitor clock, ms since the epoch). */
  time: number;
}

/** Spacing between two new_table reasons of one user: one exploration is one signal. */
const newTableSpacing = 15 * 60_000;

/** Everything a detector reads. */
export interface DetectContext {
  p: Profile;
  f: EventFacts;
  t: AnalyticsThresholds;
  clock: HourClock;
  learning: boolean;
  /** Filled by the detectors; undefined while nothing was found. */
  out?: Anomaly[] | undefined;
}

/**
 * Runs every detector over one event, before the profile learns from it. Returns undefined (no
 * allocation) when the event is ordinary, the usual case.
 *
 * @example
 * const anomalies = detect({ p: profile, f: facts, t: thresholds, clock, learning: false });
 */
export function detect(c: DetectContext): Anomaly[] | undefined {
  c.out = undefined;
  if (c.p.events < c.t.minEventsToScore) return undefined;
  if (!c.f.isAuthFailure) {
    address(c);
    hour(c);
  }
  if (c.f.table !== undefined) table(c);
  if (c.f.rows > 0) volume(c);
  if (c.f.isError) errors(c);
  return c.out;
}

function add(c: DetectContext, code: AnomalyCode, weight: number, explanation: string): void {
  const w = c.learning ? weight * c.t.learningFactor : weight;
  (c.out ??= []).push({ code, weight: Math.round(w * 10) / 10, learning: c.learning, explanation, time: c.f.time });
}

const historyDays = (c: DetectContext) => Math.floor((c.f.time - c.p.firstSeen) / DAY);
const what = (c: DetectContext) => (c.f.isLogin ? 'login' : 'activity');
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const count = (x: number) => Math.round(x).toLocaleString('en-US');

function address(c: DetectContext): void {
  const { p, f, t } = c;
  const { addr, block } = f;
  if (addr === undefined || block === undefined || p.addrs.size === 0 || p.addrs.has(addr)) return;
  const days = historyDays(c);
  if (!p.blocks.has(block)) {
    // A user whose block list is full roams: a new network is less telling.
    const roaming = p.blocks.size >= t.maxBlocks;
    add(
      c,
      'new_address',
      roaming ? t.weights.new_address / 2 : t.weights.new_address,
      `first ${what(c)} from ${addr} (block ${block} never seen) in ${days} days of history` +
        (roaming ? ' (this user already roams over many networks)' : ''),
    );
  } else {
    add(
      c,
      'new_address_block',
      t.weights.new_address_block,
      `first ${what(c)} from ${addr}, a new address in the known block ${block}`,
    );
  }
}

/**
 * The share of activity at an hour of the week, smoothed so that the hour next to a working hour
 * and the same hour on another day are not "never": half the weight of each neighbour hour, and
 * half the day-independent share of that hour of the day.
 *
 * @example
 * hourShare(profile, 6 * 24 + 3) < thresholds.hourFloor; // Sunday 03:00 is unusual for this user
 */
export function hourShare(p: Profile, hourOfWeek: number): number {
  if (p.hourTotal <= 0) return 1;
  const h = p.hours;
  const before = h[(hourOfWeek + 167) % 168]!;
  const after = h[(hourOfWeek + 1) % 168]!;
  const week = (h[hourOfWeek]! + 0.5 * (before + after)) / (2 * p.hourTotal);
  const hod = hourOfWeek % 24;
  let sameHour = 0;
  for (let d = 0; d < 7; d++) sameHour += h[d * 24 + hod]!;
  return Math.max(week, (0.5 * sameHour) / (7 * p.hourTotal));
}

function hour(c: DetectContext): void {
  const { p, f, t } = c;
  // One verdict per clock hour: the share cannot change within it (learning counts hours once).
  if (p.hourChecked === f.absHour || p.markUnusualHour === f.absHour || p.hourTotal <= 0) return;
  p.hourChecked = f.absHour;
  const share = hourShare(p, f.hourOfWeek);
  if (share >= t.hourFloor) return;
  p.markUnusualHour = f.absHour;
  add(
    c,
    'unusual_hour',
    t.weights.unusual_hour,
    `${what(c)} on ${c.clock.label(f.hourOfWeek)}, an hour holding ${pct(share)} of this user's activity ` +
      `in ${historyDays(c)} days of history`,
  );
}

function table(c: DetectContext): void {
  const { p, f, t } = c;
  const name = f.table!;
  // With a full list an evicted table would look new again: no claim is better than a wrong one.
  if (p.tables.size === 0 || p.tables.size >= t.maxTables || p.tables.has(name)) return;
  if (f.time - p.markNewTable < newTableSpacing) return;
  p.markNewTable = f.time;
  add(c, 'new_table', t.weights.new_table, `first access to table ${name} (${p.tables.size} tables known before)`);
}

function volume(c: DetectContext): void {
  const { p, f, t } = c;
  if (p.volHours < t.volumeMinHours || p.markVolumeHour === f.absHour) return;
  const sum = p.volSum + f.rows;
  if (sum < t.volumeMinRows) return;
  const sd = volumeDeviation(p);
  const z = (sum - p.volMean) / sd;
  if (z < t.volumeZ) return;
  p.markVolumeHour = f.absHour;
  const w = t.weights;
  const weight = Math.min(w.volume_spike_max, w.volume_spike + 20 * Math.log10(z / t.volumeZ));
  add(
    c,
    'volume_spike',
    weight,
    `${count(sum)} rows read or changed this hour against a usual ${count(p.volMean)} ± ${count(sd)} ` +
      `per active hour (z-score ${z.toFixed(1)})`,
  );
}

/**
 * The deviation of a profile's rows per active hour, with a floor: a user who always reads
 * exactly 1 000 rows has variance 0, and a busy hour at one and a half times the usual is no
 * spike; at z = 4 the floor asks for twice.
 */
function volumeDeviation(p: Profile): number {
  return Math.max(Math.sqrt(p.volVar), 0.25 * p.volMean, 1);
}

/**
 * True when the principal's rows this hour, the event's included, stay below the level the
 * volume-spike detector reports (z < volumeZ), on a baseline of at least volumeMinHours hours.
 * Runs before `rollVolume`: a new clock hour starts from zero.
 *
 * @example
 * withinUsualVolume(profile, facts, thresholds); // the nightly batch's millionth row: true
 */
export function withinUsualVolume(p: Profile, f: EventFacts, t: AnalyticsThresholds): boolean {
  if (p.volHours < t.volumeMinHours) return false;
  const sum = (f.absHour > p.volHour ? 0 : p.volSum) + f.rows;
  return sum < p.volMean + t.volumeZ * volumeDeviation(p);
}

function errors(c: DetectContext): void {
  const { p, f, t } = c;
  if (f.time - p.markErrorBurst < 3 * t.errorWindowMs) return;
  rollWindow(p, f.time, t.errorWindowMs);
  const recent = windowCounts(p, f.time, t.errorWindowMs);
  const recentErr = recent.err + 1;
  const recentAll = recent.all + 1;
  if (recentErr < t.errorBurstMinErrors) return;
  const rate = recentErr / recentAll;
  // The usual rate leaves the window being judged out (the burst would otherwise raise its own bar).
  const baseAll = p.errBase.all - recent.all;
  const base = baseAll >= 1 ? Math.max(0, p.errBase.err - recent.err) / baseAll : 0;
  if (rate < Math.max(t.errorBurstMinRate, base * t.errorBurstFactor)) return;
  p.markErrorBurst = f.time;
  add(
    c,
    'error_burst',
    t.weights.error_burst,
    `${count(recentErr)} errors among the last ~${count(recentAll)} events (${pct(rate)}), ` +
      `against a usual error rate of ${pct(base)}`,
  );
}

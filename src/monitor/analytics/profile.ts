/**
 * What the analytics learned about one principal. In memory a profile uses typed arrays and maps
 * (the hot path touches it on every event); `profileToJSON` / `profileFromJSON` turn it into the
 * bounded JSON object stored in monitor.user_profiles.profile.
 */

/** How often and when a value (address, block, table) was last seen. */
export interface Seen {
  n: number;
  last: number;
}

/** Decayed counts of errors among all events (time-decayed, `at` is the last update). */
export interface DecayedRate {
  err: number;
  all: number;
  at: number;
}

/**
 * The learned state of one principal. Mutated in place by `learn` and the detectors.
 *
 * @example
 * const profile = new Profile(Date.now()); // first seen now, nothing learned yet
 */
export class Profile {
  firstSeen: number;
  lastSeen: number;
  events = 0;
  activeDays = 0;
  lastDay = -Infinity;
  /** Active hours per hour of week, scaled by 2^((t - hourRef) / half-life) so decay needs no sweep. */
  readonly hours = new Float64Array(168);
  hourTotal = 0;
  hourRef: number;
  /** The absolute clock hour (time / 1 h) last counted in `hours`. */
  lastHour = -1;
  readonly addrs = new Map<string, Seen>();
  readonly blocks = new Map<string, Seen>();
  readonly tables = new Map<string, Seen>();
  /** Rows per active hour: the hour being summed and the EWMA of closed hours. */
  volHour = -1;
  volSum = 0;
  volMean = 0;
  volVar = 0;
  volHours = 0;
  readonly errBase: DecayedRate;
  /**
   * The recent window as a sliding-window counter: counts of the current fixed window and the
   * previous one, the previous weighted by how much of it the sliding window still covers. Exact
   * counts (10 errors are 10, not 9.8 after decay) in O(1) memory.
   */
  winIndex = -1;
  winErr = 0;
  winAll = 0;
  prevErr = 0;
  prevAll = 0;
  /** Dedupe marks: the clock hour or time a reason was last raised. */
  markUnusualHour = -1;
  markVolumeHour = -1;
  markNewTable = -Infinity;
  markErrorBurst = -Infinity;
  /** The clock hour whose hour-of-week share was last checked (not stored). */
  hourChecked = -1;
  /** The last address and its block (not stored): most events repeat the address before. */
  lastAddr: string | undefined;
  lastBlock: string | undefined;
  /** The last ueba.anomaly event raised: when, and at what score. */
  alertedAt = -Infinity;
  alertedScore = 0;

  constructor(time: number) {
    this.firstSeen = time;
    this.lastSeen = time;
    this.hourRef = time;
    this.errBase = { err: 0, all: 0, at: time };
  }
}

/** Decays a rate to `time` and adds one event. */
export function bumpRate(rate: DecayedRate, time: number, halfLife: number, isError: boolean): void {
  const f = decayFactor(time - rate.at, halfLife);
  rate.err = rate.err * f + (isError ? 1 : 0);
  rate.all = rate.all * f + 1;
  if (time > rate.at) rate.at = time;
}

/** Moves the recent window to `time` (an older time counts into the current window). */
export function rollWindow(p: Profile, time: number, window: number): void {
  const index = Math.floor(time / window);
  if (index <= p.winIndex) return;
  if (index === p.winIndex + 1) {
    p.prevErr = p.winErr;
    p.prevAll = p.winAll;
  } else {
    p.prevErr = 0;
    p.prevAll = 0;
  }
  p.winErr = 0;
  p.winAll = 0;
  p.winIndex = index;
}

/** Errors and events in the sliding window ending at `time` (after `rollWindow`). */
export function windowCounts(p: Profile, time: number, window: number): { err: number; all: number } {
  const covered = 1 - Math.min(1, Math.max(0, (time - p.winIndex * window) / window));
  return { err: p.winErr + p.prevErr * covered, all: p.winAll + p.prevAll * covered };
}

/** 2^(-dt/halfLife), 1 for a negative dt (an event slightly out of order). */
export function decayFactor(dt: number, halfLife: number): number {
  return dt <= 0 ? 1 : Math.pow(2, -dt / halfLife);
}

/** Marks `key` seen at `time`; when the map is full, the least recently seen entry makes room. */
export function touch(map: Map<string, Seen>, key: string, time: number, capacity: number): void {
  const seen = map.get(key);
  if (seen) {
    seen.n += 1;
    if (time > seen.last) seen.last = time;
    return;
  }
  // Eviction scans (capacity is small and a new value is rare); touching an existing one is O(1).
  if (map.size >= capacity) {
    let oldestKey: string | undefined;
    let oldest = Infinity;
    for (const [k, v] of map) {
      if (v.last < oldest) {
        oldest = v.last;
        oldestKey = k;
      }
    }
    if (oldestKey !== undefined) map.delete(oldestKey);
  }
  map.set(key, { n: 1, last: time });
}

/** The JSON form of a profile (version 1). Numbers only where the DB sees numbers. */
export interface ProfileJSON {
  v: 1;
  firstSeen: number;
  lastSeen: number;
  events: number;
  activeDays: number;
  lastDay: number | null;
  /** Active hours per hour of week, decayed to `lastSeen`. */
  hours: number[];
  lastHour: number;
  /** [value, count, last seen] */
  addrs: [string, number, number][];
  blocks: [string, number, number][];
  tables: [string, number, number][];
  volume: { hour: number; sum: number; mean: number; variance: number; hours: number };
  /** base: [err, all, at] decayed; window: [index, err, all, previous err, previous all]. */
  errors: { base: [number, number, number]; window: [number, number, number, number, number] };
  marks: { unusualHour: number; volumeHour: number; newTable: number | null; errorBurst: number | null };
  alerted: { at: number; score: number } | null;
}

const round = (x: number, digits = 1e4) => Math.round(x * digits) / digits;
const finiteOrNull = (x: number) => (Number.isFinite(x) ? x : null);
const entries = (m: Map<string, Seen>): [string, number, number][] => [...m].map(([k, s]) => [k, s.n, s.last]);

/**
 * The bounded JSON form of a profile: the histogram is rescaled to `lastSeen` and rounded, lists
 * are as capped as in memory.
 *
 * @example
 * const json = profileToJSON(profile, 30 * 86_400_000); // JSON.stringify(json) fits in a few kB
 */
export function profileToJSON(p: Profile, hourHalfLife: number): ProfileJSON {
  const scale = 1 / Math.pow(2, (p.lastSeen - p.hourRef) / hourHalfLife);
  return {
    v: 1,
    firstSeen: p.firstSeen,
    lastSeen: p.lastSeen,
    events: p.events,
    activeDays: p.activeDays,
    lastDay: finiteOrNull(p.lastDay),
    hours: Array.from(p.hours, (w) => round(w * scale)),
    lastHour: p.lastHour,
    addrs: entries(p.addrs),
    blocks: entries(p.blocks),
    tables: entries(p.tables),
    volume: {
      hour: p.volHour,
      sum: p.volSum,
      mean: round(p.volMean),
      variance: round(p.volVar),
      hours: p.volHours,
    },
    errors: {
      base: [round(p.errBase.err), round(p.errBase.all), p.errBase.at],
      window: [p.winIndex, p.winErr, p.winAll, p.prevErr, p.prevAll],
    },
    marks: {
      unusualHour: p.markUnusualHour,
      volumeHour: p.markVolumeHour,
      newTable: finiteOrNull(p.markNewTable),
      errorBurst: finiteOrNull(p.markErrorBurst),
    },
    alerted: Number.isFinite(p.alertedAt) ? { at: p.alertedAt, score: p.alertedScore } : null,
  };
}

/** Capacities a restored profile is cut down to (settings may have shrunk since it was saved). */
export interface ProfileCaps {
  maxAddresses: number;
  maxBlocks: number;
  maxTables: number;
}

/**
 * Rebuilds a profile from its JSON form; throws a TypeError naming the field when the value is
 * not a version-1 profile (the caller skips that row rather than learning from garbage).
 *
 * @example
 * const p = profileFromJSON(row.profile, { maxAddresses: 32, maxBlocks: 16, maxTables: 64 });
 */
export function profileFromJSON(value: unknown, caps: ProfileCaps): Profile {
  const o = obj(value, 'profile');
  if (o.v !== 1) throw new TypeError('profile.v: unsupported version');
  const p = new Profile(num(o.firstSeen, 'firstSeen'));
  p.lastSeen = num(o.lastSeen, 'lastSeen');
  p.hourRef = p.lastSeen;
  p.events = num(o.events, 'events');
  p.activeDays = num(o.activeDays, 'activeDays');
  p.lastDay = o.lastDay === null ? -Infinity : num(o.lastDay, 'lastDay');
  const hours = o.hours;
  if (!Array.isArray(hours) || hours.length !== 168) throw new TypeError('profile.hours: 168 numbers expected');
  hours.forEach((w, i) => {
    p.hours[i] = num(w, 'hours');
    p.hourTotal += p.hours[i]!;
  });
  p.lastHour = num(o.lastHour, 'lastHour');
  seenList(o.addrs, 'addrs', p.addrs, caps.maxAddresses);
  seenList(o.blocks, 'blocks', p.blocks, caps.maxBlocks);
  seenList(o.tables, 'tables', p.tables, caps.maxTables);
  const vol = obj(o.volume, 'volume');
  p.volHour = num(vol.hour, 'volume.hour');
  p.volSum = num(vol.sum, 'volume.sum');
  p.volMean = num(vol.mean, 'volume.mean');
  p.volVar = num(vol.variance, 'volume.variance');
  p.volHours = num(vol.hours, 'volume.hours');
  const errors = obj(o.errors, 'errors');
  rate(errors.base, 'errors.base', p.errBase);
  const w = errors.window;
  if (!Array.isArray(w) || w.length !== 5) throw new TypeError('profile.errors.window: 5 numbers expected');
  const [index = 0, err = 0, all = 0, prevErr = 0, prevAll = 0] = w.map((x: unknown) => num(x, 'errors.window'));
  p.winIndex = index;
  p.winErr = err;
  p.winAll = all;
  p.prevErr = prevErr;
  p.prevAll = prevAll;
  const marks = obj(o.marks, 'marks');
  p.markUnusualHour = num(marks.unusualHour, 'marks.unusualHour');
  p.markVolumeHour = num(marks.volumeHour, 'marks.volumeHour');
  p.markNewTable = marks.newTable === null ? -Infinity : num(marks.newTable, 'marks.newTable');
  p.markErrorBurst = marks.errorBurst === null ? -Infinity : num(marks.errorBurst, 'marks.errorBurst');
  if (o.alerted !== null) {
    const a = obj(o.alerted, 'alerted');
    p.alertedAt = num(a.at, 'alerted.at');
    p.alertedScore = num(a.score, 'alerted.score');
  }
  return p;
}

function obj(v: unknown, name: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`profile.${name}: object expected`);
  return v as Record<string, unknown>;
}

function num(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`profile.${name}: finite number expected`);
  return v;
}

function seenList(v: unknown, name: string, into: Map<string, Seen>, capacity: number): void {
  if (!Array.isArray(v)) throw new TypeError(`profile.${name}: array expected`);
  const rows = v.map((e: unknown) => {
    if (!Array.isArray(e) || typeof e[0] !== 'string')
      throw new TypeError(`profile.${name}: [value, n, last] expected`);
    return [e[0], num(e[1], name), num(e[2], name)] as const;
  });
  // Keep the most recently seen when the capacity shrank.
  rows.sort((a, b) => b[2] - a[2]);
  for (const [k, n, last] of rows.slice(0, capacity)) into.set(k, { n, last });
}

function rate(v: unknown, name: string, into: DecayedRate): void {
  if (!Array.isArray(v) || v.length !== 3) throw new TypeError(`profile.${name}: [err, all, at] expected`);
  into.err = num(v[0], name);
  into.all = num(v[1], name);
  into.at = num(v[2], name);
}

import type { AfterState, CompiledRule, Group } from './compiled-rule.js';
import { ruleFingerprint, type RuleStateRestoreReport, type RuleStateSkipReason } from './engine-snapshot.js';
import { DistinctSet, SlotCounter, TimeRing } from './window.js';

// Reads a stored RuleEngineSnapshot back into an engine. The stored state is data from a table,
// not trusted code: every field is checked, and nothing in it can make the monitor fail to start.

/** Where a restore puts what it read (the engine's LRU maps and its seen ids). */
export interface RestoreTarget {
  rules: readonly CompiledRule[];
  /** False when the engine already holds a group under that key. */
  addGroup(cr: CompiledRule, g: Group): boolean;
  addAfter(cr: CompiledRule, s: AfterState): boolean;
  /** Returns how many it keeps (the newest, up to its cap). */
  addSeen(ids: readonly string[], times: readonly number[]): number;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const arrayOf = <T>(v: unknown, item: (x: unknown) => x is T): v is T[] => Array.isArray(v) && v.every(item);
const isPair =
  <A, B>(a: (x: unknown) => x is A, b: (x: unknown) => x is B) =>
  (v: unknown): v is [A, B] =>
    Array.isArray(v) && v.length === 2 && a(v[0]) && b(v[1]);
const isNumRecord = (v: unknown): v is Record<string, number> => isObj(v) && Object.values(v).every(isNum);
const isRing = (v: unknown): v is { times: number[]; ids: string[] } =>
  isObj(v) &&
  arrayOf(v.times, isNum) &&
  arrayOf(v.ids, isStr) &&
  v.times.length === v.ids.length &&
  v.times.every((t, i, all) => i === 0 || t >= (all[i - 1] ?? t));
const isDistinct = (v: unknown): v is [string, number][][] =>
  Array.isArray(v) && v.every((d) => arrayOf(d, isPair(isStr, isNum)));
const isSlots = (v: unknown): v is [number, number][] =>
  arrayOf(v, isPair(isNum, isNum)) && v.every(([idx]) => Number.isInteger(idx) && idx >= 0);

class Malformed extends Error {}

/**
 * Restores `input` (a parsed {@link RuleEngineSnapshot}) into `target` as of `now`. Never throws:
 * what cannot be used is skipped and counted by reason.
 */
export function restoreSnapshot(input: unknown, now: number, target: RestoreTarget): RuleStateRestoreReport {
  const report: RuleStateRestoreReport = { restored: false, groups: 0, incidents: 0, seenIds: 0, skipped: {} };
  const skip = (reason: RuleStateSkipReason) => {
    report.skipped[reason] = (report.skipped[reason] ?? 0) + 1;
  };
  const ignore = (reason: RuleStateSkipReason) => {
    skip(reason);
    return report;
  };
  try {
    if (!isObj(input)) return ignore('malformed');
    if (input.v !== 1) return ignore('version');
    if (!isNum(input.at) || !isObj(input.rules)) return ignore('malformed');
    const longest = Math.max(0, ...target.rules.map((cr) => Math.max(cr.windowMs, cr.after?.windowMs ?? 0)));
    if (input.at > now + 60_000) return ignore('future');
    if (now - input.at > longest) return ignore('stale');
    report.restored = true;
    const byId = new Map(target.rules.map((cr) => [cr.rule.id, cr]));
    for (const [id, raw] of Object.entries(input.rules)) {
      const cr = byId.get(id);
      if (!cr) skip('rule-gone');
      else if (!isObj(raw) || !Array.isArray(raw.groups) || !Array.isArray(raw.after)) skip('malformed');
      else if (raw.fingerprint !== ruleFingerprint(cr.rule)) skip('rule-changed');
      else {
        for (const g of raw.groups) restoreGroup(cr, g, now, target, report, skip);
        for (const s of raw.after) restoreAfter(cr, s, now, target, report, skip);
      }
    }
    const seen = input.seen;
    if (
      isObj(seen) &&
      arrayOf(seen.ids, isStr) &&
      arrayOf(seen.times, isNum) &&
      seen.ids.length === seen.times.length
    ) {
      report.seenIds = target.addSeen(seen.ids, seen.times);
    } else if (seen !== undefined) skip('malformed');
  } catch {
    // A shape no check above foresaw: what was restored so far stays, the rest is skipped.
    skip('malformed');
  }
  return report;
}

function restoreGroup(
  cr: CompiledRule,
  raw: unknown,
  now: number,
  target: RestoreTarget,
  report: RuleStateRestoreReport,
  skip: (reason: RuleStateSkipReason) => void,
): void {
  try {
    const cutoff = now - cr.windowMs;
    if (!isObj(raw) || !isStr(raw.key) || !isNum(raw.lastTime)) throw new Malformed();
    if (!arrayOf(raw.parts, isPair(isNullable(isStr), isNullable(isStr))) || raw.parts.length !== cr.keys.length)
      throw new Malformed();
    if (raw.lastTime < cutoff) return skip('expired');
    const g: Group = {
      key: raw.key,
      parts: raw.parts.map(([name, value], i) => ({
        spec: cr.keys[i]?.spec ?? '',
        name: name ?? undefined,
        value: value ?? undefined,
      })),
      lastTime: raw.lastTime,
      ring: undefined,
      distinct: undefined,
      sums: undefined,
      counter: undefined,
      incident: undefined,
    };
    const inc = raw.incident;
    if (inc !== undefined) {
      if (!isObj(inc) || !isNum(inc.firstSeen) || !isNum(inc.total) || !isNum(inc.lastEmit)) throw new Malformed();
      if (!isNumRecord(inc.distinct) || !isNumRecord(inc.sum)) throw new Malformed();
      g.incident = {
        firstSeen: inc.firstSeen,
        total: inc.total,
        pending: 0,
        pendingFirst: 0,
        pendingLast: 0,
        pendingIds: [],
        lastEmit: inc.lastEmit,
        distinct: { ...inc.distinct },
        sum: { ...inc.sum },
      };
    } else {
      const saved = raw.ring;
      if (!isRing(saved)) throw new Malformed();
      const ring = (g.ring = new TimeRing(cr.ringCap));
      saved.times.forEach((t, i) => {
        if (t < cutoff) return;
        const dropped = ring.push(t, saved.ids[i] ?? '');
        if (dropped !== undefined && cr.needsCounter) (g.counter ??= new SlotCounter(cr.windowMs)).add(dropped, 1);
      });
      if (ring.length === 0) return skip('expired');
      if (cr.distinct.length > 0) {
        const d = raw.distinct ?? [];
        if (!isDistinct(d)) throw new Malformed();
        g.distinct = cr.distinct.map((spec, i) => fillDistinct(new DistinctSet(Math.max(spec.min, 16)), d[i], cutoff));
      }
      if (cr.sums.length > 0) {
        const s = raw.sums ?? [];
        if (!Array.isArray(s) || !s.every(isSlots)) throw new Malformed();
        g.sums = cr.sums.map((_, i) => fillSlots(new SlotCounter(cr.windowMs), s[i]));
      }
      if (cr.needsCounter && raw.counter !== undefined) {
        if (!isSlots(raw.counter)) throw new Malformed();
        g.counter = fillSlots(g.counter ?? new SlotCounter(cr.windowMs), raw.counter);
      }
    }
    if (!target.addGroup(cr, g)) return skip('present');
    report.groups += 1;
    if (g.incident) report.incidents += 1;
  } catch (err) {
    if (!(err instanceof Malformed)) throw err;
    skip('malformed');
  }
}

function restoreAfter(
  cr: CompiledRule,
  raw: unknown,
  now: number,
  target: RestoreTarget,
  report: RuleStateRestoreReport,
  skip: (reason: RuleStateSkipReason) => void,
): void {
  const after = cr.after;
  if (!after || !isObj(raw) || !isStr(raw.key) || !isNum(raw.lastTime)) return skip('malformed');
  const saved = raw.ring;
  if (!isRing(saved) || !isDistinct(raw.distinct)) return skip('malformed');
  const cutoff = now - after.windowMs;
  const ring = new TimeRing(after.ringCap);
  saved.times.forEach((t, i) => {
    if (t >= cutoff) ring.push(t, saved.ids[i] ?? '');
  });
  if (raw.lastTime < cutoff || ring.length === 0) return skip('expired');
  const distinctOf = raw.distinct;
  const state: AfterState = {
    key: raw.key,
    lastTime: raw.lastTime,
    ring,
    distinct: after.distinct.map((d, i) => fillDistinct(new DistinctSet(d.min), distinctOf[i], cutoff)),
  };
  if (!target.addAfter(cr, state)) return skip('present');
  report.groups += 1;
}

function isNullable<T>(item: (x: unknown) => x is T) {
  return (v: unknown): v is T | null => v === null || item(v);
}

function fillDistinct(set: DistinctSet, entries: [string, number][] | undefined, cutoff: number): DistinctSet {
  for (const [value, time] of entries ?? []) if (time >= cutoff) set.add(value, time);
  return set;
}

function fillSlots(counter: SlotCounter, entries: [number, number][] | undefined): SlotCounter {
  for (const [idx, sum] of entries ?? []) counter.load(idx, sum);
  return counter;
}

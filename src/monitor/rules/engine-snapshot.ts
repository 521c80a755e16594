import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { AfterState, CompiledRule, Group } from './compiled-rule.js';
import type { Rule } from './rule-schema.js';
import type { TimeRing } from './window.js';

/**
 * The rule engine's windows and open incidents as JSON, saved at shutdown and restored at the next
 * start so an attack that spans a monitor restart is counted whole (RuleEngine.snapshot/restore).
 * Version 1; a restore ignores any other version.
 *
 * @example
 * const snapshot = engine.snapshot(Date.now());
 * const text = JSON.stringify(snapshot); // at most maxBytes (default 4 MiB)
 * later.restore(JSON.parse(text), Date.now());
 */
export interface RuleEngineSnapshot {
  v: 1;
  /** The engine time of the snapshot, ms since the epoch. */
  at: number;
  /** Per rule id, the state of its groups. */
  rules: Record<string, RuleStateSnapshot>;
  /** Ids of events counted shortly before the snapshot, oldest first, with their receive times. */
  seen: { ids: string[]; times: number[] };
  /** Groups left out to stay under the byte bound (the least recently active go first). */
  omitted: number;
}

/** One rule's groups in a {@link RuleEngineSnapshot}, least recently active first. */
export interface RuleStateSnapshot {
  /** {@link ruleFingerprint} of the rule's definition: a changed rule starts empty. */
  fingerprint: string;
  groups: GroupSnapshot[];
  after: AfterGroupSnapshot[];
}

/** A group of a rule: its threshold state, or its open incident. */
export interface GroupSnapshot {
  key: string;
  /** `[field used, value]` per group_by entry; null where the event had none. */
  parts: [string | null, string | null][];
  lastTime: number;
  ring?: { times: number[]; ids: string[] };
  distinct?: [string, number][][];
  sums?: [number, number][][];
  counter?: [number, number][];
  /** An incident's pending events are not kept: the caller flushes them before shutting down. */
  incident?: {
    firstSeen: number;
    total: number;
    lastEmit: number;
    distinct: Record<string, number>;
    sum: Record<string, number>;
  };
}

/** A group of a rule's `after` condition. */
export interface AfterGroupSnapshot {
  key: string;
  lastTime: number;
  ring: { times: number[]; ids: string[] };
  distinct: [string, number][][];
}

/** Why part of a stored state was not restored (counted in {@link RuleStateRestoreReport}). */
export type RuleStateSkipReason =
  /** not a snapshot, or an entry of the wrong shape (counts the snapshot, rule or group) */
  | 'malformed'
  /** a format version other than 1 */
  | 'version'
  /** saved longer ago than the longest window of the current rules */
  | 'stale'
  /** saved more than a minute in the future of the restoring clock */
  | 'future'
  /** (rules) no enabled rule has that id any more */
  | 'rule-gone'
  /** (rules) the rule's definition changed since */
  | 'rule-changed'
  /** (groups) its window had passed by the time of the restore */
  | 'expired'
  /** (groups) the engine already holds that group */
  | 'present';

/** What {@link RuleEngine.restore} took from a stored state, and what it left and why. */
export interface RuleStateRestoreReport {
  /** False when the state as a whole was ignored (see `skipped`). */
  restored: boolean;
  groups: number;
  incidents: number;
  /** Event ids whose repeats are skipped for a while (see RuleEngineOptions.recentIdsMs). */
  seenIds: number;
  skipped: Partial<Record<RuleStateSkipReason, number>>;
}

/**
 * A hash of what decides a rule's counting (match, exclude, group_by, window, threshold, after):
 * a state saved under another definition is not restored. Title, severity or summary edits keep it.
 *
 * @example
 * ruleFingerprint(rule); // '5d41402abc4b2a76b9719d911017c592'
 */
export function ruleFingerprint(rule: Rule): string {
  const after = rule.after && { ...rule.after, window: undefined, windowMs: rule.after.windowMs ?? rule.windowMs };
  const definition = { match: rule.match, exclude: rule.exclude, groupBy: rule.groupBy, windowMs: rule.windowMs };
  const text = canonical({ ...definition, threshold: rule.threshold, after });
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * The ids of the last `cap` events that changed a rule's state, with their receive times: a ring
 * written on the hot path (two stores), read only for a snapshot.
 */
export class RecentIds {
  readonly #ids: string[];
  readonly #times: Float64Array;
  #pos = 0;

  constructor(cap: number) {
    this.#ids = new Array<string>(Math.max(0, cap)).fill('');
    this.#times = new Float64Array(Math.max(0, cap));
  }

  get cap(): number {
    return this.#ids.length;
  }

  add(id: string, time: number): void {
    const cap = this.#ids.length;
    if (cap === 0) return;
    const i = this.#pos;
    this.#ids[i] = id;
    this.#times[i] = time;
    this.#pos = i + 1 === cap ? 0 : i + 1;
  }

  /** The ids recorded at or after `cutoff`, oldest first. */
  since(cutoff: number): { ids: string[]; times: number[] } {
    const ids: string[] = [];
    const times: number[] = [];
    const cap = this.#ids.length;
    for (let n = 0; n < cap; n += 1) {
      const i = (this.#pos + n) % cap;
      const id = this.#ids[i] ?? '';
      const time = this.#times[i] ?? 0;
      if (id !== '' && time >= cutoff) {
        ids.push(id);
        times.push(time);
      }
    }
    return { ids, times };
  }
}

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/**
 * The snapshot of `rules` at `now`, its JSON at most `maxBytes` long: the seen ids take at most a
 * quarter (the newest kept), then groups are taken newest first, one per rule and list in turn,
 * so one rule with a crowd of groups cannot crowd the others out. Expired groups are left out.
 */
export function takeSnapshot(
  rules: readonly CompiledRule[],
  now: number,
  recent: { ids: string[]; times: number[] },
  maxBytes: number,
): RuleEngineSnapshot {
  const seen = { ids: [] as string[], times: [] as number[] };
  let seenBytes = 0;
  for (let i = recent.ids.length - 1; i >= 0; i -= 1) {
    const id = recent.ids[i] ?? '';
    const time = recent.times[i] ?? 0;
    seenBytes += bytes(id) + bytes(time) + 2;
    if (seenBytes > maxBytes / 4) break;
    seen.ids.push(id);
    seen.times.push(time);
  }
  seen.ids.reverse();
  seen.times.reverse();
  const snapshot: RuleEngineSnapshot = { v: 1, at: now, rules: {}, seen, omitted: 0 };
  // 16 bytes spare for the digits `omitted` may grow by.
  let used = bytes(snapshot) + 16;
  const lists: { take: (i: number) => unknown; size: number; into: unknown[] }[] = [];
  for (const cr of rules) {
    const cutoff = now - cr.windowMs;
    const groups = [...cr.groups.values()].filter((g) => g.lastTime >= cutoff);
    const afterCutoff = now - (cr.after?.windowMs ?? 0);
    const afters = [...cr.afterGroups.values()].filter((s) => s.lastTime >= afterCutoff);
    if (groups.length === 0 && afters.length === 0) continue;
    const entry: RuleStateSnapshot = { fingerprint: ruleFingerprint(cr.rule), groups: [], after: [] };
    snapshot.rules[cr.rule.id] = entry;
    used += bytes({ [cr.rule.id]: entry }) - 1;
    // Newest first: a group's lastTime follows its last activity, as the LRU order does.
    groups.sort((a, b) => b.lastTime - a.lastTime);
    lists.push({ take: (i) => groupEntry(cr, groups[i] as Group, cutoff), size: groups.length, into: entry.groups });
    afters.sort((a, b) => b.lastTime - a.lastTime);
    lists.push({
      take: (i) => afterEntry(afters[i] as AfterState, afterCutoff),
      size: afters.length,
      into: entry.after,
    });
  }
  const total = lists.reduce((n, l) => n + l.size, 0);
  let taken = 0;
  fill: for (let rank = 0; taken < total; rank += 1) {
    for (const list of lists) {
      if (rank >= list.size) continue;
      const item = list.take(rank);
      const size = bytes(item) + 1;
      if (used + size > maxBytes) break fill;
      used += size;
      list.into.push(item);
      taken += 1;
    }
  }
  for (const list of lists) list.into.reverse();
  snapshot.omitted = total - taken;
  return snapshot;
}

function ringSince(ring: TimeRing, cutoff: number): { times: number[]; ids: string[] } {
  let n = 0;
  while (n < ring.times.length && (ring.times[n] ?? 0) < cutoff) n += 1;
  return { times: ring.times.slice(n), ids: ring.ids.slice(n) };
}

function groupEntry(cr: CompiledRule, g: Group, cutoff: number): GroupSnapshot {
  const out: GroupSnapshot = {
    key: g.key,
    parts: g.parts.map((p) => [p.name ?? null, p.value ?? null]),
    lastTime: g.lastTime,
  };
  const inc = g.incident;
  if (inc) {
    out.incident = {
      firstSeen: inc.firstSeen,
      total: inc.total,
      lastEmit: inc.lastEmit,
      distinct: { ...inc.distinct },
      sum: { ...inc.sum },
    };
    return out;
  }
  if (g.ring) out.ring = ringSince(g.ring, cutoff);
  if (g.distinct) out.distinct = g.distinct.map((d) => d.entries().filter(([, t]) => t >= cutoff));
  if (g.sums) out.sums = g.sums.map((s) => s.entries());
  if (g.counter && cr.needsCounter) out.counter = g.counter.entries();
  return out;
}

function afterEntry(s: AfterState, cutoff: number): AfterGroupSnapshot {
  return {
    key: s.key,
    lastTime: s.lastTime,
    ring: ringSince(s.ring, cutoff),
    distinct: s.distinct.map((d) => d.entries().filter(([, t]) => t >= cutoff)),
  };
}

import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import type { AlertSignal } from '../alert-signal.js';
import type { MonitorEvent } from '../event.js';
import { type AfterState, type CompiledRule, compileRule, type Group, groupKey, readParts } from './compiled-rule.js';
import { type RestoreTarget, restoreSnapshot } from './engine-restore.js';
import { RecentIds, type RuleEngineSnapshot, type RuleStateRestoreReport, takeSnapshot } from './engine-snapshot.js';
import type { LruMap } from './lru-map.js';
import type { Rule } from './rule-schema.js';
import { fireSignal, type Preceding, updateSignal } from './signals.js';
import { DistinctSet, SlotCounter, TimeRing } from './window.js';

/** Options of {@link RuleEngine}. */
export interface RuleEngineOptions {
  /** The rules to run; disabled ones (`enabled: false`) are skipped. */
  rules: readonly Rule[];
  /** Used by `flush()` called without a time. Windows themselves use each event's `time`. */
  clock?: () => number;
  /** Evidence ids per signal (at most 50, the AlertSignal contract). Default 50. */
  maxEvidence?: number;
  /** An incident's 'update' signal is sent at most this often. Default 1000 ms. */
  updateIntervalMs?: number;
  /** Groups kept per rule (the least recently seen are dropped beyond). Default 100,000. */
  maxGroupsPerRule?: number;
  /**
   * Ids of the last events that changed a rule's state, kept for a snapshot (default 10,000;
   * 0 keeps none and skips nothing). A restored engine skips a repeat of one of them: a source that
   * resumes from its saved position may deliver again a batch that was counted before the shutdown.
   */
  recentIds?: number;
  /** How far back those ids go in a snapshot, and how long after a restore repeats are skipped (default 5 min). */
  recentIdsMs?: number;
}

/** Counters of {@link RuleEngine.stats}. */
export interface RuleEngineStats {
  rules: number;
  groups: number;
  /** Groups per rule id (those of its `after` condition included). */
  groupsByRule: Record<string, number>;
  incidents: number;
  eventsProcessed: number;
  eventsMatched: number;
  /** Events skipped after a restore: their ids were counted before the snapshot. */
  eventsSkipped: number;
  signalsFired: number;
  signalsUpdated: number;
  groupsEvicted: number;
}

/**
 * Runs detection rules over monitor events and turns each incident into one 'fire' signal followed
 * by at most one 'update' per incident and flush interval (M-12).
 *
 * A group (the rule's `group_by` values) fires when its events received within the window (by
 * `event.time`, the monitor's receive time, never a client timestamp, M-15) reach the threshold.
 * Later matching events of the group join that incident; `flush(now)` returns them as 'update'
 * signals and closes incidents whose group was quiet for a whole window, so a later burst fires
 * again. Memory is bounded: per group only what the threshold needs (the newest max(count, 50)
 * events, the max(n, 16) most recently seen distinct values, 17 sum slots); idle groups are
 * dropped on flush; each rule keeps at most `maxGroupsPerRule` groups (the least recently active
 * go first). Rules are indexed by event type and `fields.category`, so an event meets only the
 * rules that can match it. `snapshot()` and `restore()` carry the windows across a restart.
 *
 * @example
 * const engine = new RuleEngine({ rules: await loadRules() });
 * const signals = engine.process(event);      // 'fire' signals
 * setInterval(() => store.record(engine.flush(Date.now())), 1000); // 'update' signals
 */
export class RuleEngine {
  readonly #rules: CompiledRule[];
  readonly #byKey = new Map<string, CompiledRule[]>();
  readonly #unindexed: CompiledRule[] = [];
  readonly #clock: () => number;
  readonly #maxEvidence: number;
  readonly #updateIntervalMs: number;
  readonly #maxGroups: number;
  readonly #recent: RecentIds;
  readonly #recentMs: number;
  // After a restore: ids counted before the snapshot, skipped until #skipUntil, then dropped.
  #skip: Set<string> | undefined;
  #skipUntil = 0;
  #skipped = 0;
  #pendingEvicted: AlertSignal[] = [];
  #seq = 0;
  #processed = 0;
  #matched = 0;
  #fired = 0;
  #updated = 0;
  #evicted = 0;

  constructor(options: RuleEngineOptions) {
    this.#clock = options.clock ?? Date.now;
    this.#maxEvidence = Math.min(50, Math.max(1, options.maxEvidence ?? 50));
    this.#updateIntervalMs = options.updateIntervalMs ?? 1000;
    this.#maxGroups = Math.max(1, options.maxGroupsPerRule ?? 100_000);
    this.#recent = new RecentIds(options.recentIds ?? 10_000);
    this.#recentMs = options.recentIdsMs ?? 300_000;
    const seen = new Set<string>();
    this.#rules = [];
    for (const rule of options.rules) {
      if (seen.has(rule.id)) {
        throw new PgwardenError(ErrorCodes.MONITOR_RULE_INVALID, `two rules have the id ${rule.id}`, {
          detail: `${rule.origin}: rule ${rule.id}: id: already used`,
          hint: 'give each rule its own id (loadRules refuses duplicates)',
        });
      }
      seen.add(rule.id);
      if (!rule.enabled) continue;
      const compiled = compileRule(rule, this.#maxEvidence);
      this.#rules.push(compiled);
      if (!compiled.index) this.#unindexed.push(compiled);
      for (const key of compiled.index ?? []) {
        const list = this.#byKey.get(key) ?? [];
        list.push(compiled);
        this.#byKey.set(key, list);
      }
    }
  }

  /** Runs one event through the rules that can match it; returns the 'fire' signals it caused. */
  process(event: MonitorEvent): AlertSignal[] {
    const skip = this.#skip;
    if (skip !== undefined) {
      if (event.time > this.#skipUntil) this.#skip = undefined;
      else if (skip.has(event.id)) {
        this.#skipped += 1;
        return [];
      }
    }
    this.#processed += 1;
    const seq = (this.#seq += 1);
    const out: AlertSignal[] = [];
    let matched = false;
    const visit = (list: CompiledRule[] | undefined) => {
      if (!list) return;
      for (const cr of list) {
        if (cr.seq === seq) continue;
        cr.seq = seq;
        if (this.#apply(cr, event, out)) matched = true;
      }
    };
    visit(this.#byKey.get(`type:${event.type.toLowerCase()}`));
    const category = event.fields.category;
    if (typeof category === 'string') visit(this.#byKey.get(`category:${category.toLowerCase()}`));
    visit(this.#unindexed);
    if (matched) {
      this.#matched += 1;
      this.#recent.add(event.id, event.time);
    }
    return out;
  }

  /**
   * The 'update' signals of incidents that grew (one per incident, at most once per update
   * interval); closes incidents quiet for a whole window and drops idle groups.
   */
  flush(now: number = this.#clock()): AlertSignal[] {
    const out = this.#pendingEvicted;
    this.#pendingEvicted = [];
    for (const cr of this.#rules) {
      const cutoff = now - cr.windowMs;
      while ((cr.groups.oldest()?.value.lastTime ?? cutoff) < cutoff) {
        const g = cr.groups.shift()?.value as Group;
        if (g.incident && g.incident.pending > 0) out.push(this.#update(cr, g, now));
        cr.dirty.delete(g);
      }
      if (cr.after) {
        const afterCutoff = now - cr.after.windowMs;
        while ((cr.afterGroups.oldest()?.value.lastTime ?? afterCutoff) < afterCutoff) cr.afterGroups.shift();
      }
      for (const g of cr.dirty) {
        const inc = g.incident;
        if (!inc || inc.pending === 0) cr.dirty.delete(g);
        else if (now - inc.lastEmit >= this.#updateIntervalMs) {
          out.push(this.#update(cr, g, now));
          cr.dirty.delete(g);
        }
      }
    }
    return out;
  }

  /** Counts for metrics and the bounded-memory check. */
  stats(): RuleEngineStats {
    let groups = 0;
    let incidents = 0;
    const groupsByRule: Record<string, number> = {};
    for (const cr of this.#rules) {
      groupsByRule[cr.rule.id] = cr.groups.size + cr.afterGroups.size;
      groups += cr.groups.size + cr.afterGroups.size;
      for (const g of cr.groups.values()) if (g.incident) incidents += 1;
    }
    return {
      rules: this.#rules.length,
      groups,
      groupsByRule,
      incidents,
      eventsProcessed: this.#processed,
      eventsMatched: this.#matched,
      eventsSkipped: this.#skipped,
      signalsFired: this.#fired,
      signalsUpdated: this.#updated,
      groupsEvicted: this.#evicted,
    };
  }

  /**
   * The windows and open incidents as JSON (format v1), for {@link RuleEngine.restore} in the next
   * process. Its JSON text is at most `maxBytes` (default 4 MiB): past that the least recently
   * active groups are left out (`omitted`). Pending incident events are not included: call
   * `flush()` after it so they are handed on (the daemon does at shutdown).
   *
   * @example
   * await store.save('monitor-1', engine.snapshot(Date.now()));
   */
  snapshot(now: number = this.#clock(), options: { maxBytes?: number } = {}): RuleEngineSnapshot {
    const maxBytes = Math.max(1024, options.maxBytes ?? 4 * 1024 * 1024);
    return takeSnapshot(this.#rules, now, this.#recent.since(now - this.#recentMs), maxBytes);
  }

  /**
   * Restores a {@link RuleEngine.snapshot} taken by an earlier engine, before the first event:
   * groups of rules whose definition is unchanged, minus those whose window passed by `now`
   * (a state older than the longest window is ignored whole); the group cap still holds. For
   * `recentIdsMs` after `now`, events whose ids the old engine counted are skipped. Never throws:
   * an unusable state (wrong version, malformed) is ignored, and the report says why.
   *
   * @example
   * const report = engine.restore(await store.load('monitor-1').then((s) => s?.state), Date.now());
   * report.groups; // groups restored
   */
  restore(snapshot: unknown, now: number = this.#clock()): RuleStateRestoreReport {
    const target: RestoreTarget = {
      rules: this.#rules,
      addGroup: (cr, g) => {
        if (cr.groups.get(g.key)) return false;
        this.#insert(cr.groups, g.key, g, (old) => this.#evictGroup(cr, old));
        return true;
      },
      addAfter: (cr, state) => {
        if (cr.afterGroups.get(state.key)) return false;
        this.#insert(cr.afterGroups, state.key, state);
        return true;
      },
      addSeen: (ids, times) => {
        const from = Math.max(0, ids.length - this.#recent.cap);
        if (from === ids.length) return 0;
        const skip = (this.#skip ??= new Set());
        for (let i = from; i < ids.length; i += 1) {
          const id = ids[i] ?? '';
          skip.add(id);
          // Kept for the next snapshot too, should the monitor stop again soon.
          this.#recent.add(id, times[i] ?? now);
        }
        this.#skipUntil = now + this.#recentMs;
        return ids.length - from;
      },
    };
    return restoreSnapshot(snapshot, now, target);
  }

  #apply(cr: CompiledRule, e: MonitorEvent, out: AlertSignal[]): boolean {
    const isMain = cr.match(e) && !cr.exclude?.(e);
    if (isMain) this.#main(cr, e, out);
    const isAfter = cr.after !== undefined && cr.after.match(e);
    if (isAfter) this.#afterEvent(cr, e);
    return isMain || isAfter;
  }

  // Groups are kept in order of last activity, so flush drops idle ones from the old end.
  #touch<T extends { lastTime: number }>(map: LruMap<T>, key: string, state: T, time: number): void {
    map.touch(key);
    if (time > state.lastTime) state.lastTime = time;
  }

  #insert<T>(map: LruMap<T>, key: string, state: T, onEvict?: (old: T) => void): void {
    map.add(key, state);
    if (map.size <= this.#maxGroups) return;
    const old = map.shift();
    if (!old) return;
    this.#evicted += 1;
    onEvict?.(old.value);
  }

  // An evicted incident's last events still reach the alert store, with the next flush.
  #evictGroup(cr: CompiledRule, g: Group): void {
    if (g.incident && g.incident.pending > 0) this.#pendingEvicted.push(this.#update(cr, g, g.lastTime));
    cr.dirty.delete(g);
  }

  #update(cr: CompiledRule, g: Group, now: number): AlertSignal {
    this.#updated += 1;
    return updateSignal(cr, g, now);
  }

  #main(cr: CompiledRule, e: MonitorEvent, out: AlertSignal[]): void {
    const key = groupKey(cr.keys, e);
    let g = cr.groups.get(key);
    if (g?.incident) {
      this.#touch(cr.groups, key, g, e.time);
      const inc = g.incident;
      if (inc.pending === 0) inc.pendingFirst = e.time;
      inc.pending += 1;
      inc.total += 1;
      inc.pendingLast = e.time;
      if (inc.pendingIds.length < this.#maxEvidence) inc.pendingIds.push(e.id);
      cr.dirty.add(g);
      return;
    }
    let before: Preceding | undefined;
    if (cr.after) {
      before = this.#afterSatisfied(cr, e, key);
      if (!before) return;
    }
    if (g) this.#touch(cr.groups, key, g, e.time);
    else {
      // Every property set up front: one object shape for all groups keeps the hot path monomorphic.
      g = {
        key,
        parts: readParts(cr.keys, e),
        lastTime: e.time,
        ring: undefined,
        distinct: undefined,
        sums: undefined,
        counter: undefined,
        incident: undefined,
      };
      this.#insert(cr.groups, key, g, (old) => this.#evictGroup(cr, old));
    }
    const cutoff = e.time - cr.windowMs;
    const ring = (g.ring ??= new TimeRing(cr.ringCap));
    const dropped = ring.push(e.time, e.id);
    // Events pushed out of a full ring are still counted, by slot (only rules with distinct or sum
    // conditions fire with more events than the ring holds).
    if (dropped !== undefined && cr.needsCounter) (g.counter ??= new SlotCounter(cr.windowMs)).add(dropped, 1);
    ring.prune(cutoff);
    let holds = ring.length >= cr.count;
    if (cr.distinct.length > 0) {
      // A few more values than the threshold needs, so details report small counts exactly.
      const sets = (g.distinct ??= cr.distinct.map((d) => new DistinctSet(Math.max(d.min, 16))));
      cr.distinct.forEach((d, i) => {
        const value = d.field.keyOf(e);
        const set = sets[i] as DistinctSet;
        if (value !== undefined) set.add(value, e.time);
        if (set.countSince(cutoff) < d.min) holds = false;
      });
    }
    if (cr.sums.length > 0) {
      const slots = (g.sums ??= cr.sums.map(() => new SlotCounter(cr.windowMs)));
      cr.sums.forEach((s, i) => {
        const n = Number(s.get(e));
        const slot = slots[i] as SlotCounter;
        if (Number.isFinite(n) && n > 0) slot.add(e.time, n);
        if (slot.total(e.time) < s.min) holds = false;
      });
    }
    if (holds) {
      this.#fired += 1;
      out.push(fireSignal(cr, g, e, before, this.#maxEvidence));
    }
  }

  #afterKey(cr: CompiledRule, e: MonitorEvent, mainKey: string | undefined): string {
    const keys = cr.after?.keys;
    if (!keys) return mainKey ?? groupKey(cr.keys, e);
    return groupKey(keys, e);
  }

  #afterSatisfied(cr: CompiledRule, e: MonitorEvent, mainKey: string): Preceding | undefined {
    const after = cr.after;
    if (!after) return undefined;
    const state = cr.afterGroups.get(this.#afterKey(cr, e, mainKey));
    if (!state) return undefined;
    const cutoff = e.time - after.windowMs;
    state.ring.prune(cutoff);
    if (state.ring.length < after.count) return undefined;
    for (const [i, d] of after.distinct.entries()) {
      if ((state.distinct[i] as DistinctSet).countSince(cutoff) < d.min) return undefined;
    }
    return { ids: state.ring.lastIds(this.#maxEvidence), count: state.ring.length, first: state.ring.oldest };
  }

  #afterEvent(cr: CompiledRule, e: MonitorEvent): void {
    const after = cr.after;
    if (!after) return;
    const key = this.#afterKey(cr, e, undefined);
    let state: AfterState | undefined = cr.afterGroups.get(key);
    if (state) this.#touch(cr.afterGroups, key, state, e.time);
    else {
      state = {
        key,
        lastTime: e.time,
        ring: new TimeRing(after.ringCap),
        distinct: after.distinct.map((d) => new DistinctSet(d.min)),
      };
      this.#insert(cr.afterGroups, key, state);
    }
    state.ring.push(e.time, e.id);
    after.distinct.forEach((d, i) => {
      const value = d.field.keyOf(e);
      if (value !== undefined) (state.distinct[i] as DistinctSet).add(value, e.time);
    });
  }
}

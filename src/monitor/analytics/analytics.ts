import type { AlertSeverity } from '../alert-signal.js';
import { type EventContext, type MonitorEvent, normaliseUser, type UntimedEvent } from '../event.js';
import type {
  AnalyticsResult,
  AnalyticsStats,
  UserAnalyticsOptions,
  UserRisk,
  WaitingItem,
} from './analytics-types.js';
import { HourClock } from './hour-clock.js';
import { isLearning, Judge, noAnomalies, noEvents } from './judge.js';
import { type AnalyticsThresholds, resolveThresholds } from './options.js';
import { Profile, type ProfileJSON, profileToJSON } from './profile.js';
import { ProfileCache, UserState } from './profile-cache.js';
import type { ProfileStore, StoredProfileRow } from './profile-store.js';
import { RestoreQueue } from './restore-queue.js';
import { RiskState } from './risk.js';
import { stateFromRow, stateToRow } from './state-rows.js';

const skipped: AnalyticsResult = Object.freeze({
  user: undefined,
  anomalies: noAnomalies,
  learning: false,
  score: 0,
  events: noEvents,
});
/** Printable ASCII without capitals or spaces is already normal: skip the NFKC pass. */
const plainKey = /^[!-@[-~]+$/;

/**
 * User-behaviour analytics: learns per-user baselines online and scores every event against them.
 *
 * `observe` is synchronous and O(1) per event: it judges the event against the user's profile,
 * learns from it, and returns the anomalies and, when the user's risk score reaches the threshold
 * through a behavioural (non-learning) reason, one `ueba.anomaly` event, at most once per
 * cool-down unless the score rises by `rearmDelta` more. Cold start: a user with fewer than
 * `minEvents` events or seen for less than `minDays` is learning; its anomalies are reported with
 * `learning: true`, add at most `learningCap` points together and never raise an event. A new
 * principal whose first events are already hostile is the rules engine's to catch.
 *
 * With a store, call `load()` before observing and `flush()` periodically and at shutdown.
 *
 * @example
 * const analytics = new UserAnalytics({ store: new ProfileStore(pool) });
 * await analytics.load();
 * const result = analytics.observe(event);
 * for (const e of result.events) pipeline.push(e);
 */
export class UserAnalytics {
  readonly thresholds: AnalyticsThresholds;
  private readonly clock: () => number;
  private readonly judge: Judge;
  private readonly store: ProfileStore | undefined;
  private readonly cache: ProfileCache;
  private readonly restores: RestoreQueue<WaitingItem> | undefined;
  private readonly maxInMemory: number;
  /** Events raised while replaying restored users, handed out with the next result. */
  private late: UntimedEvent[] = [];
  /** True while every stored profile is known to be in memory: a miss is then a new principal. */
  private storeComplete = false;
  private flushChain: Promise<unknown> = Promise.resolve();
  private autoFlushing = false;
  private readonly counters = { observed: 0, skipped: 0, flushedProfiles: 0, flushErrors: 0, invalidProfiles: 0 };

  constructor(options: UserAnalyticsOptions = {}) {
    this.thresholds = resolveThresholds(options.thresholds);
    this.clock = options.clock ?? Date.now;
    this.judge = new Judge(this.thresholds, new HourClock(options.timeZone));
    this.store = options.store;
    this.maxInMemory = Math.max(1, Math.floor(options.maxProfiles ?? 10_000));
    this.cache = new ProfileCache({
      max: this.maxInMemory,
      maxPending: this.maxInMemory,
      keepEvicted: this.store !== undefined,
      onPressure: () => this.flushInBackground(),
    });
    if (this.store) {
      this.restores = new RestoreQueue<WaitingItem>(this.store, {
        maxUsers: Math.max(100, Math.floor(this.maxInMemory / 4)),
        onRow: (key, row, items) => this.restored(key, row, items),
      });
    }
  }

  /** Judges one event against its user's profile, then learns from it. */
  observe(event: MonitorEvent): AnalyticsResult {
    // The monitor's own events (this class's anomalies among them) are not user behaviour.
    if (event.source === 'monitor' || event.user === undefined || !Number.isFinite(event.time)) return this.skip();
    const key = principalKey(event.user);
    if (key === undefined) return this.skip();
    this.counters.observed += 1;
    const state = this.cache.get(key) ?? this.obtain(key, { event });
    if (state === undefined) {
      return { user: key, anomalies: noAnomalies, learning: true, score: 0, events: this.takeLate(), restoring: true };
    }
    const result = this.judge.run(state, event);
    if (this.late.length > 0) result.events = [...this.takeLate(), ...result.events];
    return result;
  }

  /**
   * What the learned profile says about an event, for the rules (`context.known_address`,
   * `context.usual_volume`); undefined when the principal's profile is not in memory. Reads only:
   * call it before `observe`, so the event is judged against what was known before it.
   */
  contextOf(event: MonitorEvent): EventContext | undefined {
    if (event.source === 'monitor' || event.user === undefined || !Number.isFinite(event.time)) return undefined;
    const key = principalKey(event.user);
    const state = key === undefined ? undefined : this.cache.peek(key);
    return state ? this.judge.context(state, event) : undefined;
  }

  /** Adds an alert that names `user` to the user's risk (alerts feed the score, they never raise an event). */
  noteAlert(user: string, severity: AlertSeverity, summary?: string): void {
    const key = principalKey(user);
    if (key === undefined) return;
    const time = this.clock();
    const state = this.cache.get(key) ?? this.obtain(key, { alert: { severity, summary, time } });
    if (state) this.addAlert(state, severity, summary, time);
  }

  /** The risk of `user` now (score 0 and no reasons for a user not in memory). */
  risk(user: string): UserRisk {
    const key = principalKey(user) ?? user;
    const state = this.cache.peek(key);
    if (!state) return { user: key, score: 0, learning: true, reasons: [], profileAge: 0, events: 0 };
    return this.riskOf(state, this.clock());
  }

  /** The `n` users in memory with the highest risk score now, highest first (score 0 left out). */
  topRisk(n: number): UserRisk[] {
    const now = this.clock();
    const scored: { state: UserState; score: number }[] = [];
    for (const state of this.cache.values()) {
      if (state.risk.reasons.length === 0) continue;
      const score = state.risk.score(now, this.thresholds);
      if (score > 0) scored.push({ state, score });
    }
    scored.sort((a, b) => b.score - a.score || (a.state.key < b.state.key ? -1 : 1));
    return scored.slice(0, Math.max(0, n)).map((s) => this.riskOf(s.state, now));
  }

  /** The JSON form of a user's learned profile (what the store would write), or undefined when not in memory. */
  profileOf(user: string): ProfileJSON | undefined {
    const state = this.cache.peek(principalKey(user) ?? user);
    return state ? profileToJSON(state.profile, this.thresholds.hourHalfLifeMs) : undefined;
  }

  /**
   * Writes every changed profile (evicted ones included) to the store, `store.batchSize` per
   * statement, after the restores under way. Resolves to the number written (0 without a store).
   * On failure the profiles stay marked for the next flush and the error (a PgwardenError) is thrown.
   */
  flush(): Promise<number> {
    const run = this.flushChain.then(() => this.flushNow());
    this.flushChain = run.catch(() => undefined);
    return run;
  }

  /** Restores the most recently updated stored profiles (up to maxProfiles). Resolves to how many. */
  async load(): Promise<number> {
    if (!this.store) return 0;
    const { rows, complete } = await this.store.loadRecent(this.maxInMemory);
    let loaded = 0;
    // Oldest first, so the most recently updated end up most recently used.
    for (const row of rows.reverse()) {
      if (this.cache.has(row.principal)) continue;
      const state = stateFromRow(row, this.thresholds);
      if (!state) {
        this.counters.invalidProfiles += 1;
        continue;
      }
      this.cache.set(row.principal, state);
      loaded += 1;
    }
    this.storeComplete = complete && this.cache.evictions === 0;
    return loaded;
  }

  /** Anomaly events raised by restores since the last result, for a pipeline with nothing to observe. */
  takeLate(): readonly UntimedEvent[] {
    if (this.late.length === 0) return noEvents;
    const out = this.late;
    this.late = [];
    return out;
  }

  stats(): AnalyticsStats {
    return {
      profiles: this.cache.size,
      pendingWrites: this.cache.pendingSize,
      restoring: this.restores?.size ?? 0,
      ...this.counters,
      ...this.judge.counters,
      evictions: this.cache.evictions,
      droppedProfiles: this.cache.dropped,
      droppedEvents: this.restores?.dropped ?? 0,
      restoreErrors: this.restores?.errors ?? 0,
    };
  }

  /** Many evicted profiles wait to be written: write them now rather than drop them later. */
  private flushInBackground(): void {
    if (this.autoFlushing) return;
    this.autoFlushing = true;
    // flushNow counts the error and the next flush retries; nothing else to do with it here.
    void this.flush()
      .catch(() => undefined)
      .finally(() => {
        this.autoFlushing = false;
      });
  }

  private skip(): AnalyticsResult {
    this.counters.skipped += 1;
    return skipped;
  }

  private addAlert(state: UserState, severity: AlertSeverity, summary: string | undefined, time: number): void {
    const weight = this.thresholds.weights[`alert_${severity}`];
    const explanation = `named in a ${severity} alert${summary ? `: ${summary}` : ''}`;
    state.risk.add({ code: 'alert', weight, learning: false, explanation, time }, this.thresholds);
    state.dirty = true;
  }

  /**
   * The state of a principal not in memory: an evicted one not yet written, a new one, or (when
   * the store may hold it) undefined while it is fetched, the item waiting for it.
   */
  private obtain(key: string, item: WaitingItem): UserState | undefined {
    const parked = this.cache.takeUnwritten(key);
    if (parked) {
      this.cache.set(key, parked);
      return parked;
    }
    if (this.restores && !this.storeComplete) {
      this.restores.wait(key, item);
      return undefined;
    }
    return this.create(key, 'event' in item ? item.event.time : item.alert.time);
  }

  private create(key: string, time: number): UserState {
    const state = new UserState(key, new Profile(time), new RiskState());
    this.cache.set(key, state);
    // Once something was evicted, the store holds principals memory does not.
    if (this.cache.evictions > 0) this.storeComplete = false;
    return state;
  }

  /** A fetched profile (or none): judge what waited for it, collecting the events it raises. */
  private restored(key: string, row: StoredProfileRow | undefined, items: WaitingItem[]): void {
    let state = row ? stateFromRow(row, this.thresholds) : undefined;
    if (row && !state) this.counters.invalidProfiles += 1;
    if (state) this.cache.set(key, state);
    else {
      const first = items[0];
      state = this.create(
        key,
        first === undefined ? this.clock() : 'event' in first ? first.event.time : first.alert.time,
      );
    }
    for (const item of items) {
      if ('event' in item) this.late.push(...this.judge.run(state, item.event).events);
      else this.addAlert(state, item.alert.severity, item.alert.summary, item.alert.time);
    }
  }

  private riskOf(state: UserState, now: number): UserRisk {
    const t = this.thresholds;
    const p = state.profile;
    return {
      user: state.key,
      score: state.risk.score(now, t),
      learning: isLearning(p, now, t),
      reasons: state.risk.recentFirst(now, t),
      profileAge: Math.max(0, now - p.firstSeen),
      events: p.events,
    };
  }

  private async flushNow(): Promise<number> {
    if (!this.store) return 0;
    await this.restores?.settle();
    const states = this.cache.takeDirty();
    const now = this.clock();
    let written = 0;
    for (let i = 0; i < states.length; i += this.store.batchSize) {
      const batch = states.slice(i, i + this.store.batchSize);
      const rows = batch.map((s) => {
        s.dirty = false;
        return stateToRow(s, now, this.thresholds);
      });
      try {
        written += await this.store.save(rows);
        this.cache.written(batch, true);
      } catch (err) {
        this.counters.flushErrors += 1;
        const unwritten = states.slice(i);
        for (const s of unwritten) s.dirty = true;
        this.cache.written(unwritten, false);
        throw err;
      }
    }
    this.counters.flushedProfiles += written;
    return written;
  }
}

function principalKey(user: string): string | undefined {
  const key = plainKey.test(user) ? user : normaliseUser(user);
  return key.length === 0 || key.length > 500 ? undefined : key;
}

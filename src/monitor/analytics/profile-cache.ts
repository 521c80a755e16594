import type { Profile } from './profile.js';
import type { RiskState } from './risk.js';

/** A principal's profile and risk, with whether it changed since it was last written. */
export class UserState {
  dirty = true;

  constructor(
    readonly key: string,
    readonly profile: Profile,
    readonly risk: RiskState,
  ) {}
}

/**
 * The profiles in memory, least recently used first (a Map keeps insertion order, and a touched
 * entry is moved to the end). Past `max` entries the least recently used is evicted; with
 * `keepEvicted`, an evicted profile with unwritten changes waits in `pending` until the next flush
 * (at most `maxPending` of them, the oldest dropped beyond that and counted).
 *
 * @example
 * const cache = new ProfileCache({ max: 10_000, maxPending: 10_000, keepEvicted: true });
 */
export class ProfileCache {
  private readonly live = new Map<string, UserState>();
  private readonly pending = new Map<string, UserState>();
  /** Evicted states whose write is in flight: a returning user gets them back, not a stale row. */
  private readonly writing = new Map<string, UserState>();
  private lastKey: string | undefined;
  evictions = 0;
  dropped = 0;

  constructor(
    private readonly options: { max: number; maxPending: number; keepEvicted: boolean; onPressure?: () => void },
  ) {}

  get size(): number {
    return this.live.size;
  }

  get pendingSize(): number {
    return this.pending.size;
  }

  /** The live state of `key`, marked most recently used; undefined when not in memory. */
  get(key: string): UserState | undefined {
    const state = this.live.get(key);
    // Consecutive events of one user skip the reordering.
    if (state !== undefined && key !== this.lastKey) {
      this.live.delete(key);
      this.live.set(key, state);
      this.lastKey = key;
    }
    return state;
  }

  /** Like `get`, without changing the order (dashboard reads must not keep a profile alive). */
  peek(key: string): UserState | undefined {
    return this.live.get(key);
  }

  has(key: string): boolean {
    return this.live.has(key);
  }

  /** Takes an evicted state back whose latest changes are not in the store yet (pending or being written). */
  takeUnwritten(key: string): UserState | undefined {
    const state = this.pending.get(key) ?? this.writing.get(key);
    if (state !== undefined) {
      this.pending.delete(key);
      this.writing.delete(key);
    }
    return state;
  }

  /** Adds (or replaces) a live state as most recently used, evicting beyond `max`. */
  set(key: string, state: UserState): void {
    this.live.delete(key);
    this.live.set(key, state);
    this.lastKey = key;
    while (this.live.size > this.options.max) {
      const first = this.live.keys().next();
      if (first.done) break;
      const evicted = this.live.get(first.value)!;
      this.live.delete(first.value);
      this.evictions += 1;
      if (this.options.keepEvicted && evicted.dirty) this.park(evicted);
    }
  }

  /** Puts a state that must still be written into `pending`. */
  park(state: UserState): void {
    this.pending.delete(state.key);
    this.pending.set(state.key, state);
    while (this.pending.size > this.options.maxPending) {
      const first = this.pending.keys().next();
      if (first.done) break;
      this.pending.delete(first.value);
      this.dropped += 1;
    }
    if (this.pending.size >= this.options.maxPending / 2) this.options.onPressure?.();
  }

  /** Every live state (least recently used first). */
  values(): IterableIterator<UserState> {
    return this.live.values();
  }

  /**
   * Everything that must be written: pending states (moved to `writing` until `written` is
   * called), then dirty live ones.
   */
  takeDirty(): UserState[] {
    const out = [...this.pending.values()];
    for (const s of out) this.writing.set(s.key, s);
    this.pending.clear();
    for (const s of this.live.values()) if (s.dirty) out.push(s);
    return out;
  }

  /** Ends the write of `states`: evicted ones still not taken back leave memory (or, on failure, wait again). */
  written(states: readonly UserState[], ok: boolean): void {
    for (const s of states) {
      if (this.writing.get(s.key) !== s) continue;
      this.writing.delete(s.key);
      if (!ok) this.park(s);
    }
  }
}

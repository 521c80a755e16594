/**
 * The newest events of a group (receive time and id), at most `cap` of them: enough to test a
 * count threshold exactly (the cap is never below the threshold) and to name the evidence.
 */
export class TimeRing {
  times: number[] = [];
  ids: string[] = [];

  constructor(readonly cap: number) {}

  /** Adds an event; returns the receive time of the one pushed out when the ring was full. */
  push(time: number, id: string): number | undefined {
    this.times.push(time);
    this.ids.push(id);
    if (this.times.length <= this.cap) return undefined;
    this.ids.shift();
    return this.times.shift();
  }

  /** Drops events received before `cutoff`. */
  prune(cutoff: number): void {
    let n = 0;
    while (n < this.times.length && (this.times[n] ?? 0) < cutoff) n += 1;
    if (n > 0) {
      this.times.splice(0, n);
      this.ids.splice(0, n);
    }
  }

  get length(): number {
    return this.times.length;
  }

  get oldest(): number | undefined {
    return this.times[0];
  }

  /** The newest `max` ids, oldest first. */
  lastIds(max: number): string[] {
    return this.ids.length <= max ? this.ids.slice() : this.ids.slice(this.ids.length - max);
  }
}

/**
 * Distinct values seen, each with the last time it was seen, keeping only the `cap` most recent.
 * Exact for "at least n distinct values within the window" for any n <= cap: when the n most
 * recently seen values are all inside the window there are at least n, and when the n-th is not,
 * fewer. Counts above `cap` are reported as `cap`.
 */
export class DistinctSet {
  readonly #seen = new Map<string, number>();

  constructor(readonly cap: number) {}

  add(value: string, time: number): void {
    // Re-inserting moves the value to the end: the map stays ordered by last sight.
    this.#seen.delete(value);
    this.#seen.set(value, time);
    if (this.#seen.size > this.cap) {
      const first = this.#seen.keys().next();
      if (!first.done) this.#seen.delete(first.value);
    }
  }

  /** The values with the time each was last seen, least recently seen first (for a snapshot). */
  entries(): [string, number][] {
    return [...this.#seen];
  }

  /** How many distinct values were seen at or after `cutoff` (older ones are forgotten). */
  countSince(cutoff: number): number {
    for (const [value, time] of this.#seen) {
      if (time >= cutoff) break;
      this.#seen.delete(value);
    }
    return this.#seen.size;
  }
}

const slots = 17;

/**
 * A sum over a sliding window kept in 17 slots of 1/16 window each: constant memory per group,
 * at the price of counting up to one slot (1/16 of the window) more than the window.
 */
export class SlotCounter {
  readonly #width: number;
  // Plain arrays: a typed array costs more to allocate than it saves for 17 slots.
  readonly #index: number[] = new Array<number>(slots).fill(-1);
  readonly #sums: number[] = new Array<number>(slots).fill(0);

  constructor(windowMs: number) {
    this.#width = Math.max(1, Math.ceil(windowMs / 16));
  }

  add(time: number, amount: number): void {
    const idx = Math.floor(time / this.#width);
    const s = idx % slots;
    if (this.#index[s] !== idx) {
      this.#index[s] = idx;
      this.#sums[s] = 0;
    }
    this.#sums[s] = (this.#sums[s] ?? 0) + amount;
  }

  /** The slots in use as `[slot number, sum]` pairs (for a snapshot). */
  entries(): [number, number][] {
    const out: [number, number][] = [];
    for (let s = 0; s < slots; s += 1) {
      const idx = this.#index[s] ?? -1;
      if (idx >= 0) out.push([idx, this.#sums[s] ?? 0]);
    }
    return out;
  }

  /** Sets a slot from a snapshot's `[slot number, sum]` pair (a counter of the same window). */
  load(idx: number, sum: number): void {
    const s = idx % slots;
    this.#index[s] = idx;
    this.#sums[s] = sum;
  }

  /** The sum of the slots that overlap the window ending at `now`. */
  total(now: number): number {
    const current = Math.floor(now / this.#width);
    let sum = 0;
    for (let s = 0; s < slots; s += 1) {
      const idx = this.#index[s] ?? -1;
      if (idx > current - slots && idx <= current) sum += this.#sums[s] ?? 0;
    }
    return sum;
  }
}

/** Events counted in one minute, for the dashboard's events-per-minute chart. */
export interface MinuteCount {
  /** Start of the minute, ms since the epoch. */
  minute: number;
  count: number;
  /** Counts by event source within the minute. */
  bySource: Record<string, number>;
}

/**
 * Counts events per minute over the last `minutes` minutes in a fixed ring, so the dashboard
 * can chart what the monitor saw, the server log included, without a query.
 *
 * @example
 * const rate = new EventRate(60);
 * rate.add('server-log', Date.now());
 * rate.series(Date.now()); // 60 MinuteCounts, oldest first
 */
export class EventRate {
  readonly #minutes: number;
  readonly #slots: { minute: number; count: number; bySource: Map<string, number> }[];

  constructor(minutes = 60) {
    this.#minutes = minutes;
    this.#slots = Array.from({ length: minutes }, () => ({ minute: -1, count: 0, bySource: new Map() }));
  }

  /** Counts one event of `source` received at `time`. */
  add(source: string, time: number): void {
    const minute = Math.floor(time / 60_000);
    const slot = this.#slots[minute % this.#minutes];
    if (!slot) return;
    if (slot.minute !== minute) {
      slot.minute = minute;
      slot.count = 0;
      slot.bySource.clear();
    }
    slot.count += 1;
    slot.bySource.set(source, (slot.bySource.get(source) ?? 0) + 1);
  }

  /** The last `minutes` minutes up to `now`, oldest first, with zeros where nothing came. */
  series(now: number): MinuteCount[] {
    const last = Math.floor(now / 60_000);
    const out: MinuteCount[] = [];
    for (let m = last - this.#minutes + 1; m <= last; m += 1) {
      const slot = this.#slots[((m % this.#minutes) + this.#minutes) % this.#minutes];
      const hit = slot && slot.minute === m;
      out.push({
        minute: m * 60_000,
        count: hit ? slot.count : 0,
        bySource: hit ? Object.fromEntries(slot.bySource) : {},
      });
    }
    return out;
  }
}

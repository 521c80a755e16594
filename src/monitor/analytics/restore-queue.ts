import type { ProfileStore, StoredProfileRow } from './profile-store.js';

/** Principals fetched per statement. */
const batchSize = 500;
/** Items kept per principal while its profile is fetched (more are counted and dropped). */
const maxItemsPerUser = 256;

/**
 * Fetches the stored profiles of principals that are not in memory, in batches, while their
 * events wait. `observe` must stay synchronous, and a fresh profile in place of a stored one
 * would both forget the baseline and overwrite it at the next flush; so a miss parks the event
 * here and the profile is judged once its row (or the certainty that there is none) arrives.
 * A failed fetch keeps the waiting items and is retried at the next flush or the next miss.
 *
 * @example
 * const queue = new RestoreQueue(store, { maxUsers: 2500, onRow: (key, row, items) => replay(key, row, items) });
 * queue.wait('alice', { event });
 */
export class RestoreQueue<T> {
  private readonly waiting = new Map<string, T[]>();
  private readonly inFlight = new Set<string>();
  private scheduled = false;
  private running: Promise<void> = Promise.resolve();
  dropped = 0;
  errors = 0;
  /** The last fetch error (the next flush retries). */
  lastError: unknown;

  constructor(
    private readonly store: ProfileStore,
    private readonly options: {
      maxUsers: number;
      onRow: (key: string, row: StoredProfileRow | undefined, items: T[]) => void;
    },
  ) {}

  /** Principals waiting for their profile. */
  get size(): number {
    return this.waiting.size;
  }

  /** Parks `item` until `key`'s profile is fetched. */
  wait(key: string, item: T): void {
    let items = this.waiting.get(key);
    if (!items) {
      if (this.waiting.size >= this.options.maxUsers) {
        this.dropped += 1;
        return;
      }
      items = [];
      this.waiting.set(key, items);
      this.schedule();
    }
    if (items.length < maxItemsPerUser) items.push(item);
    else this.dropped += 1;
  }

  /** Resolves when every principal waiting now has been fetched once (successfully or not). */
  async settle(): Promise<void> {
    if (this.waiting.size > this.inFlight.size) this.schedule();
    for (let i = 0; i < 1000 && (this.scheduled || this.inFlight.size > 0); i++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      await this.running;
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.running = this.run();
    });
  }

  private async run(): Promise<void> {
    const keys: string[] = [];
    for (const key of this.waiting.keys()) {
      if (keys.length >= batchSize) break;
      if (!this.inFlight.has(key)) keys.push(key);
    }
    if (keys.length === 0) return;
    for (const k of keys) this.inFlight.add(k);
    let rows: StoredProfileRow[];
    try {
      rows = await this.store.fetch(keys);
    } catch (err) {
      this.errors += 1;
      this.lastError = err;
      for (const k of keys) this.inFlight.delete(k);
      return;
    }
    const byKey = new Map(rows.map((r) => [r.principal, r]));
    for (const key of keys) {
      const items = this.waiting.get(key) ?? [];
      this.waiting.delete(key);
      this.inFlight.delete(key);
      this.options.onRow(key, byKey.get(key), items);
    }
    if (this.waiting.size > this.inFlight.size) this.schedule();
  }
}

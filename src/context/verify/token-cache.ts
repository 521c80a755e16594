/** Counters of a `VerifiedTokenCache`, for `stats()` and `/metrics`. */
export interface TokenCacheStats {
  size: number;
  hits: number;
  misses: number;
  /** Entries dropped to stay within `maxEntries` (least recently used first). */
  evictions: number;
  /** Entries dropped because their token or their key trust ran out. */
  expirations: number;
}

/** Options of `VerifiedTokenCache`. */
export interface VerifiedTokenCacheOptions {
  maxEntries: number;
  /** Clock in milliseconds since the epoch. */
  now: () => number;
  /** An entry is dropped this long after it was stored even if the token is still valid. Default: no limit. */
  maxEntryAgeMs?: number;
}

interface Entry<T> {
  value: T;
  until: number;
}

/**
 * A bounded LRU cache of verified tokens, keyed by the exact canonical token string. An entry
 * lives until the token's own `expiresAt` (never later) or `maxEntryAgeMs`, whichever comes
 * first, so a cache hit never extends trust. Only tokens that passed verification are stored.
 *
 * @example
 * const cache = new VerifiedTokenCache<VerifiedToken>({ maxEntries: 10_000, now: Date.now });
 * cache.set(token, verified);
 * cache.get(token); // verified, until verified.expiresAt
 */
export class VerifiedTokenCache<T extends { expiresAt: number }> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly counters = { hits: 0, misses: 0, evictions: 0, expirations: 0 };

  constructor(private readonly options: VerifiedTokenCacheOptions) {
    if (!Number.isSafeInteger(options.maxEntries) || options.maxEntries < 1) {
      throw new RangeError('maxEntries must be a positive whole number');
    }
  }

  /** The cached value, or undefined when absent or expired (an expired entry is removed). */
  get(token: string): T | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) {
      this.counters.misses++;
      return undefined;
    }
    this.entries.delete(token);
    if (this.options.now() >= entry.until) {
      this.counters.expirations++;
      this.counters.misses++;
      return undefined;
    }
    // Re-insert so Map order stays least-recently-used first.
    this.entries.set(token, entry);
    this.counters.hits++;
    return entry.value;
  }

  /** Stores a verified token; does nothing when it has already expired. */
  set(token: string, value: T): void {
    const now = this.options.now();
    const until = Math.min(value.expiresAt, now + (this.options.maxEntryAgeMs ?? Number.POSITIVE_INFINITY));
    if (!(until > now)) return;
    this.entries.delete(token);
    this.entries.set(token, { value, until });
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      this.entries.delete(oldest.value);
      this.counters.evictions++;
    }
  }

  /** Forgets one token. */
  delete(token: string): void {
    this.entries.delete(token);
  }

  /** Forgets every token (for example after the key set changed). */
  clear(): void {
    this.entries.clear();
  }

  /** Current size and counters. */
  stats(): TokenCacheStats {
    return { size: this.entries.size, ...this.counters };
  }
}

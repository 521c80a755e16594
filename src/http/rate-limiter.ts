import { ErrorCodes, PgwardenError } from '../errors/index.js';

/** Settings of a {@link TokenBucketLimiter}. */
export interface TokenBucketLimiterOptions {
  /** Tokens a full bucket holds: the largest burst one key may spend at once. */
  capacity: number;
  /** Tokens added back per second, up to `capacity`. */
  refillPerSecond: number;
  /**
   * Keys tracked at most (default 100 000). Past it the least recently used key is forgotten,
   * which only ever gives that key a full bucket again: memory stays bounded under a flood of
   * distinct keys.
   */
  maxKeys?: number;
  /** Clock in milliseconds (default `performance.now()`, which never goes backwards). */
  now?: () => number;
}

/** The answer of {@link TokenBucketLimiter.take}. */
export interface TakeResult {
  allowed: boolean;
  /** Whole seconds until the tokens asked for are available again; 0 when allowed. */
  retryAfterSeconds: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * One token bucket per key (a client address, a user name): each request takes tokens, tokens
 * come back at a steady rate. The Map's insertion order doubles as the LRU list: a key is
 * moved to the end on every use and the oldest is dropped when the map outgrows `maxKeys`.
 *
 * @example
 * const limiter = new TokenBucketLimiter({ capacity: 10, refillPerSecond: 1 });
 * const { allowed, retryAfterSeconds } = limiter.take(clientAddress);
 * if (!allowed) respond429(retryAfterSeconds);
 */
export class TokenBucketLimiter {
  readonly #capacity: number;
  readonly #refillPerMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: TokenBucketLimiterOptions) {
    const { capacity, refillPerSecond, maxKeys = 100_000 } = options;
    if (!(capacity > 0) || !Number.isFinite(capacity)) throw invalid('capacity must be a positive number');
    if (!(refillPerSecond > 0) || !Number.isFinite(refillPerSecond))
      throw invalid('refillPerSecond must be a positive number');
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw invalid('maxKeys must be a positive integer');
    this.#capacity = capacity;
    this.#refillPerMs = refillPerSecond / 1000;
    this.#maxKeys = maxKeys;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Takes `cost` tokens from `key`'s bucket if it has them; otherwise takes nothing and says how
   * long to wait.
   *
   * @example
   * limiter.take('203.0.113.7'); // { allowed: true, retryAfterSeconds: 0 }
   */
  take(key: string, cost = 1): TakeResult {
    if (!(cost > 0) || cost > this.#capacity) throw invalid(`cost must be above 0 and at most ${this.#capacity}`);
    const now = this.#now();
    const bucket = this.#buckets.get(key);
    let tokens = this.#capacity;
    if (bucket) {
      // A clock that steps back refills nothing rather than draining the bucket.
      tokens = Math.min(this.#capacity, bucket.tokens + Math.max(0, now - bucket.at) * this.#refillPerMs);
      this.#buckets.delete(key);
    }
    const allowed = tokens >= cost;
    if (allowed) tokens -= cost;
    this.#buckets.set(key, { tokens, at: now });
    if (this.#buckets.size > this.#maxKeys) {
      const oldest = this.#buckets.keys().next();
      if (!oldest.done) this.#buckets.delete(oldest.value);
    }
    if (allowed) return { allowed, retryAfterSeconds: 0 };
    return { allowed, retryAfterSeconds: Math.max(1, Math.ceil((cost - tokens) / (this.#refillPerMs * 1000))) };
  }

  /**
   * Number of keys tracked now (at most `maxKeys`).
   *
   * @example
   * limiter.size; // 1
   */
  get size(): number {
    return this.#buckets.size;
  }
}

function invalid(message: string): PgwardenError {
  return new PgwardenError(ErrorCodes.INTERNAL, `TokenBucketLimiter: ${message}`);
}

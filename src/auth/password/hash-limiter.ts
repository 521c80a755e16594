import { ErrorCodes, PgwardenError } from '../../errors/index.js';

/** Limits of a HashLimiter. */
export interface HashLimiterOptions {
  /** Operations allowed to run at once (integer >= 1). */
  concurrency: number;
  /** Calls allowed to wait for a slot (integer >= 0); one more is refused with PW311. */
  maxQueue: number;
}

/** A snapshot of a HashLimiter. */
export interface HashLimiterStats {
  active: number;
  queued: number;
  concurrency: number;
  maxQueue: number;
}

/**
 * Bounds password hashing: at most `concurrency` operations run at once, the next `maxQueue` wait in
 * arrival order, and any call beyond that is refused at once with PW311 (AUTH_BUSY). Each argon2id
 * hash holds its whole memory cost (19 MiB by default) while it runs, so without a bound 200
 * simultaneous logins would ask for almost 4 GB.
 *
 * @example
 * const limiter = new HashLimiter({ concurrency: 4, maxQueue: 256 });
 * const digest = await limiter.run(() => argon2.hash(password));
 */
export class HashLimiter {
  readonly #concurrency: number;
  readonly #maxQueue: number;
  #active = 0;
  /** Wake-up calls of waiting operations, oldest first; each is handed a slot directly. */
  readonly #waiting: (() => void)[] = [];

  constructor(options: HashLimiterOptions) {
    const { concurrency, maxQueue } = options;
    if (!Number.isInteger(concurrency) || concurrency < 1 || !Number.isInteger(maxQueue) || maxQueue < 0) {
      throw new PgwardenError(ErrorCodes.CONFIG_INVALID, 'the password hashing limits are invalid', {
        detail: 'concurrency must be an integer >= 1 and maxQueue an integer >= 0',
      });
    }
    this.#concurrency = concurrency;
    this.#maxQueue = maxQueue;
  }

  /**
   * Runs `task` when a slot is free. Rejects with PW311 without running it when the queue is full.
   *
   * @example
   * const ok = await limiter.run(() => argon2.verify(stored, password));
   */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active < this.#concurrency && this.#waiting.length === 0) {
      this.#active += 1;
    } else if (this.#waiting.length >= this.#maxQueue) {
      throw new PgwardenError(ErrorCodes.AUTH_BUSY, 'too many password checks are in progress; try again shortly', {
        detail: `${this.#active} running, ${this.#waiting.length} waiting (limit ${this.#maxQueue})`,
        hint: 'retry after a short delay; operators can raise the hashing concurrency or queue size',
      });
    } else {
      // The slot is handed over by `#release`, so `#active` already counts this call on wake-up.
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    try {
      return await task();
    } finally {
      this.#release();
    }
  }

  /**
   * Current load, for metrics and tests.
   *
   * @example
   * const { active, queued } = limiter.stats();
   */
  stats(): HashLimiterStats {
    return {
      active: this.#active,
      queued: this.#waiting.length,
      concurrency: this.#concurrency,
      maxQueue: this.#maxQueue,
    };
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#active -= 1;
  }
}

/** Retry spacing of the delivery queue. */
export interface BackoffPolicy {
  /** Delay after the first failed attempt (default 1 000 ms); it doubles with each further one. */
  baseMs?: number;
  /** Longest delay (default 15 min). */
  maxMs?: number;
  /**
   * Fraction (0-1) of each delay drawn at random and taken off (default 0.2), so monitors and
   * deliveries that failed together do not all retry in the same instant.
   */
  jitter?: number;
}

/**
 * The delay before the next attempt after `attempt` attempts failed (1 = the first):
 * `min(maxMs, baseMs · 2^(attempt-1))`, less up to `jitter` of it, and never shorter than what
 * the receiver asked for (Retry-After) unless that exceeds `maxMs`.
 *
 * @example
 * backoffDelay(3, { baseMs: 1000, maxMs: 900_000, jitter: 0 }); // 4000
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = {},
  random: () => number = Math.random,
  retryAfterMs?: number,
): number {
  const base = policy.baseMs ?? 1000;
  const max = policy.maxMs ?? 15 * 60_000;
  const jitter = Math.min(Math.max(policy.jitter ?? 0.2, 0), 1);
  const exp = Math.min(max, base * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
  const delay = Math.round(exp * (1 - jitter * random()));
  return retryAfterMs === undefined ? delay : Math.min(max, Math.max(delay, retryAfterMs));
}

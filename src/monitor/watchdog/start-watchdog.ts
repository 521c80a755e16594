/**
 * The dead-man's switch (M-13): looks at the heartbeats every `intervalMs` and calls `onStale`
 * when the watched monitor stopped beating, never beat, beats but is stuck (`stalled`), or the
 * database itself cannot be reached. It runs apart from the monitor (`pgwarden monitor
 * watchdog`, another process, ideally another host), so it still alerts when the monitor is
 * dead. One outage is one `onStale`, however many checks it lasts and whatever its reason turns
 * into; `onRecovered` follows once the monitor beats and progresses again.
 */
import type pg from 'pg';
import { ErrorCodes, type PgwardenError } from '../../errors/index.js';
import type { PrimaryConnectionOptions } from '../sources/connect-primary.js';
import { PollingLoop } from '../sources/polling-loop.js';
import { inspectHeartbeats } from './inspect.js';
import { type RecoveredInfo, type StaleInfo, staleError, type VerdictLimits } from './verdict.js';

/** Options of {@link startWatchdog}. */
export interface WatchdogOptions {
  /** The database holding monitor.heartbeats (a standby is fine). */
  connection: PrimaryConnectionOptions;
  /** One monitor's instance name; default: any (up while any instance beats and progresses). */
  instance?: string;
  /** A heartbeat older than this is stale. */
  maxAgeSeconds: number;
  /**
   * A beating monitor whose security-event position has not moved for this long while an event
   * older than this waits is stalled (default {@link defaultStallSeconds}).
   */
  stallSeconds?: number;
  /** Check interval (default 5 000 ms); also bounds each connect and query. */
  intervalMs?: number;
  /**
   * An outage already reported (by an earlier run, remembered in a state file): the watchdog
   * starts in it, so a stale first check is no new outage and a fresh one is its recovery.
   */
  outageSince?: number;
  /** Clock (ms) for the outage's duration (default Date.now). */
  clock?: () => number;
  onStale: (info: StaleInfo) => void;
  /** Each later check that still finds the monitor down, with what it found (the reason may change). */
  onStillStale?: (info: StaleInfo) => void;
  onRecovered?: (info: RecoveredInfo) => void;
}

/** A running watchdog. */
export interface Watchdog {
  /** True during an outage (between onStale and onRecovered). */
  readonly stale: boolean;
  /** What the last check found during an outage. */
  readonly current: StaleInfo | undefined;
  /** Checks now and waits for it. */
  checkNow(): Promise<void>;
  close(): Promise<void>;
}

const CONNECTION_CODES: ReadonlySet<string> = new Set([
  ErrorCodes.CONNECTION_FAILED,
  ErrorCodes.CONNECTION_TIMEOUT,
  ErrorCodes.CONNECTION_AUTH_FAILED,
  ErrorCodes.CONNECTION_NO_DATABASE,
]);

/**
 * True when a failed check means the database could not be reached (rather than read).
 *
 * @example
 * unreachable(new PgwardenError(ErrorCodes.CONNECTION_TIMEOUT, 'timed out')); // true
 */
export const unreachable = (error: PgwardenError): boolean => CONNECTION_CODES.has(error.code);

/**
 * The stall limit when none is given: twice the heartbeat limit, at least a minute, so a busy
 * monitor working through a burst is not mistaken for a stuck one.
 *
 * @example
 * defaultStallSeconds(30); // 60
 */
export const defaultStallSeconds = (maxAgeSeconds: number): number => Math.max(60, 2 * maxAgeSeconds);

/**
 * Starts checking at once and then every `intervalMs`.
 *
 * @example
 * const watchdog = startWatchdog({ connection, instance: 'db1', maxAgeSeconds: 30, intervalMs: 10_000,
 *   onStale: (i) => pager.trigger(i.error.message), onRecovered: () => pager.resolve() });
 */
export function startWatchdog(options: WatchdogOptions): Watchdog {
  const intervalMs = options.intervalMs ?? 5_000;
  const instance = options.instance ?? null;
  const clock = options.clock ?? Date.now;
  const limits: VerdictLimits = {
    maxAgeSeconds: options.maxAgeSeconds,
    stallSeconds: options.stallSeconds ?? defaultStallSeconds(options.maxAgeSeconds),
  };
  let outageSince: number | undefined = options.outageSince;
  let current: StaleInfo | undefined;
  // A stall is reported once a second look, after a newer beat, finds the same events waiting: a
  // row that committed late with an old timestamp is read by a live monitor in the meantime.
  let suspect: { key: string; beatAt: number } | undefined;

  const down = (info: Omit<StaleInfo, 'instance'>): void => {
    current = { instance, ...info };
    if (outageSince !== undefined) {
      options.onStillStale?.(current);
      return;
    }
    outageSince = clock();
    options.onStale(current);
  };
  const fresh = (ageSeconds: number): void => {
    current = undefined;
    if (outageSince === undefined) return;
    const downMs = Math.max(0, clock() - outageSince);
    outageSince = undefined;
    options.onRecovered?.({ instance, ageSeconds, downMs });
  };

  const check = async (client: pg.Client): Promise<void> => {
    const seen = await inspectHeartbeats(client, { instance, ...limits, timeoutMs: intervalMs });
    if (seen.ok) {
      suspect = undefined;
      fresh(seen.ageSeconds);
      return;
    }
    if (seen.reason === 'stalled' && outageSince === undefined) {
      const key = seen.stallKey ?? '';
      const beatAt = seen.beatAt ?? 0;
      if (suspect?.key !== key) suspect = { key, beatAt };
      if (!(beatAt > suspect.beatAt)) return;
    }
    suspect = undefined;
    down({
      ageSeconds: seen.ageSeconds,
      reason: seen.reason,
      error: staleError({ instance, ...seen }, limits),
      ...(seen.stall ? { stall: seen.stall } : {}),
    });
  };

  const loop = new PollingLoop({
    source: 'watchdog',
    connection: { connectTimeoutMs: intervalMs, ...options.connection },
    applicationName: 'pgwarden-watchdog',
    intervalMs,
    onState: (s) => {
      if (s.kind !== 'disconnected') return;
      const reason = unreachable(s.error) ? 'database-unreachable' : 'check-failed';
      down({
        ageSeconds: null,
        reason,
        error: staleError({ instance, reason, ageSeconds: null, cause: s.error }, limits),
      });
    },
    pass: check,
  });
  void loop.start();
  return {
    get stale() {
      return outageSince !== undefined;
    },
    get current() {
      return current;
    },
    checkNow: () => loop.runNow(),
    close: () => loop.close(),
  };
}

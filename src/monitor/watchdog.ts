/**
 * The dead-man's switch (M-13): reads monitor.heartbeat_age() every `intervalMs` and calls
 * `onStale` when the monitor's heartbeat is older than `maxAgeSeconds`, has never beaten, or the
 * database itself cannot be reached. It runs apart from the monitor (`pgwarden monitor
 * watchdog`, another process, ideally another host), so it still alerts when the monitor is
 * dead. One outage is one `onStale`, however many checks it lasts; `onRecovered` follows once
 * the heartbeat is fresh again.
 */
import type pg from 'pg';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import type { PrimaryConnectionOptions } from './sources/connect-primary.js';
import { timedQuery } from './sources/db-session.js';
import { PollingLoop } from './sources/polling-loop.js';

/** Why the watchdog thinks the monitor is down. */
export type StaleReason = 'heartbeat-stale' | 'never-beat' | 'database-unreachable' | 'check-failed';

/** What onStale receives. */
export interface StaleInfo {
  /** The instance watched, or null for "any monitor". */
  instance: string | null;
  /** Seconds since the last beat; null when none is known (never beat, database unreachable). */
  ageSeconds: number | null;
  reason: StaleReason;
  /** PW607, with the database error as its cause when the check itself failed. */
  error: PgwardenError;
}

/** What onRecovered receives. */
export interface RecoveredInfo {
  instance: string | null;
  ageSeconds: number;
  /** How long the outage lasted, as the watchdog saw it. */
  downMs: number;
}

/** Options of {@link startWatchdog}. */
export interface WatchdogOptions {
  /** The database holding monitor.heartbeats (a standby is fine). */
  connection: PrimaryConnectionOptions;
  /** One monitor's instance name; default: the freshest beat of any. */
  instance?: string;
  /** A heartbeat older than this is stale. */
  maxAgeSeconds: number;
  /** Check interval (default 5 000 ms); also bounds each connect and query. */
  intervalMs?: number;
  onStale: (info: StaleInfo) => void;
  onRecovered?: (info: RecoveredInfo) => void;
}

/** A running watchdog. */
export interface Watchdog {
  /** True during an outage (between onStale and onRecovered). */
  readonly stale: boolean;
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
 * Starts checking at once and then every `intervalMs`.
 *
 * @example
 * const watchdog = startWatchdog({ connection, maxAgeSeconds: 30, intervalMs: 10_000,
 *   onStale: (i) => pager.trigger(i.error.message), onRecovered: () => pager.resolve() });
 */
export function startWatchdog(options: WatchdogOptions): Watchdog {
  const intervalMs = options.intervalMs ?? 5_000;
  const instance = options.instance ?? null;
  const who = instance === null ? 'the monitor' : `monitor "${instance}"`;
  let outageSince: number | undefined;

  const stale = (info: Omit<StaleInfo, 'instance'>): void => {
    if (outageSince !== undefined) return;
    outageSince = Date.now();
    options.onStale({ instance, ...info });
  };
  const fresh = (ageSeconds: number): void => {
    if (outageSince === undefined) return;
    const downMs = Date.now() - outageSince;
    outageSince = undefined;
    options.onRecovered?.({ instance, ageSeconds, downMs });
  };

  const check = async (client: pg.Client): Promise<void> => {
    const { rows } = await timedQuery<{ age: number | null }>(
      client,
      'select monitor.heartbeat_age($1) as age',
      [instance],
      intervalMs,
    );
    const age = rows[0]?.age ?? null;
    if (age === null) {
      stale({
        ageSeconds: null,
        reason: 'never-beat',
        error: new PgwardenError(ErrorCodes.MONITOR_HEARTBEAT_STALE, `${who} has never beaten`, {
          hint: 'start the monitor (pgwarden monitor run), or check the instance name the watchdog watches',
        }),
      });
    } else if (age > options.maxAgeSeconds) {
      stale({
        ageSeconds: age,
        reason: 'heartbeat-stale',
        error: new PgwardenError(
          ErrorCodes.MONITOR_HEARTBEAT_STALE,
          `${who} last beat ${Math.round(age)} s ago (limit ${options.maxAgeSeconds} s): it is down, hung or cut off from the database`,
          { hint: 'check the monitor process and its connection to the database' },
        ),
      });
    } else fresh(age);
  };

  const loop = new PollingLoop({
    source: 'watchdog',
    connection: { connectTimeoutMs: intervalMs, ...options.connection },
    applicationName: 'pgwarden-watchdog',
    intervalMs,
    onState: (s) => {
      if (s.kind !== 'disconnected') return;
      const unreachable = CONNECTION_CODES.has(s.error.code);
      stale({
        ageSeconds: null,
        reason: unreachable ? 'database-unreachable' : 'check-failed',
        error: new PgwardenError(
          ErrorCodes.MONITOR_HEARTBEAT_STALE,
          unreachable
            ? `the database holding ${who}'s heartbeat cannot be reached: ${s.error.message}`
            : `${who}'s heartbeat cannot be read: ${s.error.message}`,
          { cause: s.error, hint: 'the monitor cannot record events either while its database is unreachable' },
        ),
      });
    },
    pass: check,
  });
  void loop.start();
  return {
    get stale() {
      return outageSince !== undefined;
    },
    checkNow: () => loop.runNow(),
    close: () => loop.close(),
  };
}

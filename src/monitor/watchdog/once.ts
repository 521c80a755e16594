/**
 * One watchdog run (`pgwarden monitor watchdog --once`, for cron): look once, confirm a suspected
 * stall with a second look after the monitor's next beat, then tell the sinks what changed since
 * the last run (remembered in the state store) with a bounded number of retries per sink.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { type PgwardenError, toPgwardenError } from '../../errors/index.js';
import type { BackoffPolicy, Sink } from '../sinks/index.js';
import { connectPrimary, type PrimaryConnectionOptions } from '../sources/connect-primary.js';
import { closeClient } from '../sources/db-session.js';
import { type Inspection, inspectHeartbeats } from './inspect.js';
import { WatchdogNotifier } from './notifier.js';
import type { NoticeOutcome, WatchdogNotifyEvent } from './notify-events.js';
import { defaultStallSeconds, unreachable } from './start-watchdog.js';
import type { WatchdogStateStore } from './state-store.js';
import { type StaleInfo, type StaleReason, staleError, type StallFacts, type VerdictLimits } from './verdict.js';

/** Options of {@link runWatchdogOnce}. */
export interface WatchdogOnceOptions {
  /** The database holding monitor.heartbeats (a standby is fine). */
  connection: PrimaryConnectionOptions;
  /** One monitor's instance name; default: any. */
  instance?: string;
  maxAgeSeconds: number;
  /** See WatchdogOptions.stallSeconds. */
  stallSeconds?: number;
  /** Deadline of the connect and of each query (default 10 000 ms). */
  timeoutMs?: number;
  /** How long a suspected stall waits for the monitor's next beat to be confirmed (default min(maxAge, 30) s). */
  confirmMs?: number;
  /** Where to alert (default none: the run only reports). */
  sinks?: readonly Sink[];
  /** What earlier runs reported; without it every stale run alerts anew. */
  store?: WatchdogStateStore;
  /** A reminder while the outage lasts, at most this often (default 30 min; 0: never). */
  remindEveryMs?: number;
  /** Attempts per notice in this run (default 5). */
  attempts?: number;
  /** Retry spacing (default 4 s doubling, at most 30 s: 5 attempts span about a minute). */
  backoff?: BackoffPolicy;
  clock?: () => number;
  random?: () => number;
  onEvent?: (event: WatchdogNotifyEvent) => void;
}

/** What one run found and sent. */
export interface WatchdogOnceReport {
  instance: string | null;
  /** Down: stale, never beat, stalled, or its database unreachable or unreadable. */
  stale: boolean;
  ageSeconds: number | null;
  reason?: StaleReason;
  /** PW607 explaining `reason`. */
  error?: PgwardenError;
  stall?: StallFacts;
  /** The watchdog's login may not read logs.notification_log, so a stall cannot be seen. */
  stallCheckDenied?: boolean;
  /** Each notice sent or tried in this run, per sink. */
  notices: NoticeOutcome[];
}

type Look = { ok: true; ageSeconds: number; stallCheckDenied: boolean } | { ok: false; info: StaleInfo };

/**
 * Checks once and alerts on a change.
 *
 * @example
 * const report = await runWatchdogOnce({ connection, maxAgeSeconds: 30, sinks, store: fileStateStore(path) });
 * process.exitCode = report.stale ? 1 : 0;
 */
export async function runWatchdogOnce(options: WatchdogOnceOptions): Promise<WatchdogOnceReport> {
  const instance = options.instance ?? null;
  const limits: VerdictLimits = {
    maxAgeSeconds: options.maxAgeSeconds,
    stallSeconds: options.stallSeconds ?? defaultStallSeconds(options.maxAgeSeconds),
  };
  const look = await lookOnce(options, instance, limits);
  const notifier = await WatchdogNotifier.open({
    sinks: options.sinks ?? [],
    backoff: options.backoff ?? { baseMs: 4_000, maxMs: 30_000, jitter: 0.2 },
    ...pick(options, ['store', 'remindEveryMs', 'clock', 'random', 'onEvent']),
  });
  if (look.ok) notifier.up({ instance, ageSeconds: look.ageSeconds, downMs: 0 });
  else notifier.down(look.info);
  const notices = await notifier.drain(options.attempts ?? 5);
  await notifier.close();
  if (look.ok)
    return { instance, stale: false, ageSeconds: look.ageSeconds, stallCheckDenied: look.stallCheckDenied, notices };
  const { info } = look;
  return {
    instance,
    stale: true,
    ageSeconds: info.ageSeconds,
    reason: info.reason,
    error: info.error,
    ...(info.stall ? { stall: info.stall } : {}),
    notices,
  };
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

async function lookOnce(options: WatchdogOnceOptions, instance: string | null, limits: VerdictLimits): Promise<Look> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const failed = (error: PgwardenError): Look => {
    const reason = unreachable(error) ? 'database-unreachable' : 'check-failed';
    return {
      ok: false,
      info: {
        instance,
        ageSeconds: null,
        reason,
        error: staleError({ instance, reason, ageSeconds: null, cause: error }, limits),
      },
    };
  };
  let client: pg.Client;
  try {
    client = await connectPrimary({
      application_name: 'pgwarden-watchdog',
      connectTimeoutMs: timeoutMs,
      ...options.connection,
    });
  } catch (err) {
    return failed(toPgwardenError(err));
  }
  try {
    const inspect = () => inspectHeartbeats(client, { instance, ...limits, timeoutMs });
    let seen: Inspection = await inspect();
    if (!seen.ok && seen.reason === 'stalled')
      seen = await confirmStall(seen, inspect, options.confirmMs ?? Math.min(options.maxAgeSeconds, 30) * 1000);
    if (seen.ok) return { ok: true, ageSeconds: seen.ageSeconds, stallCheckDenied: seen.stallCheckDenied };
    return {
      ok: false,
      info: {
        instance,
        ageSeconds: seen.ageSeconds,
        reason: seen.reason,
        error: staleError({ instance, ...seen }, limits),
        ...(seen.stall ? { stall: seen.stall } : {}),
      },
    };
  } catch (err) {
    return failed(toPgwardenError(err));
  } finally {
    await closeClient(client);
  }
}

/**
 * Looks again once the monitor beat after the first look (or the wait is over): a row that
 * committed late with an old timestamp is read by a live monitor by then, a real stall stays.
 */
async function confirmStall(
  first: Extract<Inspection, { ok: false }>,
  inspect: () => Promise<Inspection>,
  waitMs: number,
): Promise<Inspection> {
  const deadline = Date.now() + waitMs;
  let seen: Inspection = first;
  while (Date.now() < deadline) {
    await sleep(Math.min(250, Math.max(0, deadline - Date.now())));
    seen = await inspect();
    if (seen.ok || seen.reason !== 'stalled' || seen.stallKey !== first.stallKey) return seen;
    if ((seen.beatAt ?? 0) > (first.beatAt ?? 0)) return seen;
  }
  return seen;
}

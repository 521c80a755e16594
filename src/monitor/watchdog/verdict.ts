/**
 * What the watchdog concludes about a monitor, and the PW607 error that explains it. Shared by the
 * polling watchdog, the one-shot check (`--once`) and the notifier, so a reason reads the same
 * in a log line, in `--json` and in the alert.
 */
import { ErrorCodes, PgwardenError } from '../../errors/index.js';

/**
 * Why the watchdog thinks the monitor is down: it stopped beating (`heartbeat-stale`), never beat
 * (`never-beat`), the database cannot be reached (`database-unreachable`) or read
 * (`check-failed`), or it beats but handles no events while events wait (`stalled`).
 */
export type StaleReason = 'heartbeat-stale' | 'never-beat' | 'database-unreachable' | 'check-failed' | 'stalled';

/** Why a beating monitor counts as stalled: events wait and its position has not moved. */
export interface StallFacts {
  /** The stalled monitor's instance name. */
  instance: string;
  /** The source whose position is compared (the security-event source). */
  source: string;
  /** The highest event id the monitor reports having handled. */
  position: number;
  /** The first event id above that position. */
  oldestPendingId: number;
  /** Events above the position (counted up to 10 000). */
  pendingEvents: number;
  /** Age of the oldest waiting event: how far the monitor is behind (its lag as the database sees it). */
  oldestPendingSeconds: number;
  /** Seconds since the monitor's position last moved. */
  idleSeconds: number;
  /** The source's state as the monitor last reported it, when it did. */
  sourceState?: string;
}

/** What onStale receives. */
export interface StaleInfo {
  /** The instance watched, or null for "any monitor". */
  instance: string | null;
  /** Seconds since the last beat; null when none is known (never beat, database unreachable). */
  ageSeconds: number | null;
  reason: StaleReason;
  /** PW607, with the database error as its cause when the check itself failed. */
  error: PgwardenError;
  /** With reason 'stalled': what was waiting and for how long. */
  stall?: StallFacts;
}

/** What onRecovered receives. */
export interface RecoveredInfo {
  instance: string | null;
  ageSeconds: number;
  /** How long the outage lasted, as the watchdog saw it. */
  downMs: number;
}

/** The limits a verdict is judged against, for its message. */
export interface VerdictLimits {
  maxAgeSeconds: number;
  stallSeconds: number;
}

/**
 * Who the watchdog watches, in words.
 *
 * @example
 * watchedName(null); // 'the monitor'
 * watchedName('db1'); // 'monitor "db1"'
 */
export function watchedName(instance: string | null): string {
  return instance === null ? 'the monitor' : `monitor "${instance}"`;
}

/**
 * The PW607 error of a verdict: what happened and what to do.
 *
 * @example
 * staleError({ instance: 'db1', reason: 'heartbeat-stale', ageSeconds: 95 }, { maxAgeSeconds: 30, stallSeconds: 60 }).message;
 * // 'monitor "db1" last beat 95 s ago (limit 30 s): it is down, hung or cut off from the database'
 */
export function staleError(
  verdict: {
    instance: string | null;
    reason: StaleReason;
    ageSeconds: number | null;
    stall?: StallFacts;
    cause?: PgwardenError;
  },
  limits: VerdictLimits,
): PgwardenError {
  const who = watchedName(verdict.instance);
  const code = ErrorCodes.MONITOR_HEARTBEAT_STALE;
  switch (verdict.reason) {
    case 'never-beat':
      return new PgwardenError(
        code,
        verdict.instance === null ? 'no monitor has ever beaten in this database' : `${who} has never beaten`,
        { hint: 'start the monitor (pgwarden monitor), or check the instance name the watchdog watches' },
      );
    case 'heartbeat-stale':
      return new PgwardenError(
        code,
        `${who} last beat ${Math.round(verdict.ageSeconds ?? 0)} s ago (limit ${limits.maxAgeSeconds} s): it is down, hung or cut off from the database`,
        { hint: 'check the monitor process and its connection to the database' },
      );
    case 'stalled': {
      const s = verdict.stall;
      const what = s
        ? `monitor "${s.instance}" beats but has handled no security event for ${Math.round(s.idleSeconds)} s while ${s.pendingEvents >= 10_000 ? 'over 10000' : s.pendingEvents} wait (the oldest for ${Math.round(s.oldestPendingSeconds)} s, limit ${limits.stallSeconds} s)${s.sourceState ? `; its ${s.source} source reports "${s.sourceState}"` : ''}`
        : `${who} beats but handles no events while events wait (limit ${limits.stallSeconds} s)`;
      return new PgwardenError(code, `${what}: a source or the pipeline is stuck`, {
        hint: 'look at the monitor log and /metrics (pgwarden_monitor_source_up, pgwarden_monitor_source_lag_seconds); restart the monitor if it does not recover',
      });
    }
    case 'database-unreachable':
      return new PgwardenError(
        code,
        `the database holding ${who}'s heartbeat cannot be reached${verdict.cause ? `: ${verdict.cause.message}` : ''}`,
        { cause: verdict.cause, hint: 'the monitor cannot record events either while its database is unreachable' },
      );
    case 'check-failed':
      return new PgwardenError(
        code,
        `${who}'s heartbeat cannot be read${verdict.cause ? `: ${verdict.cause.message}` : ''}`,
        {
          cause: verdict.cause,
          hint: 'check that the watchdog login may read monitor.heartbeats (auditor or security_admin)',
        },
      );
  }
}

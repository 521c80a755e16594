/**
 * The watchdog's own alert, in the shape every sink takes (AlertPayload): one incident per
 * outage of the watched monitor, with rule `monitor-heartbeat`. Trigger on the way down, `update`
 * as a reminder while it lasts, `resolve` on recovery. Every string passes the redactor (M-12):
 * a database error quoted in the message must not carry a secret to a chat channel.
 */
import { type AlertPayload, redactText, redactValue } from '../alerts/index.js';
import type { StaleReason, StallFacts } from './verdict.js';

/** The actions the watchdog sends. */
export type WatchdogAction = 'trigger' | 'update' | 'resolve';

/** An outage as the notifier remembers it (plain JSON: it is kept in the state file). */
export interface OutageRecord {
  /** Identifies the outage in idempotency keys (its start, base 36). */
  id: string;
  /** The watched instance, or null for any monitor. */
  instance: string | null;
  /** When it began (ms). */
  since: number;
  reason: StaleReason;
  /** The PW607 message and hint of the latest finding. */
  message: string;
  hint?: string;
  ageSeconds: number | null;
  stall?: StallFacts;
  /** Notices queued so far (the trigger and reminders). */
  notices: number;
  /** When the last of them was queued (ms). */
  lastNoticeAt: number;
}

const TITLES: Readonly<Record<StaleReason, string>> = {
  'heartbeat-stale': 'pgwarden monitor heartbeat is stale',
  'never-beat': 'pgwarden monitor has never beaten',
  'database-unreachable': "pgwarden monitor's database is unreachable",
  'check-failed': "pgwarden monitor's heartbeat cannot be read",
  stalled: 'pgwarden monitor is stalled',
};

/**
 * The alert id of a watched scope: one per instance (PagerDuty dedupes by it), `watchdog` for any.
 *
 * @example
 * watchdogAlertId('db1'); // 'watchdog:db1'
 */
export const watchdogAlertId = (instance: string | null): string =>
  instance === null ? 'watchdog' : `watchdog:${instance}`;

/**
 * The payload of one notice about `outage`.
 *
 * @example
 * const payload = watchdogPayload('trigger', outage, Date.now());
 * payload.rule; // 'monitor-heartbeat'
 */
export function watchdogPayload(
  action: WatchdogAction,
  outage: OutageRecord,
  now: number,
  recovered?: { ageSeconds: number; downMs: number },
): AlertPayload {
  const downSeconds = Math.round((recovered?.downMs ?? now - outage.since) / 1000);
  const summary =
    action === 'resolve'
      ? `the monitor beats and progresses again after ${downSeconds} s down (${outage.reason}: ${outage.message})`
      : action === 'update'
        ? `still down after ${downSeconds} s: ${outage.message}`
        : outage.message;
  const details: Record<string, unknown> = {
    reason: outage.reason,
    instance: outage.instance,
    age_seconds: outage.ageSeconds,
    down_since: new Date(outage.since).toISOString(),
    down_seconds: downSeconds,
  };
  if (outage.hint) details.hint = outage.hint;
  if (outage.stall) details.stall = outage.stall;
  if (recovered) details.recovered_age_seconds = recovered.ageSeconds;
  return {
    id: redactText(watchdogAlertId(outage.instance)),
    dedupe_key: redactText(`pgwarden-monitor-heartbeat${outage.instance === null ? '' : `:${outage.instance}`}`),
    rule: 'monitor-heartbeat',
    title: TITLES[outage.reason],
    severity: 'critical',
    // Impair Defenses: a silenced monitor is what an intruder would want.
    attack: ['T1562.001'],
    status: action === 'resolve' ? 'resolved' : 'open',
    occurrences: Math.max(1, outage.notices),
    event_count: outage.stall?.pendingEvents ?? 0,
    first_seen: new Date(outage.since).toISOString(),
    last_seen: new Date(now).toISOString(),
    group: outage.instance === null ? {} : { instance: redactText(outage.instance) },
    summary: redactText(summary),
    evidence: [],
    details: redactValue(details),
  };
}

import type { AlertSeverity } from '../alert-signal.js';
import type { AlertRecord, AlertStatus } from './alert-record.js';
import { redactText, redactValue } from './redact.js';

/**
 * What every sink receives about an alert, fixed when the delivery is queued (a retry an hour
 * later sends what was true then). Snake case: it is the JSON body of the webhook sink and the
 * source of every other sink's format. Every string passed the redactor (M-12).
 *
 * @example
 * const p: AlertPayload = buildAlertPayload(alert, { alertUrl: (id) => `https://mon.example/alerts/${id}` });
 * p.rule; // 'pg-brute-force'
 */
export interface AlertPayload {
  id: string;
  dedupe_key: string;
  rule: string;
  title: string;
  severity: AlertSeverity;
  /** MITRE ATT&CK technique ids. */
  attack: string[];
  status: AlertStatus;
  occurrences: number;
  event_count: number;
  /** ISO 8601 (UTC). */
  first_seen: string;
  last_seen: string;
  group: Record<string, string>;
  summary: string;
  /** Ids of the evidence events (`sec:<id>`, `log:…`), at most 200. */
  evidence: string[];
  details: Record<string, unknown>;
  dashboard_url?: string;
}

/** Options of {@link buildAlertPayload}. */
export interface AlertPayloadOptions {
  /** The dashboard page of an alert, linked from every notification. */
  alertUrl?: (alertId: string) => string;
}

/**
 * The payload of an alert, every string redacted (passwords, tokens, JWTs, PEM blocks, URI
 * passwords, long keys are masked), so no sink can leak one.
 *
 * @example
 * const payload = buildAlertPayload(alert);
 * JSON.stringify(payload); // safe to send anywhere
 */
export function buildAlertPayload(alert: AlertRecord, options: AlertPayloadOptions = {}): AlertPayload {
  const payload: AlertPayload = {
    id: alert.id,
    dedupe_key: redactText(alert.dedupeKey),
    rule: alert.ruleId,
    title: redactText(alert.title),
    severity: alert.severity,
    attack: alert.attack.map((a) => redactText(a)),
    status: alert.status,
    occurrences: alert.occurrences,
    event_count: alert.eventCount,
    first_seen: alert.firstSeen.toISOString(),
    last_seen: alert.lastSeen.toISOString(),
    group: redactValue(alert.group),
    summary: redactText(alert.summary),
    // Event ids are pgwarden's own (`log:<file key>:<offset>`): only the structural patterns
    // apply, so a hash in a file key is not mistaken for a key.
    evidence: alert.evidence.map((e) => redactText(e, { opaque: false })),
    details: redactValue(alert.details),
  };
  if (options.alertUrl) payload.dashboard_url = options.alertUrl(alert.id);
  return payload;
}

/**
 * The idempotency key of a delivery, `<alert id>:<action>:<delivery id>`: the same for every
 * attempt, so a receiver that saw it already drops a re-delivery (at-least-once, F-09).
 *
 * @example
 * idempotencyKey('42', 'trigger', '7'); // '42:trigger:7'
 */
export function idempotencyKey(alertId: string, action: string, deliveryId: string): string {
  return `${alertId}:${action}:${deliveryId}`;
}

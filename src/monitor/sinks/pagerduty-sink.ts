import type { AlertSeverity } from '../alert-signal.js';
import type { DeliveryAction } from '../alerts/index.js';
import { postJson } from './http-post.js';
import type { Sink, SinkDelivery } from './sink.js';

/**
 * The default Events API v2 endpoint.
 *
 * @example
 * pagerDutySink({ name: 'pd', routingKey, url: PAGERDUTY_EVENTS_URL });
 */
export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

/** What {@link pagerDutySink} needs, the routing key already resolved. */
export interface PagerDutySinkOptions {
  name: string;
  routingKey: string;
  url?: string;
  /** `payload.source` (default `pgwarden`). */
  source?: string;
  component?: string;
  group?: string;
  timeoutMs?: number;
}

/**
 * Our severity → PagerDuty's (critical, error, warning, info).
 *
 * @example
 * pagerDutySeverity.high; // 'error'
 */
export const pagerDutySeverity: Readonly<Record<AlertSeverity, string>> = {
  critical: 'critical',
  high: 'error',
  medium: 'warning',
  low: 'info',
};

const eventAction: Readonly<Record<DeliveryAction, string>> = {
  trigger: 'trigger',
  // A trigger with a known dedup_key adds to the open incident instead of opening another.
  update: 'trigger',
  acknowledge: 'acknowledge',
  resolve: 'resolve',
};

/**
 * The dedup key of an alert at PagerDuty: one per alert, shared by its trigger, updates,
 * acknowledge and resolve.
 *
 * @example
 * pagerDutyDedupKey('42'); // 'pgwarden-alert-42'
 */
export const pagerDutyDedupKey = (alertId: string): string => `pgwarden-alert-${alertId}`;

/**
 * The Events API v2 body of a delivery.
 *
 * @example
 * pagerDutyEvent(delivery, { routingKey, source: 'db1' }); // { routing_key, event_action: 'trigger', dedup_key, payload: {…} }
 */
export function pagerDutyEvent(
  delivery: SinkDelivery,
  options: Pick<PagerDutySinkOptions, 'routingKey' | 'source' | 'component' | 'group'>,
): Record<string, unknown> {
  const p = delivery.payload;
  const event: Record<string, unknown> = {
    routing_key: options.routingKey,
    event_action: eventAction[delivery.action],
    dedup_key: pagerDutyDedupKey(p.id),
  };
  if (delivery.action === 'trigger' || delivery.action === 'update') {
    event.payload = {
      summary: `[${p.severity.toUpperCase()}] ${p.title}: ${p.summary}`.slice(0, 1024),
      source: options.source ?? 'pgwarden',
      severity: pagerDutySeverity[p.severity],
      timestamp: p.last_seen,
      component: options.component ?? 'postgresql',
      group: options.group ?? p.group.database ?? 'pgwarden',
      class: p.rule,
      custom_details: {
        alert_id: p.id,
        rule: p.rule,
        attack: p.attack,
        status: p.status,
        occurrences: p.occurrences,
        event_count: p.event_count,
        first_seen: p.first_seen,
        last_seen: p.last_seen,
        group: p.group,
        evidence: p.evidence.slice(0, 20),
        details: p.details,
      },
    };
    event.client = 'pgwarden';
    if (p.dashboard_url) {
      event.client_url = p.dashboard_url;
      event.links = [{ href: p.dashboard_url, text: 'pgwarden dashboard' }];
    }
  }
  return event;
}

/**
 * PagerDuty Events API v2: trigger on a new alert (and its updates), acknowledge and resolve with
 * the same dedup_key. 202 delivers; 429 and 5xx are retried; 400 (invalid event) is permanent.
 *
 * @example
 * const sink = pagerDutySink({ name: 'pd', routingKey });
 * await sink.send({ action: 'resolve', payload, idempotencyKey: '42:resolve:9' });
 */
export function pagerDutySink(options: PagerDutySinkOptions): Sink {
  return {
    name: options.name,
    kind: 'pagerduty',
    supportsLifecycle: true,
    async send(delivery) {
      await postJson({
        sink: options.name,
        url: options.url ?? PAGERDUTY_EVENTS_URL,
        body: JSON.stringify(pagerDutyEvent(delivery, options)),
        timeoutMs: options.timeoutMs ?? 10_000,
      });
    },
  };
}

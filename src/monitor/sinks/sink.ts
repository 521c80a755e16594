import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import type { AlertPayload, DeliveryAction } from '../alerts/index.js';

/** The kinds of alert sink. */
export const sinkKinds = ['webhook', 'slack', 'smtp', 'syslog', 'pagerduty'] as const;
export type SinkKind = (typeof sinkKinds)[number];

/**
 * One delivery as a sink sends it: what happened, the alert as it was when queued, and the key a
 * receiver dedupes by (the same on every attempt).
 *
 * @example
 * await sink.send({ action: 'trigger', payload, idempotencyKey: '42:trigger:7' });
 */
export interface SinkDelivery {
  action: DeliveryAction;
  payload: AlertPayload;
  idempotencyKey: string;
}

/**
 * Where alerts go. `send` resolves once the receiver accepted the delivery and throws a
 * {@link SinkFailedError} (PW605) otherwise; its message names the sink and the reason but never
 * a secret or a URL's credential part.
 *
 * @example
 * const sink: Sink = createSink({ name: 'ops', kind: 'webhook', url: 'https://hooks.example/pgwarden', secret: 'env:HOOK_SECRET' }, { secrets });
 * await sink.send({ action: 'trigger', payload, idempotencyKey });
 */
export interface Sink {
  readonly name: string;
  readonly kind: SinkKind;
  /** Understands acknowledge and resolve (PagerDuty closes its incident); others take them as notices. */
  readonly supportsLifecycle: boolean;
  send(delivery: SinkDelivery): Promise<void>;
}

/** How a failed delivery should be retried. */
export interface SinkFailureOptions {
  /** No retry can succeed (a 4xx, a 5xx SMTP reply): the delivery is dead at once. */
  permanent?: boolean;
  /** The HTTP status or SMTP reply code, when there was one. */
  status?: number;
  /** The receiver asked to wait this long (HTTP Retry-After). */
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * A delivery the sink did not accept (PW605, MONITOR_SINK_FAILED). The queue retries it with
 * backoff unless `permanent`.
 *
 * @example
 * throw new SinkFailedError('ops', 'answered HTTP 503', { status: 503 });
 */
export class SinkFailedError extends PgwardenError {
  readonly sink: string;
  readonly permanent: boolean;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(sink: string, reason: string, options: SinkFailureOptions = {}) {
    super(ErrorCodes.MONITOR_SINK_FAILED, `sink ${sink}: ${reason}`, {
      hint: options.permanent
        ? 'the receiver refused the delivery; fix the sink configuration or the receiver, then resend'
        : 'the delivery is retried with backoff',
      cause: options.cause,
    });
    this.name = 'SinkFailedError';
    this.sink = sink;
    this.permanent = options.permanent ?? false;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * Human wording of a delivery action, for subjects and titles.
 *
 * @example
 * actionLabel('update'); // 'ongoing'
 */
export function actionLabel(action: DeliveryAction): string {
  return { trigger: 'new', update: 'ongoing', acknowledge: 'acknowledged', resolve: 'resolved' }[action];
}

import { postJson } from './http-post.js';
import type { Sink, SinkDelivery } from './sink.js';
import { signWebhook } from './webhook-signature.js';

/** What {@link webhookSink} needs, secrets already resolved. */
export interface WebhookSinkOptions {
  name: string;
  url: string;
  /** The HMAC-SHA256 signing secret. */
  secret: string;
  timeoutMs?: number;
  /** Now in ms (the X-Pgwarden-Timestamp). Default Date.now. */
  clock?: () => number;
}

/**
 * The JSON body of a webhook delivery. It holds nothing that changes between attempts, so a
 * retried body is byte-identical and receivers dedupe on `idempotency_key`.
 *
 * @example
 * webhookBody({ action: 'trigger', payload, idempotencyKey: '42:trigger:7' });
 * // '{"action":"trigger","idempotency_key":"42:trigger:7","alert":{…}}'
 */
export function webhookBody(delivery: SinkDelivery): string {
  return JSON.stringify({ action: delivery.action, idempotency_key: delivery.idempotencyKey, alert: delivery.payload });
}

/**
 * A signed JSON webhook: POST with `Idempotency-Key`, `X-Pgwarden-Timestamp` and
 * `X-Pgwarden-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`
 * (check it with `verifyWebhookSignature`). 2xx delivers; 408, 429, 5xx, timeouts and refused
 * connections are retried; other 4xx are permanent.
 *
 * @example
 * const sink = webhookSink({ name: 'ops', url: 'https://hooks.example/pgwarden', secret });
 * await sink.send({ action: 'trigger', payload, idempotencyKey: '42:trigger:7' });
 */
export function webhookSink(options: WebhookSinkOptions): Sink {
  const clock = options.clock ?? Date.now;
  return {
    name: options.name,
    kind: 'webhook',
    supportsLifecycle: true,
    async send(delivery) {
      const body = webhookBody(delivery);
      const timestamp = String(Math.floor(clock() / 1000));
      await postJson({
        sink: options.name,
        url: options.url,
        body,
        timeoutMs: options.timeoutMs ?? 10_000,
        headers: {
          'Idempotency-Key': delivery.idempotencyKey,
          'X-Pgwarden-Timestamp': timestamp,
          'X-Pgwarden-Signature': signWebhook(options.secret, timestamp, body),
        },
      });
    },
  };
}

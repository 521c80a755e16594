import type { DeliveryAction } from '../alerts/index.js';

/** Which delivery an event is about. */
interface DeliveryRef {
  deliveryId: string;
  alertId: string;
  sink: string;
  action: DeliveryAction;
  /** The attempt this was (1 = the first). */
  attempt: number;
}

/**
 * What the DeliveryQueue reports, for the logger and the metrics. Errors are redacted and never
 * hold a sink's secret.
 *
 * @example
 * const queue = new DeliveryQueue({ connection, sinks, onEvent: (e: DeliveryEvent) => log.info(e, e.kind) });
 */
export type DeliveryEvent =
  | ({ kind: 'delivery-sent' } & DeliveryRef)
  | ({ kind: 'delivery-retry'; error: string; retryAt: number } & DeliveryRef)
  | ({ kind: 'delivery-dead'; error: string } & DeliveryRef)
  | { kind: 'delivery-queue-error'; code: string; error: string };

/**
 * What one pass of the queue did.
 *
 * @example
 * const { delivered, failed, dead }: DeliveryPassResult = await queue.runOnce();
 */
export interface DeliveryPassResult {
  /** Deliveries taken. */
  claimed: number;
  delivered: number;
  /** Failed and scheduled for another attempt. */
  failed: number;
  /** Failed for good (permanent error or maxAttempts reached). */
  dead: number;
}

/**
 * The monitor's alerts: one stored incident per attack with a counter, silences, the suppression
 * window, the open → acknowledged → resolved lifecycle, the delivery outbox, and the redactor
 * that keeps secrets out of every alert (M-12).
 *
 * @example
 * import { AlertStore, buildAlertPayload, redactText } from './monitor/alerts/index.js';
 */
export { type AlertPayload, type AlertPayloadOptions, buildAlertPayload, idempotencyKey } from './alert-payload.js';
export {
  type AlertChange,
  type AlertRecord,
  type AlertStatus,
  type DeliveryAction,
  toAlertChange,
  toAlertRecord,
} from './alert-record.js';
export {
  type AlertDelivery,
  type AlertDetail,
  type AlertListQuery,
  AlertStore,
  type AlertStoreOptions,
} from './alert-store.js';
export { MAX_EVIDENCE, type RecordResult } from './record-signal.js';
export { maskSinkUrl, redactText, redactValue, type RedactOptions, scrubSecrets } from './redact.js';
export type { SilenceInput, SilenceRecord } from './silences.js';

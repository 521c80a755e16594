/**
 * Where alerts go: signed webhooks, Slack-compatible chat, e-mail (pgwarden's own SMTP client),
 * RFC 5424 syslog and PagerDuty, built from validated configuration by `createSink`, and the
 * durable DeliveryQueue that sends the AlertStore's outbox with retries, backoff and leases.
 *
 * @example
 * import { createSink, DeliveryQueue, verifyWebhookSignature } from './monitor/sinks/index.js';
 */
export { backoffDelay, type BackoffPolicy } from './backoff.js';
export { createSink, type SinkDependencies } from './create-sink.js';
export type { DeliveryEvent, DeliveryPassResult } from './delivery-events.js';
export { DeliveryQueue, type DeliveryQueueOptions } from './delivery-queue.js';
export { postJson, type PostJsonOptions } from './http-post.js';
export {
  PAGERDUTY_EVENTS_URL,
  pagerDutyDedupKey,
  pagerDutyEvent,
  pagerDutySeverity,
  pagerDutySink,
  type PagerDutySinkOptions,
} from './pagerduty-sink.js';
export {
  actionLabel,
  type Sink,
  type SinkDelivery,
  SinkFailedError,
  type SinkFailureOptions,
  type SinkKind,
  sinkKinds,
} from './sink.js';
export {
  type PagerDutySinkConfig,
  type SinkConfig,
  sinkConfigSchema,
  type SlackSinkConfig,
  type SmtpSinkConfig,
  type SyslogSinkConfig,
  type WebhookSinkConfig,
} from './sink-config.js';
export { slackMessage, slackSink, type SlackSinkOptions } from './slack-sink.js';
export { dotStuff, sendMail, type SmtpConnectionOptions, type SmtpMail } from './smtp-client.js';
export { alertMail, type AlertMailOptions, alertSubject, headerValue, mailDate, messageId } from './smtp-message.js';
export { smtpSink, type SmtpSinkOptions } from './smtp-sink.js';
export { alertSyslogSeverity, formatAlertSyslog, syslogSink, type SyslogSinkOptions } from './syslog-sink.js';
export { signWebhook, verifyWebhookSignature, type VerifyWebhookOptions } from './webhook-signature.js';
export { webhookBody, webhookSink, type WebhookSinkOptions } from './webhook-sink.js';

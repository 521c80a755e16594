import {
  escapeSdValue,
  openSyslogSender,
  SD_ID,
  syslogFacility,
  type SyslogTransport,
} from '../../audit/export/index.js';
import { isPgwardenError } from '../../errors/index.js';
import type { AlertSeverity } from '../alert-signal.js';
import { actionLabel, type Sink, type SinkDelivery, SinkFailedError } from './sink.js';

/** What {@link syslogSink} needs. */
export interface SyslogSinkOptions {
  name: string;
  host: string;
  port?: number;
  transport: SyslogTransport;
  /** PEM CA certificates to trust for TLS. */
  ca?: string | Buffer;
  /** Facility name or number (default `authpriv`, 10). */
  facility?: string | number;
  hostname?: string;
  timeoutMs?: number;
  clock?: () => number;
}

/**
 * Alert severity → syslog severity (RFC 5424 §6.2.1): critical 2, high 3 (error), medium 4
 * (warning), low 5 (notice). Acknowledge and resolve notices are 6 (informational).
 *
 * @example
 * alertSyslogSeverity.high; // 3
 */
export const alertSyslogSeverity: Readonly<Record<AlertSeverity, number>> = { critical: 2, high: 3, medium: 4, low: 5 };

// eslint-disable-next-line no-control-regex -- control characters would split the message
const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, ' ');
// MSGID is 1-32 printable ASCII characters without spaces.
const msgId = (rule: string) => rule.replace(/[^!-~]/g, '_').slice(0, 32) || '-';

/**
 * One RFC 5424 message for a delivery: `<PRI>1 TIMESTAMP HOSTNAME pgwarden - <rule id>
 * [pgwarden@32473 alert_id=… action=… severity=… attack=… …] <title>: <summary>`, PRI from the
 * facility and the alert's severity.
 *
 * @example
 * formatAlertSyslog(delivery, { facility: 'authpriv', now: Date.now() });
 * // '<83>1 2025-01-01T00:00:00.000Z - pgwarden - pg-brute-force [pgwarden@32473 alert_id="42" …] Brute force: …'
 */
export function formatAlertSyslog(
  delivery: SinkDelivery,
  options: { facility?: string | number; hostname?: string; now: number },
): string {
  const p = delivery.payload;
  const lifecycle = delivery.action === 'acknowledge' || delivery.action === 'resolve';
  const pri = syslogFacility(options.facility ?? 'authpriv') * 8 + (lifecycle ? 6 : alertSyslogSeverity[p.severity]);
  const params: [string, string][] = [
    ['alert_id', p.id],
    ['action', delivery.action],
    ['rule', p.rule],
    ['severity', p.severity],
    ['attack', p.attack.join(',')],
    ['status', p.status],
    ['occurrences', String(p.occurrences)],
    ['event_count', String(p.event_count)],
    ['first_seen', p.first_seen],
    ['last_seen', p.last_seen],
    ['idempotency_key', delivery.idempotencyKey],
    ...Object.entries(p.group).map(([k, v]): [string, string] => [
      `group.${k}`.replace(/[^!-~]|[=\]"]/g, '_').slice(0, 32),
      v,
    ]),
  ];
  const sd = `[${SD_ID}${params.map(([k, v]) => ` ${k}="${escapeSdValue(v)}"`).join('')}]`;
  const msg = oneLine(`${p.title} (${actionLabel(delivery.action)}): ${p.summary}`);
  const time = new Date(options.now).toISOString();
  return `<${pri}>1 ${time} ${options.hostname ?? '-'} pgwarden - ${msgId(p.rule)} ${sd} ${msg}`;
}

/**
 * RFC 5424 syslog over UDP, TCP or TLS (octet-counted framing, RFC 6587/5425), one connection per
 * delivery. Over UDP a collector that is down goes unnoticed (there is no acknowledgement).
 *
 * @example
 * const sink = syslogSink({ name: 'siem', host: 'siem.example', transport: 'tls' });
 * await sink.send({ action: 'trigger', payload, idempotencyKey: '42:trigger:7' });
 */
export function syslogSink(options: SyslogSinkOptions): Sink {
  const clock = options.clock ?? Date.now;
  const port = options.port ?? (options.transport === 'tls' ? 6514 : 514);
  return {
    name: options.name,
    kind: 'syslog',
    supportsLifecycle: false,
    async send(delivery) {
      const message = formatAlertSyslog(delivery, { ...options, now: clock() });
      try {
        const sender = await openSyslogSender({
          host: options.host,
          port,
          transport: options.transport,
          ca: options.ca,
          timeoutMs: options.timeoutMs ?? 10_000,
        });
        try {
          await sender.send(message);
        } finally {
          await sender.close();
        }
      } catch (err) {
        const reason = isPgwardenError(err) ? err.message.replace(/^syslog destination /, '') : String(err);
        throw new SinkFailedError(options.name, `syslog ${reason}`, { cause: err });
      }
    },
  };
}

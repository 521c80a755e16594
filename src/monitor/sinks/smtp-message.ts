import type { AlertPayload } from '../alerts/index.js';
import { actionLabel, type SinkDelivery } from './sink.js';

/** What {@link alertMail} needs besides the delivery. */
export interface AlertMailOptions {
  from: string;
  to: readonly string[];
  /** Default `[pgwarden]`. */
  subjectPrefix?: string;
  /** When the message is written (ms since the epoch). */
  now: number;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/**
 * An RFC 5322 date-time in UTC, e.g. `Wed, 01 Jan 2025 09:30:00 +0000`.
 *
 * @example
 * mailDate(Date.UTC(2025, 0, 1, 9, 30)); // 'Wed, 01 Jan 2025 09:30:00 +0000'
 */
export function mailDate(ms: number): string {
  const d = new Date(ms);
  return `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${two(
    d.getUTCHours(),
  )}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

/**
 * A header value on one line (CR and LF would let an event plant headers), RFC 2047
 * B-encoded when it is not ASCII, folded into encoded words of at most 45 bytes.
 *
 * @example
 * headerValue('Brute force\r\nBcc: x@evil'); // 'Brute force  Bcc: x@evil'
 */
export function headerValue(value: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is removed
  const flat = value.replace(/[\u0000-\u001f\u007f]/g, ' ');
  if (/^[ -~]*$/.test(flat)) return flat;
  const words: string[] = [];
  let chunk = '';
  for (const ch of flat) {
    if (Buffer.byteLength(chunk + ch, 'utf8') > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join('\r\n ');
}

/**
 * The Message-ID of a delivery, derived from its idempotency key, so every attempt of one
 * delivery carries the same id and a mail system can drop a repeat.
 *
 * @example
 * messageId('42:trigger:7', 'pgwarden@example.com'); // '<pgwarden.42.trigger.7@example.com>'
 */
export function messageId(idempotencyKey: string, from: string): string {
  const domain = from.split('@')[1] || 'pgwarden.invalid';
  return `<pgwarden.${idempotencyKey.replace(/[^A-Za-z0-9]+/g, '.')}@${domain}>`;
}

/**
 * The subject of an alert mail: `[pgwarden] [HIGH] Brute force (new)`.
 *
 * @example
 * alertSubject(delivery, '[pgwarden]');
 */
export function alertSubject(delivery: SinkDelivery, prefix = '[pgwarden]'): string {
  const p = delivery.payload;
  return `${prefix} [${p.severity.toUpperCase()}] ${p.title} (${actionLabel(delivery.action)})`.trim();
}

function bodyText(delivery: SinkDelivery): string {
  const p: AlertPayload = delivery.payload;
  const row = (label: string, value: string) => `${`${label}:`.padEnd(14)}${value}`;
  const shown = p.evidence.slice(0, 20);
  const more = p.evidence.length > shown.length ? ` (and ${p.evidence.length - shown.length} more)` : '';
  const lines = [
    `${p.severity.toUpperCase()} alert, ${actionLabel(delivery.action)}: ${p.title}`,
    '',
    p.summary,
    '',
    row('Rule', p.rule),
    row('Severity', p.severity),
    row('Status', p.status),
    row('ATT&CK', p.attack.join(', ') || '-'),
    row('Occurrences', String(p.occurrences)),
    row('Events', String(p.event_count)),
    row('First seen', p.first_seen),
    row('Last seen', p.last_seen),
    row(
      'Group',
      Object.entries(p.group)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || '-',
    ),
    row('Evidence', `${shown.join(', ') || '-'}${more}`),
    row('Alert', p.id),
  ];
  if (p.dashboard_url) lines.push(row('Dashboard', p.dashboard_url));
  const details = Object.entries(p.details);
  if (details.length) {
    lines.push('', 'Details:', ...details.map(([k, v]) => `  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`));
  }
  lines.push('', `Delivery ${delivery.idempotencyKey}. Sent by the pgwarden security monitor.`);
  return lines.join('\r\n');
}

const base64Lines = (text: string) => Buffer.from(text, 'utf8').toString('base64').replace(/.{76}/g, '$&\r\n');

/**
 * The RFC 5322 message of a delivery: From, To, Subject, Date, Message-ID (from the idempotency
 * key), Auto-Submitted and a plain-text body (7bit when it is short-lined ASCII, else base64).
 *
 * @example
 * const message = alertMail(delivery, { from: 'pgwarden@example.com', to: ['sec@example.com'], now: Date.now() });
 */
export function alertMail(delivery: SinkDelivery, options: AlertMailOptions): string {
  const body = bodyText(delivery);
  const plain = /^[\t\r\n -~]*$/.test(body) && body.split('\r\n').every((l) => l.length <= 998);
  const headers = [
    `From: ${options.from}`,
    `To: ${options.to.join(', ')}`,
    `Subject: ${headerValue(alertSubject(delivery, options.subjectPrefix))}`,
    `Date: ${mailDate(options.now)}`,
    `Message-ID: ${messageId(delivery.idempotencyKey, options.from)}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Transfer-Encoding: ${plain ? '7bit' : 'base64'}`,
    'Auto-Submitted: auto-generated',
    `X-Pgwarden-Alert-Id: ${headerValue(delivery.payload.id)}`,
    `X-Pgwarden-Idempotency-Key: ${headerValue(delivery.idempotencyKey)}`,
  ];
  return `${headers.join('\r\n')}\r\n\r\n${plain ? body : base64Lines(body)}\r\n`;
}

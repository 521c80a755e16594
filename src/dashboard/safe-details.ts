// The dashboard shows security events as the database holds them, and logs.notification_log is
// written by every part of pgwarden and by applications through logs.log_event(): a careless
// writer can put a password, a token or a session key in `details`, or a JWT in `subject`. The
// monitor never copies such things into events or alerts (M-12), and the dashboard must not show
// them either, so it masks with the monitor's own rules.
import { redactText, redactValue } from '../monitor/alerts/index.js';
import { isSecretKey } from '../monitor/sources/index.js';

const MAX_DEPTH = 20;

/**
 * Event details safe to show: the value of every key that names a secret (`password`,
 * `refreshToken`, `api_key`, `otp`, `hash` … at any depth, whatever its type) replaced by `***`,
 * and every string run through the monitor's redactor (JWTs, PEM blocks, URI passwords,
 * `password=…`, long opaque keys).
 *
 * @example
 * safeDetails({ reason: 'password', password: 'hunter2', token: 'abc', note: 'eyJhbGciOi….x.y' });
 * // { reason: 'password', password: '***', token: '***', note: '[redacted JWT]' }
 */
export function safeDetails(details: unknown): Record<string, unknown> {
  if (details === null || typeof details !== 'object' || Array.isArray(details)) return {};
  return redactValue(mask(details, 0) as Record<string, unknown>);
}

/**
 * A free-text column (actor, subject) safe to show; null stays null.
 *
 * @example
 * safeText('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig'); // '[redacted JWT]'
 */
export function safeText(text: string | null): string | null {
  return text === null ? null : redactText(text);
}

function mask(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[nested too deep]';
  if (Array.isArray(value)) return value.map((v) => mask(v, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, isSecretKey(k) ? '***' : mask(v, depth + 1)]));
}

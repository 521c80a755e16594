import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The `X-Pgwarden-Signature` value of a body sent at `timestamp` (Unix seconds):
 * `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`. Binding the timestamp lets a receiver
 * refuse a replayed request after its tolerance.
 *
 * @example
 * signWebhook('s3cret', '1735689600', '{"action":"trigger"}'); // 'v1=5c…'
 */
export function signWebhook(secret: string, timestamp: string, body: string | Buffer): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
  return `v1=${mac}`;
}

/** Options of {@link verifyWebhookSignature}. */
export interface VerifyWebhookOptions {
  /** Largest difference between the timestamp and now, in seconds (default 300). */
  toleranceSeconds?: number;
  /** Now in ms since the epoch (default Date.now()). */
  now?: number;
}

/**
 * Checks a pgwarden webhook on the receiving side: the `X-Pgwarden-Timestamp` is within the
 * tolerance and one of the `v1=` signatures in `X-Pgwarden-Signature` (comma-separated while a
 * secret is rotated) is the HMAC of `timestamp.body` under `secret`, compared in constant time.
 * Pass the raw body bytes as received, before any JSON parsing.
 *
 * @example
 * const ok = verifyWebhookSignature(secret, req.headers['x-pgwarden-timestamp'], rawBody,
 *   req.headers['x-pgwarden-signature'], { toleranceSeconds: 300 });
 * if (!ok) return res.status(401).end();
 */
export function verifyWebhookSignature(
  secret: string,
  timestamp: string | undefined,
  body: string | Buffer,
  header: string | undefined,
  options: VerifyWebhookOptions = {},
): boolean {
  if (!secret || !timestamp || !header || !/^[0-9]{1,15}$/.test(timestamp)) return false;
  const tolerance = options.toleranceSeconds ?? 300;
  const now = (options.now ?? Date.now()) / 1000;
  if (Math.abs(now - Number(timestamp)) > tolerance) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body).slice(3), 'hex');
  let ok = false;
  for (const part of header.split(',')) {
    const m = /^\s*v1=([0-9a-fA-F]{64})\s*$/.exec(part);
    if (!m) continue;
    // No early exit: every candidate is compared, so timing says nothing about which matched.
    if (timingSafeEqual(Buffer.from(m[1]!, 'hex'), expected)) ok = true;
  }
  return ok;
}

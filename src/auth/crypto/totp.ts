import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';

/** HMAC behind the code. Authenticator apps assume SHA1; the others are for RFC 6238 completeness. */
export type TotpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

/** Code parameters; the defaults are what every authenticator app expects. */
export interface TotpOptions {
  /** Default `'SHA1'`. */
  algorithm?: TotpAlgorithm;
  /** 6 (default), 7 or 8. */
  digits?: number;
  /** Time step in seconds, default 30. */
  period?: number;
}

/** Verification options. */
export interface VerifyTotpOptions extends TotpOptions {
  /** Steps accepted either side of the current one for clock drift: 0–10, default 1. */
  window?: number;
}

const HMAC_NAMES: Readonly<Record<TotpAlgorithm, string>> = { SHA1: 'sha1', SHA256: 'sha256', SHA512: 'sha512' };
const MAX_WINDOW = 10;
const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * A new TOTP secret: 20 random bytes (160 bits, the RFC 4226 recommendation). Seal it with a
 * `SecretBox` before it goes into the database.
 *
 * @example
 * const secret = newTotpSecret();
 * const sealed = box.seal(secret, `totp:${factorId}`);
 */
export function newTotpSecret(): Buffer {
  return randomBytes(20);
}

/**
 * The time step that `timeMs` falls in (RFC 6238 `T`, with `T0 = 0`).
 *
 * @example
 * totpStep(59_000); // 1
 */
export function totpStep(timeMs: number, period = 30): number {
  checkPeriod(period);
  if (!Number.isFinite(timeMs) || timeMs < 0) {
    throw new PgwardenError(ErrorCodes.INTERNAL, 'TOTP time must be a non-negative number of milliseconds');
  }
  return Math.floor(timeMs / (period * 1000));
}

/**
 * The TOTP code for `secret` at `timeMs` (milliseconds since the epoch).
 *
 * @example
 * totpCode(secret, Date.now()); // '492039'
 */
export function totpCode(secret: Uint8Array, timeMs: number, options: TotpOptions = {}): string {
  const { algorithm, digits, period } = resolve(options);
  return hotp(secret, totpStep(timeMs, period), algorithm, digits);
}

/**
 * Checks a code typed by the user. Returns the matched time step, or null. Anything but exactly
 * `digits` ASCII digits is refused before any HMAC is computed; matching is constant-time, and
 * every step in the window is computed whether or not an earlier one matched.
 *
 * Replay protection is the caller's job: store the returned step with the factor and refuse a
 * code whose step is less than or equal to the stored one, in the same transaction that updates it.
 *
 * @example
 * const step = verifyTotp(secret, body.code, clock(), { window: 1 });
 * if (step === null || step <= factor.lastStep) throw mfaInvalid();
 * await setLastStep(factor.id, step);
 */
export function verifyTotp(
  secret: Uint8Array,
  code: unknown,
  timeMs: number,
  options: VerifyTotpOptions = {},
): number | null {
  const { algorithm, digits, period } = resolve(options);
  const window = options.window ?? 1;
  if (!Number.isInteger(window) || window < 0 || window > MAX_WINDOW) {
    throw new PgwardenError(ErrorCodes.INTERNAL, `the TOTP window must be an integer from 0 to ${MAX_WINDOW}`);
  }
  if (typeof code !== 'string' || code.length !== digits || !/^[0-9]+$/.test(code)) return null;
  const given = Buffer.from(code, 'ascii');
  const current = totpStep(timeMs, period);
  let matched: number | null = null;
  for (let offset = -window; offset <= window; offset++) {
    const step = current + offset;
    if (step < 0) continue;
    const expected = Buffer.from(hotp(secret, step, algorithm, digits), 'ascii');
    if (timingSafeEqual(expected, given) && matched === null) matched = step;
  }
  return matched;
}

/**
 * The `otpauth://` URI an authenticator app reads from a QR code (Key URI Format). Issuer and
 * account may not contain `:`, which separates them in the label.
 *
 * @example
 * otpauthUri({ secret, account: 'ada@example.com', issuer: 'Acme' });
 * // 'otpauth://totp/Acme:ada%40example.com?secret=…&issuer=Acme&algorithm=SHA1&digits=6&period=30'
 */
export function otpauthUri(input: { secret: Uint8Array; account: string; issuer: string } & TotpOptions): string {
  const { algorithm, digits, period } = resolve(input);
  for (const field of ['issuer', 'account'] as const) {
    const value = input[field];
    if (typeof value !== 'string' || value.length === 0 || value.includes(':')) {
      throw new PgwardenError(ErrorCodes.AUTH_INVALID_INPUT, `the TOTP ${field} must be non-empty and without ':'`, {
        detail: field,
      });
    }
  }
  const issuer = uriEncode(input.issuer);
  const label = `${issuer}:${uriEncode(input.account)}`;
  const query = `secret=${base32Encode(input.secret)}&issuer=${issuer}&algorithm=${algorithm}&digits=${digits}&period=${period}`;
  return `otpauth://totp/${label}?${query}`;
}

/** RFC 4226 HOTP: dynamic truncation of HMAC(secret, counter). */
function hotp(secret: Uint8Array, counter: number, algorithm: TotpAlgorithm, digits: number): string {
  if (secret.length === 0) throw new PgwardenError(ErrorCodes.INTERNAL, 'the TOTP secret is empty');
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(HMAC_NAMES[algorithm], secret).update(message).digest();
  const offset = (mac[mac.length - 1] as number) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

function resolve(options: TotpOptions): Required<TotpOptions> {
  const algorithm = options.algorithm ?? 'SHA1';
  const digits = options.digits ?? 6;
  const period = options.period ?? 30;
  if (!Object.hasOwn(HMAC_NAMES, algorithm)) {
    throw new PgwardenError(ErrorCodes.INTERNAL, 'the TOTP algorithm must be SHA1, SHA256 or SHA512');
  }
  if (!Number.isInteger(digits) || digits < 6 || digits > 8) {
    throw new PgwardenError(ErrorCodes.INTERNAL, 'TOTP codes have 6, 7 or 8 digits');
  }
  checkPeriod(period);
  return { algorithm, digits, period };
}

function checkPeriod(period: number): void {
  if (!Number.isInteger(period) || period < 1 || period > 300) {
    throw new PgwardenError(ErrorCodes.INTERNAL, 'the TOTP period must be a whole number of seconds from 1 to 300');
  }
}

/** RFC 3986 percent-encoding: encodeURIComponent leaves !'()* alone, which some apps misread. */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * RFC 4648 base32 (upper case, no padding), the form authenticator apps take secrets in.
 *
 * @example
 * base32Encode(Buffer.from('foobar')); // 'MZXW6YTBOI'
 */
export function base32Encode(data: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of data) {
    buffer = ((buffer << 8) | byte) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32_ALPHABET[(buffer >> bits) & 31];
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * Decodes RFC 4648 base32; lower case, `=` padding and spaces are accepted (people type secrets).
 * Throws `AUTH_INVALID_INPUT` on any other character or an impossible length.
 *
 * @example
 * base32Decode('mzxw 6ytb oi'); // <Buffer 66 6f 6f 62 61 72>
 */
export function base32Decode(text: string): Buffer {
  const clean = text.replace(/\s+/g, '').replace(/=+$/, '').toUpperCase();
  // 1, 3 and 6 characters left over cannot come from whole bytes.
  if (/[^A-Z2-7]/.test(clean) || [1, 3, 6].includes(clean.length % 8)) {
    throw new PgwardenError(ErrorCodes.AUTH_INVALID_INPUT, 'the value is not valid base32');
  }
  const out = Buffer.alloc(Math.floor((clean.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let index = 0;
  for (const char of clean) {
    buffer = ((buffer << 5) | BASE32_ALPHABET.indexOf(char)) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[index++] = (buffer >> bits) & 0xff;
    }
  }
  return out;
}

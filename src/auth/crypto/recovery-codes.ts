import { createHash, createHmac, randomBytes } from 'node:crypto';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';

/** A new recovery code: show `code` to the user once, store only `digest`. */
export interface RecoveryCode {
  /** `xxxx-xxxx-xxxx`, 60 random bits. */
  code: string;
  /** SHA-256 of the code's normalised form, 32 bytes. */
  digest: Buffer;
}

/**
 * 32 characters, so 5 bits each, lower case and without 0/o and 1/l, the pairs people confuse
 * when reading a printout (i stays: with 1 and l gone there is nothing to mistake it for).
 */
const ALPHABET = '23456789abcdefghijkmnpqrstuvwxyz';
const GROUPS = 3;
const GROUP_CHARS = 4;
const MAX_CODES = 100;
/** Dashes a copy from a document may carry instead of '-'. */
const SEPARATORS = /[\s\-\u2010-\u2015\u2212]+/g;

/**
 * Makes `n` single-use recovery codes (default 10), each `xxxx-xxxx-xxxx` from a 32-character
 * alphabet: 12 × 5 = 60 random bits. No two codes in one set are equal.
 *
 * @example
 * const codes = newRecoveryCodes();
 * // codes[0].code === 'k7mq-2xhd-9pwa' is shown once; codes[0].digest goes into the database
 */
export function newRecoveryCodes(n = 10): RecoveryCode[] {
  if (!Number.isInteger(n) || n < 1 || n > MAX_CODES) {
    throw new PgwardenError(ErrorCodes.INTERNAL, `the number of recovery codes must be from 1 to ${MAX_CODES}`);
  }
  const codes = new Set<string>();
  while (codes.size < n) codes.add(randomCode());
  return [...codes].map((code) => ({ code, digest: recoveryCodeDigest(code) }));
}

/**
 * The form a code is hashed in: lower case, without spaces or dashes, so `K7MQ 2XHD 9PWA` and
 * `k7mq-2xhd-9pwa` are the same code.
 *
 * @example
 * normaliseRecoveryCode(' K7MQ-2XHD 9pwa '); // 'k7mq2xhd9pwa'
 */
export function normaliseRecoveryCode(input: string): string {
  return input.replace(SEPARATORS, '').toLowerCase();
}

/**
 * SHA-256 of the normalised code: what is stored and compared. The code has 60 random bits, which
 * rules out guessing through the login form; the digest only matters if the table leaks.
 *
 * @example
 * const digest = recoveryCodeDigest(body.code); // look it up among the user's unused digests
 */
export function recoveryCodeDigest(code: string, key?: Uint8Array): Buffer {
  const normalised = normaliseRecoveryCode(code);
  // With a key (a master-key subkey), an HMAC: a leaked table then cannot be searched offline.
  if (key) return createHmac('sha256', key).update(normalised, 'utf8').digest();
  return createHash('sha256').update(normalised, 'utf8').digest();
}

function randomCode(): string {
  // 256 is a multiple of 32, so the low 5 bits of a random byte are uniform: no modulo bias.
  const bytes = randomBytes(GROUPS * GROUP_CHARS);
  const chars = [...bytes].map((byte) => ALPHABET[byte & 31] as string).join('');
  const groups: string[] = [];
  for (let i = 0; i < GROUPS; i++) groups.push(chars.slice(i * GROUP_CHARS, (i + 1) * GROUP_CHARS));
  return groups.join('-');
}

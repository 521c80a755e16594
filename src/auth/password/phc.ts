import bcrypt from 'bcryptjs';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';

/** A parsed PHC string: `$<id>[$v=<version>][$<name>=<value>,…]$<salt>$<hash>`. */
export interface PhcHash {
  /** Algorithm: `argon2id`, `argon2i`, `argon2d` or `bcrypt-sha256`. */
  id: string;
  /** From a separate `$v=…$` segment (argon2's `v=19`); absent for bcrypt-sha256, whose `v` is a param. */
  version?: number | undefined;
  /** Parameters; decimal values become numbers (`m: 19456`), others stay strings (`t: '2a'`). */
  params: Record<string, string | number>;
  salt: Buffer;
  hash: Buffer;
}

/** Longer than any hash pgwarden writes or reads; refuses garbage before any work is done on it. */
const MAX_PHC_LENGTH = 512;
const idPattern = /^[a-z0-9-]{1,32}$/;
const versionPattern = /^v=(\d{1,10})$/;
const paramPattern = /^([a-z0-9-]{1,32})=([A-Za-z0-9/+.-]{1,64})$/;
const b64Pattern = /^[A-Za-z0-9+/]*$/;
const bcryptSaltPattern = /^[./A-Za-z0-9]{22}$/;
const bcryptHashPattern = /^[./A-Za-z0-9]{31}$/;

/**
 * Parses a PHC-format password hash. Salt and hash are standard Base64 without padding, except for
 * `bcrypt-sha256`, which keeps bcrypt's own alphabet (22-character salt, 31-character hash).
 * Throws PW310 (AUTH_INVALID_INPUT) when the string is not one; the message never quotes it.
 *
 * @example
 * const { id, version, params } = parsePhc('$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA');
 * // id 'argon2id', version 19, params { m: 19456, t: 2, p: 1 }
 */
export function parsePhc(phc: string): PhcHash {
  if (typeof phc !== 'string' || phc.length > MAX_PHC_LENGTH) fail('it is not a string of at most 512 characters');
  const segments = phc.split('$');
  if (segments.shift() !== '') fail('it does not start with $');
  const id = segments.shift() ?? '';
  if (!idPattern.test(id)) fail('the algorithm id is malformed');
  let version: number | undefined;
  const versionMatch = versionPattern.exec(segments[0] ?? '');
  if (versionMatch) {
    version = Number(versionMatch[1]);
    segments.shift();
  }
  const params: Record<string, string | number> = {};
  if (segments.length === 3) {
    for (const pair of (segments.shift() as string).split(',')) {
      const match = paramPattern.exec(pair);
      if (!match) fail('a parameter is malformed');
      const [, name, value] = match as unknown as [string, string, string];
      if (Object.hasOwn(params, name)) fail('a parameter appears twice');
      params[name] = /^\d{1,15}$/.test(value) ? Number(value) : value;
    }
  }
  if (segments.length !== 2) fail('it does not end with a salt and a hash');
  const [saltText, hashText] = segments as [string, string];
  const [salt, hash] =
    id === 'bcrypt-sha256'
      ? [decodeBcrypt64(saltText, bcryptSaltPattern, 16), decodeBcrypt64(hashText, bcryptHashPattern, 23)]
      : [decodeB64(saltText), decodeB64(hashText)];
  return { id, version, params, salt, hash };
}

/** PHC's B64: standard alphabet, no padding; Buffer's decoder alone would skip stray characters. */
function decodeB64(text: string): Buffer {
  if (text.length === 0 || !b64Pattern.test(text) || text.length % 4 === 1) fail('the salt or hash is not Base64');
  return Buffer.from(text, 'base64');
}

function decodeBcrypt64(text: string, pattern: RegExp, bytes: number): Buffer {
  if (!pattern.test(text)) fail('the salt or hash is not bcrypt Base64 of the right length');
  return Buffer.from(bcrypt.decodeBase64(text, bytes));
}

function fail(why: string): never {
  throw new PgwardenError(ErrorCodes.AUTH_INVALID_INPUT, 'the stored password hash is not a valid PHC string', {
    detail: why,
  });
}

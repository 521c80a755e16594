import { createHmac } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { normalizePassword } from './normalize.js';

/**
 * bcrypt-sha256: the scheme of the SQL-only path, where pgcrypto has bcrypt but no argon2.
 *
 *   salt    = '$2a$' + cost (two digits) + '$' + 22 bcrypt-Base64 characters   (gen_salt('bf', cost))
 *   prehash = base64(HMAC-SHA256(key = utf8(salt), message = utf8(NFKC(password))))   — 44 ASCII characters
 *   crypt   = bcrypt(prehash, salt)   → '$2a$' + cost + '$' + 22 salt + 31 hash characters
 *   stored  = '$bcrypt-sha256$v=2,t=2a,r=' + cost (two digits) + '$' + 22 salt + '$' + 31 hash
 *
 * The cost is written with two digits, as in the crypt string, because the SQL verifier
 * (auth._verify_sql_password) only accepts that form; Node reads one or two.
 *
 * The prehash stops bcrypt's silent truncation at 72 bytes and can never contain a NUL byte, and
 * keying the HMAC with the salt keeps the prehash unique per hash. In SQL:
 *   crypt(encode(hmac(convert_to(normalize(pw, NFKC), 'UTF8'), convert_to(salt, 'UTF8'), 'sha256'), 'base64'), salt)
 */
const phcPattern = /^\$bcrypt-sha256\$v=2,t=(2a|2b|2y),r=(\d{1,2})\$([./A-Za-z0-9]{22})\$([./A-Za-z0-9]{31})$/;
const cryptPattern = /^\$(2a|2b|2y)\$(\d{2})\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/;
const MIN_COST = 4;
// The SQL policy allows 10-15; a stored hash asking for more is refused rather than run, since
// bcryptjs works on the event loop and cost 31 would stall the service.
const MAX_COST = 15;

/**
 * Verifies a password against a `$bcrypt-sha256$` hash (constant-time comparison by bcryptjs).
 * Resolves false for a wrong password and for any string that is not such a hash.
 *
 * @example
 * const ok = await verifyBcryptSha256(row.password_hash, submittedPassword);
 */
export async function verifyBcryptSha256(phc: string, password: string): Promise<boolean> {
  const match = typeof phc === 'string' ? phcPattern.exec(phc) : null;
  if (!match) return false;
  const [, variant, costText, salt22, hash31] = match as unknown as [string, string, string, string, string];
  const cost = Number(costText);
  if (cost < MIN_COST || cost > MAX_COST) return false;
  const salt = `$${variant}$${String(cost).padStart(2, '0')}$${salt22}`;
  return bcrypt.compare(prehash(salt, password), salt + hash31);
}

/**
 * Hashes a password with bcrypt-sha256, as the SQL path does (tests and migration tooling; new
 * hashes from Node are argon2id).
 *
 * @example
 * const phc = await hashBcryptSha256('correct horse battery staple', 12);
 * // '$bcrypt-sha256$v=2,t=2a,r=12$<22 characters>$<31 characters>' (cost 4 gives r=04)
 */
export async function hashBcryptSha256(password: string, cost: number): Promise<string> {
  if (!Number.isInteger(cost) || cost < MIN_COST || cost > MAX_COST) {
    throw new PgwardenError(ErrorCodes.CONFIG_INVALID, 'the bcrypt cost is invalid', {
      detail: `the cost must be an integer from ${MIN_COST} to ${MAX_COST}`,
    });
  }
  // bcryptjs writes '$2b$'; pgcrypto writes '$2a$'. The salt characters are what matter, and the
  // prefix is part of the HMAC key, so use the one the SQL side uses.
  const salt = `$2a$${String(cost).padStart(2, '0')}$${(await bcrypt.genSalt(cost)).slice(7)}`;
  return bcryptSha256FromCrypt(await bcrypt.hash(prehash(salt, password), salt));
}

/**
 * Turns pgcrypto's `crypt()` output for a bcrypt-sha256 prehash (`$2a$12$<53 characters>`) into the
 * stored PHC string. Throws PW310 (AUTH_INVALID_INPUT) when the input is not a bcrypt crypt string.
 *
 * @example
 * bcryptSha256FromCrypt('$2a$04$' + 'a'.repeat(53)); // '$bcrypt-sha256$v=2,t=2a,r=04$aaaa…$aaaa…'
 */
export function bcryptSha256FromCrypt(crypt: string): string {
  const match = cryptPattern.exec(crypt);
  if (!match) {
    throw new PgwardenError(ErrorCodes.AUTH_INVALID_INPUT, 'the value is not a bcrypt crypt() string', {
      detail: 'expected $2a$<cost>$ followed by 53 bcrypt Base64 characters',
    });
  }
  const [, variant, costText, salt22, hash31] = match as unknown as [string, string, string, string, string];
  return `$bcrypt-sha256$v=2,t=${variant},r=${costText}$${salt22}$${hash31}`;
}

function prehash(salt: string, password: string): string {
  return createHmac('sha256', Buffer.from(salt, 'utf8'))
    .update(Buffer.from(normalizePassword(password), 'utf8'))
    .digest('base64');
}

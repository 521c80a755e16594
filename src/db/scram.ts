import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

/**
 * A SCRAM-SHA-256 verifier for `alter role … password '<verifier>'` (RFC 5802/7677, as
 * PostgreSQL stores it). Setting a role's password from its verifier keeps the password itself
 * out of statements, server logs, pg_stat_statements and pgaudit.
 *
 * @example
 * await client.query(`alter role pgw_authenticator password ${quoteLiteral(scramVerifier(secret))}`);
 */
export function scramVerifier(password: string, iterations = 4096, salt: Buffer = randomBytes(16)): string {
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { MAX_TOKEN_LENGTH } from './verify-options.js';

// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 7235).
const BEARER = /^bearer(?: (.*))?$/is;
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** The `error` values of RFC 6750 §3.1. */
export type BearerError = 'invalid_token' | 'invalid_request' | 'insufficient_scope';

function malformed(detail: string): PgwardenError {
  return new PgwardenError(ErrorCodes.JWT_INVALID, 'the token is not valid', { detail });
}

/**
 * Reads the token from an `Authorization` header (RFC 6750). Returns `null` when there is no
 * header or it uses another scheme such as `Basic` (that is not a bearer token; the caller decides
 * whether anonymous access is allowed). Throws PW320 for a `Bearer` header that is empty, holds
 * more than one token, characters outside b64token, or more than 8 KiB [J-22, J-23].
 *
 * @example
 * parseBearer('Bearer eyJhbGciOi...'); // 'eyJhbGciOi...'
 * parseBearer('bearer abc');            // 'abc'
 * parseBearer('Basic dXNlcjpwYXNz');    // null
 * parseBearer('Bearer ');               // throws PW320 (detail 'bearer-empty')
 */
export function parseBearer(authorizationHeader: string | undefined): string | null {
  if (authorizationHeader === undefined) return null;
  if (typeof authorizationHeader !== 'string') throw malformed('bearer-malformed');
  if (authorizationHeader.length > MAX_TOKEN_LENGTH + 16) throw malformed('size');
  const match = BEARER.exec(authorizationHeader);
  if (match === null) return null;
  const credentials = match[1] ?? '';
  if (credentials.trim() === '') throw malformed('bearer-empty');
  if (!B64TOKEN.test(credentials)) throw malformed('bearer-malformed');
  return credentials;
}

/**
 * The `WWW-Authenticate` value for a 401/403 answer. It names the error code only: no realm,
 * description or reason, so a response never tells an attacker which check failed.
 *
 * @example
 * wwwAuthenticate('invalid_token'); // 'Bearer error="invalid_token"'
 * wwwAuthenticate();                // 'Bearer'
 */
export function wwwAuthenticate(error?: BearerError): string {
  if (error === undefined) return 'Bearer';
  const allowed: readonly BearerError[] = ['invalid_token', 'invalid_request', 'insufficient_scope'];
  return `Bearer error="${allowed.includes(error) ? error : 'invalid_token'}"`;
}

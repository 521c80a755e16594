import { createHash, randomBytes } from 'node:crypto';

/** What an opaque token is for; each kind has its own prefix so a token cannot stand in for another. */
export type OpaqueTokenKind = 'session' | 'refresh' | 'mfa';

/** A new token: give `token` to the client, store only `digest`. */
export interface NewOpaqueToken {
  /** Prefix + 43 base64url characters (256 random bits). Shown once, never stored. */
  token: string;
  /** SHA-256 of the whole token string (32 bytes): what the database keeps and looks up. */
  digest: Buffer;
}

const PREFIXES: Readonly<Record<OpaqueTokenKind, string>> = {
  session: 'pgws_',
  refresh: 'pgwr_',
  mfa: 'pgwm_',
};
const RANDOM_BYTES = 32;
/** 32 bytes in unpadded base64url. */
const BODY_CHARS = 43;
const TOKEN_CHARS = 5 + BODY_CHARS;
/** The last character of 43 carries 4 data bits and 2 zero bits; only these 16 are canonical. */
const BODY = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/**
 * Makes a session, refresh or MFA-challenge token: a kind prefix and 256 random bits. The digest
 * is stored instead of the token, so a leaked table holds nothing a client could present.
 *
 * @example
 * const { token, digest } = newOpaqueToken('session');
 * // token: 'pgws_…' to the client; digest: into auth.sessions.token_digest
 */
export function newOpaqueToken(kind: OpaqueTokenKind): NewOpaqueToken {
  const token = PREFIXES[kind] + randomBytes(RANDOM_BYTES).toString('base64url');
  return { token, digest: tokenDigest(token) };
}

/**
 * SHA-256 of a token string. A plain hash is enough: the token has 256 random bits, so there is
 * nothing to guess and no need for a slow or salted hash.
 *
 * @example
 * const digest = tokenDigest(token); // 32 bytes
 */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * The digest of `token` when it has the shape of a token of `kind` (prefix, length, base64url
 * alphabet), else null. Never throws, and refuses oversized input before looking at it, so it is
 * safe on raw header and cookie values.
 *
 * @example
 * const digest = parseOpaqueToken(request.cookies.session, 'session');
 * if (!digest) return unauthorized();
 */
export function parseOpaqueToken(token: unknown, kind: OpaqueTokenKind): Buffer | null {
  if (typeof token !== 'string' || token.length !== TOKEN_CHARS) return null;
  const prefix = PREFIXES[kind] as string | undefined;
  if (prefix === undefined || !token.startsWith(prefix)) return null;
  if (!BODY.test(token.slice(prefix.length))) return null;
  return tokenDigest(token);
}

import { randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A fresh random token (32 bytes, base64url): dashboard session ids and CSRF tokens.
 *
 * @example
 * const csrf = newToken(); // 'q3J…' (43 characters)
 */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Compares a presented CSRF token with the session's in constant time. The dashboard uses the
 * synchronizer pattern: the token lives with the server-side session, the page keeps it in memory
 * and sends it as `X-CSRF-Token` on every POST. A page on another origin can make the browser send
 * the cookie (were SameSite ever lax) but cannot read the token.
 *
 * @example
 * if (!csrfMatches(session.csrfToken, ctx.header('x-csrf-token'))) throw forbidden();
 */
export function csrfMatches(expected: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(presented, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * True when the request's `Origin` (or, without one, `Referer`) names the host the request was
 * sent to, or when the browser sent neither (non-browser clients). A second line behind the CSRF
 * token and SameSite=Strict: a cross-site POST from a browser always carries `Origin`.
 *
 * @example
 * sameOrigin({ origin: 'https://soc.example', host: 'soc.example' }); // true
 * sameOrigin({ origin: 'https://evil.example', host: 'soc.example' }); // false
 */
export function sameOrigin(headers: { origin?: string; referer?: string; host?: string }): boolean {
  const claimed = headers.origin ?? headers.referer;
  if (claimed === undefined) return true;
  if (claimed === 'null' || headers.host === undefined) return false;
  try {
    return new URL(claimed).host.toLowerCase() === headers.host.toLowerCase();
  } catch {
    return false;
  }
}

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

/**
 * The login's guard against login CSRF (a page on another site signing the victim's browser in as
 * the attacker, whose session the victim then uses). A login has no session and so no CSRF token
 * yet; instead it must prove it comes from the dashboard's own page or from a program: either an
 * `Origin` naming this host (every browser sends one on a POST), or, without `Origin`, a
 * non-empty `X-Requested-With` header, which a page on another site cannot add without a CORS
 * preflight the dashboard never grants. A `Referer`, when present, must name this host too.
 *
 * @example
 * loginOriginAllowed({ origin: 'https://soc.example', host: 'soc.example' }); // true
 * loginOriginAllowed({ requestedWith: 'curl', host: 'soc.example' }); // true
 * loginOriginAllowed({ host: 'soc.example' }); // false: neither
 */
export function loginOriginAllowed(headers: {
  origin?: string;
  referer?: string;
  requestedWith?: string;
  host?: string;
}): boolean {
  if (headers.origin !== undefined) return sameOrigin({ origin: headers.origin, host: headers.host });
  if (headers.requestedWith === undefined || headers.requestedWith.trim() === '') return false;
  return sameOrigin({ referer: headers.referer, host: headers.host });
}

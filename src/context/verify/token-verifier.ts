import { errors, jwtVerify, type JWTPayload } from 'jose';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { createKeySource } from './key-source.js';
import { type TokenCacheStats, VerifiedTokenCache } from './token-cache.js';
import {
  type ClaimType,
  MAX_TOKEN_LENGTH,
  resolveVerifyOptions,
  type ResolvedVerifyOptions,
  type TokenVerifierOptions,
} from './verify-options.js';

/** A token that passed every check. `expiresAt` is `exp` in milliseconds since the epoch. */
export interface VerifiedToken {
  claims: JWTPayload & { sub: string };
  header: { alg: string; kid?: string; typ?: string };
  expiresAt: number;
}

/** Counters for logs and `/metrics`. */
export interface TokenVerifierStats {
  verified: number;
  rejected: number;
  /** Rejections by reason (`detail` of the PW320 error). */
  rejectedBy: Record<string, number>;
  /** Verifications that failed closed because keys could not be loaded (PW321). */
  keysUnavailable: number;
  /** Requests made to the JWKS URL. */
  jwksFetches: number;
  cache: TokenCacheStats | null;
}

/** Verifies bearer tokens; see `createTokenVerifier`. */
export interface TokenVerifier {
  verify(token: string): Promise<VerifiedToken>;
  stats(): TokenVerifierStats;
}

interface Header {
  alg: string;
  kid?: string;
  typ?: string;
}

const SEGMENT = /^[A-Za-z0-9_-]*$/;
// Key material a token may point at or carry. Following any of them lets the sender pick the key.
const KEY_HEADERS = ['jku', 'x5u', 'jwk', 'x5c'];

/** True when `text` holds a C0 control character or DEL (NUL, CR, LF …). */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
const decoder = new TextDecoder('utf-8', { fatal: true });

function reject(detail: string, cause?: unknown): PgwardenError {
  return new PgwardenError(ErrorCodes.JWT_INVALID, 'the token is not valid', { detail, cause });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Decodes one base64url segment, refusing any spelling other than the canonical one [J-21]. */
function decodeSegment(segment: string): Uint8Array {
  const bytes = Buffer.from(segment, 'base64url');
  if (bytes.toString('base64url') !== segment) throw reject('encoding');
  return bytes;
}

/** Checks that need no key: size, shape, encoding and the protected header [J-01, J-06, J-08, J-20, J-21]. */
function checkStructure(token: string, algorithms: readonly string[]): Header {
  const parts = token.split('.');
  if (parts.length === 5) throw reject('jwe');
  if (parts.length !== 3) throw reject('structure');
  const [head = '', payload = '', signature = ''] = parts;
  if (head === '' || payload === '' || !parts.every((part) => SEGMENT.test(part))) throw reject('encoding');
  let header: unknown;
  try {
    header = JSON.parse(decoder.decode(decodeSegment(head)));
  } catch (err) {
    throw err instanceof PgwardenError ? err : reject('header');
  }
  decodeSegment(payload);
  if (!isRecord(header)) throw reject('header');
  const { alg, kid, typ } = header;
  if (typeof alg !== 'string' || !algorithms.includes(alg)) throw reject('algorithm');
  if (kid !== undefined && (typeof kid !== 'string' || kid === '' || kid.length > 256 || hasControl(kid))) {
    throw reject('kid');
  }
  if (KEY_HEADERS.some((name) => name in header)) throw reject('header-key');
  // No header extension is understood, so any `crit` (and unencoded payloads) is refused.
  if ('crit' in header || 'b64' in header) throw reject('crit');
  if (signature === '') throw reject('signature');
  // CVE-2022-21449: r = s = 0 must never verify, whatever the crypto library does.
  if (alg.startsWith('ES') && decodeSegment(signature).every((byte) => byte === 0)) throw reject('signature');
  else decodeSegment(signature);
  return { alg, ...(typeof kid === 'string' ? { kid } : {}), ...(typeof typ === 'string' ? { typ } : {}) };
}

const CLAIM_REASONS: Record<string, string> = {
  iss: 'issuer',
  aud: 'audience',
  typ: 'type',
  nbf: 'not-yet-valid',
  iat: 'issued-in-future',
  sub: 'subject',
};

/**
 * Maps a jose failure to a short reason, never its message. Claim errors carry the whole claims set
 * (`payload`) and JSON syntax errors quote the input, so only signature and algorithm errors are
 * kept as `cause`.
 */
function mapJoseError(err: unknown): PgwardenError {
  if (err instanceof PgwardenError) return err;
  if (err instanceof errors.JWSSignatureVerificationFailed) return reject('signature', err);
  if (err instanceof errors.JOSEAlgNotAllowed) return reject('algorithm', err);
  if (err instanceof errors.JWTExpired) return reject(err.claim === 'iat' ? 'too-old' : 'expired');
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.reason === 'missing') return reject('missing-claim');
    if (err.reason === 'invalid') return reject('claim-type');
    return reject(CLAIM_REASONS[err.claim] ?? 'claims');
  }
  if (err instanceof errors.JWTInvalid) return reject('payload');
  if (err instanceof errors.JOSENotSupported) return reject('unsupported');
  return reject('malformed');
}

function hasType(value: unknown, type: ClaimType): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string' && value !== '';
    case 'string[]':
      return Array.isArray(value) && value.every((item) => typeof item === 'string');
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
  }
}

/** Walks the claims without recursion: no NUL in any string, no `__proto__` name [J-19, J-29]. */
function checkValues(claims: unknown): void {
  const stack: unknown[] = [claims];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string' && value.includes('\u0000')) throw reject('claim-value');
    if (Array.isArray(value)) stack.push(...(value as unknown[]));
    else if (isRecord(value)) {
      for (const [name, item] of Object.entries(value)) {
        if (name === '__proto__' || name.includes('\u0000')) throw reject('claim-name');
        stack.push(item);
      }
    }
  }
}

/** Checks jose does not make: finite dates, claim types, lifetime, future iat [J-12, J-13, J-14, J-19]. */
function checkClaims(claims: JWTPayload, options: ResolvedVerifyOptions, nowSec: number): void {
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    const value = claims[name];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) throw reject('claim-type');
  }
  const { aud, iat, exp } = claims;
  if (Array.isArray(aud) && !aud.every((item) => typeof item === 'string')) throw reject('claim-type');
  for (const [name, type] of Object.entries(options.claimTypes)) {
    if (Object.hasOwn(claims, name) && !hasType(claims[name], type)) throw reject('claim-type');
  }
  checkValues(claims);
  if (iat !== undefined && iat > nowSec + options.clockToleranceSec) throw reject('issued-in-future');
  if (options.maxLifetimeSec !== undefined) {
    if (iat === undefined) throw reject('missing-claim');
    if (exp !== undefined && exp - iat > options.maxLifetimeSec) throw reject('lifetime');
  }
}

async function verifyUncached(
  token: string,
  options: ResolvedVerifyOptions,
  resolve: ReturnType<typeof createKeySource>['resolve'],
): Promise<VerifiedToken> {
  const header = checkStructure(token, options.algorithms);
  const nowMs = options.now();
  let payload: JWTPayload;
  try {
    // jose checks the signature before it reads a single claim [J-25].
    ({ payload } = await jwtVerify(token, resolve, {
      algorithms: options.algorithms,
      issuer: options.issuer,
      audience: options.audience,
      typ: options.typ,
      clockTolerance: options.clockToleranceSec,
      requiredClaims: options.requiredClaims,
      currentDate: new Date(nowMs),
      ...(options.maxTokenAgeSec === undefined ? {} : { maxTokenAge: options.maxTokenAgeSec }),
    }));
  } catch (err) {
    throw mapJoseError(err);
  }
  // jose decodes the payload as strict UTF-8 (RFC 8725 §3.7): invalid bytes fail as 'payload'.
  checkClaims(payload, options, Math.floor(nowMs / 1000));
  if (typeof payload.sub !== 'string' || typeof payload.exp !== 'number') throw reject('missing-claim');
  return { claims: payload as JWTPayload & { sub: string }, header, expiresAt: payload.exp * 1000 };
}

/**
 * Creates a bearer-token verifier: checks size, canonical form, header, algorithm allowlist,
 * signature, then `typ`, `iss`, `aud`, times and claim types, in that order. Every failure throws
 * `PgwardenError` PW320 with a short reason in `detail` and nothing from the token; keys that cannot
 * be fetched throw PW321; unsafe options throw PW322 at construction. Verified tokens are cached
 * until their own `exp` (and never longer than the JWKS cache age).
 *
 * @example
 * const verifier = createTokenVerifier({
 *   keys: { jwksUrl: 'https://auth.example/.well-known/jwks.json' },
 *   issuer: 'https://auth.example',
 *   audience: 'pgwarden-api',
 * });
 * const { claims } = await verifier.verify(parseBearer(req.headers.authorization) ?? '');
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const resolved = resolveVerifyOptions(options);
  const keys = createKeySource(resolved.keys, resolved.now);
  const cache =
    resolved.cache === null ? null : new VerifiedTokenCache<VerifiedToken>({ ...resolved.cache, now: resolved.now });
  const counters = { verified: 0, rejected: 0, keysUnavailable: 0 };
  const rejectedBy: Record<string, number> = {};

  async function verify(token: string): Promise<VerifiedToken> {
    // Refuse oversize input before anything else looks at it [J-23].
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) throw reject('size');
    // The cache re-checks `exp` against the clock on every hit and drops the entry at `exp`
    // (stricter than the tolerance jose allows), so a hit never extends trust.
    const cached = cache?.get(token);
    if (cached !== undefined) return cached;
    const result = await verifyUncached(token, resolved, (header, input) => keys.resolve(header, input));
    cache?.set(token, result);
    return result;
  }

  return {
    async verify(token) {
      try {
        const result = await verify(token);
        counters.verified++;
        return result;
      } catch (err) {
        const error = mapJoseError(err);
        if (error.code === ErrorCodes.JWT_KEYS_UNAVAILABLE) counters.keysUnavailable++;
        else {
          counters.rejected++;
          const reason = error.detail ?? 'unknown';
          rejectedBy[reason] = (rejectedBy[reason] ?? 0) + 1;
        }
        throw error;
      }
    },
    stats: () => ({
      ...counters,
      rejectedBy: { ...rejectedBy },
      jwksFetches: keys.fetches(),
      cache: cache?.stats() ?? null,
    }),
  };
}

import { type KeyObject, randomBytes } from 'node:crypto';
import { errors, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import type { SigningAlgorithm } from './signing-key.js';

/** Authenticator assurance level (NIST SP 800-63B): aal2 after a second factor. */
export type AssuranceLevel = 'aal1' | 'aal2';

/** The claims pgwarden puts in an access token, apart from the timestamps and id it adds. */
export interface AccessTokenInput {
  iss: string;
  aud: string;
  /** User id. */
  sub: string;
  /** Session id: lets a revoked session be told apart from the user. */
  sid: string;
  tenant: string;
  roles: string[];
  aal: AssuranceLevel;
  /** The user's authz_version at issue: the request context refuses the token once it changes. */
  av?: number;
}

/** The claims of a verified access token. */
export interface AccessTokenClaims extends AccessTokenInput {
  /** Issued at, seconds since the epoch. */
  iat: number;
  /** Expires at, seconds since the epoch. */
  exp: number;
  /** Unique token id (128 random bits, base64url). */
  jti: string;
}

/** The private half of the current signing key. */
export interface AccessTokenSigningKey {
  kid: string;
  alg: SigningAlgorithm;
  privateKey: KeyObject;
}

/** Resolves a verification key by kid; undefined when the kid is unknown or retired. */
export type AccessTokenKeyLookup = (kid: string) => KeyObject | undefined | Promise<KeyObject | undefined>;

/** A jose key set from `createLocalJWKSet` or `createRemoteJWKSet`. */
export type AccessTokenKeySet = JWTVerifyGetKey & { jwks: () => JSONWebKeySet | undefined };

/** How `verifyAccessToken` checks a token. */
export interface VerifyAccessTokenOptions {
  /** Where verification keys come from: a lookup by kid, or a jose JWKS. */
  keys: AccessTokenKeyLookup | AccessTokenKeySet;
  issuer: string;
  audience: string;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** Leeway for exp/nbf, 0–60 seconds (default 0). */
  clockToleranceSeconds?: number;
}

const TYP = 'at+jwt';
const ALGORITHMS: SigningAlgorithm[] = ['EdDSA', 'ES256'];
const DEFAULT_TTL_SECONDS = 900;
const MAX_TTL_SECONDS = 86_400;
const MAX_CLOCK_TOLERANCE_SECONDS = 60;
/** Far above any real access token; refused before decoding so junk costs nothing. */
const MAX_TOKEN_CHARS = 16_384;
const INVALID_MESSAGE = 'the access token is not valid';

/**
 * Signs a short-lived access token (JWS compact, header `{ alg, kid, typ: 'at+jwt' }`, RFC 9068
 * style) carrying the caller's claims plus `iat`, `exp` and a random `jti`.
 *
 * @example
 * const jwt = await signAccessToken({
 *   key: { kid, alg: 'EdDSA', privateKey },
 *   claims: { iss: 'https://auth.example', aud: 'api', sub: userId, sid, tenant, roles: ['member'], aal: 'aal1' },
 *   now: clock,
 * });
 */
export async function signAccessToken(input: {
  key: AccessTokenSigningKey;
  claims: AccessTokenInput;
  ttlSeconds?: number;
  now: () => number;
}): Promise<string> {
  const { key, claims, now } = input;
  const ttl = input.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
    throw new PgwardenError(ErrorCodes.INTERNAL, `access token lifetime must be 1 to ${MAX_TTL_SECONDS} seconds`);
  }
  if (!ALGORITHMS.includes(key.alg)) {
    throw new PgwardenError(ErrorCodes.INTERNAL, 'access tokens are signed with EdDSA or ES256');
  }
  const bad = invalidClaim({ ...claims });
  if (bad) throw new PgwardenError(ErrorCodes.INTERNAL, `cannot sign an access token: claim ${bad} is malformed`);
  const iat = Math.floor(now() / 1000);
  return new SignJWT({
    sid: claims.sid,
    tenant: claims.tenant,
    roles: [...claims.roles],
    aal: claims.aal,
    ...(claims.av === undefined ? {} : { av: claims.av }),
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: TYP })
    .setIssuer(claims.iss)
    .setAudience(claims.aud)
    .setSubject(claims.sub)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttl)
    .setJti(randomBytes(16).toString('base64url'))
    .sign(key.privateKey);
}

/**
 * Verifies an access token: signature by a known key (EdDSA or ES256 only), `typ: at+jwt`,
 * issuer, audience, expiry against the injected clock, and the shape of every pgwarden claim.
 * Any failure throws `AUTH_ACCESS_TOKEN_INVALID` with the same message; `detail` carries jose's
 * error code (and the claim, if one failed), never the token.
 *
 * @example
 * const claims = await verifyAccessToken(bearer, {
 *   keys: (kid) => publicKeys.get(kid),
 *   issuer: 'https://auth.example',
 *   audience: 'api',
 *   now: clock,
 * });
 */
export async function verifyAccessToken(token: string, options: VerifyAccessTokenOptions): Promise<AccessTokenClaims> {
  const tolerance = options.clockToleranceSeconds ?? 0;
  if (!Number.isInteger(tolerance) || tolerance < 0 || tolerance > MAX_CLOCK_TOLERANCE_SECONDS) {
    throw new PgwardenError(ErrorCodes.INTERNAL, `clock tolerance must be 0 to ${MAX_CLOCK_TOLERANCE_SECONDS} seconds`);
  }
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_CHARS) {
    throw invalid('ERR_JWS_INVALID');
  }
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keyResolver(options.keys), {
      algorithms: ALGORITHMS,
      typ: TYP,
      issuer: options.issuer,
      audience: options.audience,
      currentDate: new Date(options.now()),
      clockTolerance: tolerance,
      requiredClaims: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'sid', 'tenant', 'roles', 'aal'],
    }));
  } catch (err) {
    throw invalid(joseDetail(err));
  }
  const bad = invalidClaim(payload);
  if (bad) throw invalid(`ERR_JWT_CLAIM_VALIDATION_FAILED: ${bad}`);
  const claims = payload as unknown as AccessTokenClaims;
  return {
    iss: claims.iss,
    aud: claims.aud,
    sub: claims.sub,
    sid: claims.sid,
    tenant: claims.tenant,
    roles: [...claims.roles],
    aal: claims.aal,
    ...(claims.av === undefined ? {} : { av: claims.av }),
    iat: claims.iat,
    exp: claims.exp,
    jti: claims.jti,
  };
}

/** Adapts a kid lookup to jose; a jose key set (it has `jwks()`) is used as it is. */
function keyResolver(keys: AccessTokenKeyLookup | AccessTokenKeySet): JWTVerifyGetKey {
  if ('jwks' in keys && typeof keys.jwks === 'function') return keys as AccessTokenKeySet;
  const lookup = keys as AccessTokenKeyLookup;
  return async (header) => {
    if (typeof header.kid !== 'string' || header.kid.length === 0) throw new errors.JWKSNoMatchingKey();
    const key = await lookup(header.kid);
    if (!key) throw new errors.JWKSNoMatchingKey();
    return key;
  };
}

/** The name of the first malformed pgwarden claim, or undefined when all are well formed. */
function invalidClaim(claims: Record<string, unknown>): string | undefined {
  for (const name of ['iss', 'aud', 'sub', 'sid', 'tenant']) {
    const value = claims[name];
    if (typeof value !== 'string' || value.length === 0) return name;
  }
  const { roles, aal, jti } = claims;
  if (!Array.isArray(roles) || !roles.every((role) => typeof role === 'string' && role.length > 0)) return 'roles';
  if (aal !== 'aal1' && aal !== 'aal2') return 'aal';
  if (jti !== undefined && (typeof jti !== 'string' || jti.length === 0)) return 'jti';
  const { av } = claims;
  if (av !== undefined && !(typeof av === 'number' && Number.isSafeInteger(av) && av >= 0)) return 'av';
  return undefined;
}

function joseDetail(err: unknown): string {
  if (err instanceof errors.JWTClaimValidationFailed) return `${err.code}: ${err.claim}`;
  if (err instanceof errors.JOSEError) return err.code;
  // jose throws TypeError for a key that does not fit the algorithm.
  return err instanceof TypeError ? 'ERR_KEY_UNSUITABLE' : 'ERR_UNKNOWN';
}

function invalid(detail: string): PgwardenError {
  return new PgwardenError(ErrorCodes.AUTH_ACCESS_TOKEN_INVALID, INVALID_MESSAGE, { detail });
}

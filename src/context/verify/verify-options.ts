// Every verifier option is validated here, in one place, so an unsafe setting is refused before a
// single token is looked at. Longer than most files because it holds the whole option surface.
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { JSONWebKeySet } from 'jose';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';

/** Asymmetric JWS algorithms the verifier can check. */
export type AsymmetricAlgorithm =
  'EdDSA' | 'Ed25519' | 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512';

/** Every algorithm name the allowlist may hold. HMAC is limited to HS256. */
export type VerifyAlgorithm = AsymmetricAlgorithm | 'HS256';

/** Keys fetched from an HTTPS JWKS endpoint (jose `createRemoteJWKSet`). */
export interface RemoteJwksKeys {
  jwksUrl: string;
  /** After a successful fetch, an unknown `kid` triggers no new fetch for this long. Default 30 000. */
  cooldownMs?: number;
  /** The fetch is aborted after this long and the request fails closed (PW321). Default 5 000. */
  timeoutMs?: number;
  /** Fetched keys are trusted for at most this long. Default 600 000. */
  cacheMaxAgeMs?: number;
  /** After a failed fetch, requests fail at once (PW321) for this long instead of fetching again. Default 1 000. */
  failureBackoffMs?: number;
  fetch?: typeof fetch;
}

/** A JWKS held in memory (public keys only). */
export interface LocalJwksKeys {
  jwks: JSONWebKeySet;
}

/** One public key in SPKI PEM form and the algorithm it is used with. */
export interface PemKey {
  pem: string;
  alg: AsymmetricAlgorithm;
}

/** A shared HS256 secret of at least 32 random bytes. */
export interface HmacKey {
  hmacSecret: Uint8Array;
}

/** Where verification keys come from: exactly one of the four forms. */
export type VerifierKeys = RemoteJwksKeys | LocalJwksKeys | PemKey | HmacKey;

/** Expected JSON type of a claim, checked when the claim is present. */
export type ClaimType = 'string' | 'string[]' | 'number' | 'boolean';

/** Options of `createTokenVerifier`. */
export interface TokenVerifierOptions {
  keys: VerifierKeys;
  /** Allowlist; default `['EdDSA', 'ES256']` (or `['HS256']` with an HMAC secret). Never `none`. */
  algorithms?: VerifyAlgorithm[];
  issuer: string;
  audience: string;
  /** Required `typ` header (RFC 9068). Default `at+jwt`. */
  typ?: string;
  /** Allowed clock skew, 0..60 s. Default 0. */
  clockToleranceSec?: number;
  /** Reject tokens whose `iat` is older than this. */
  maxTokenAgeSec?: number;
  /** Reject tokens whose `exp - iat` is larger than this. */
  maxLifetimeSec?: number;
  /** Claims that must be present. Default `['sub', 'exp', 'iat']`; `sub` and `exp` are always added. */
  requiredClaims?: string[];
  /** Types of claims, checked when present; merged over the defaults (sub, role, roles, tenant, tenant_id, aal, sid, jti). */
  claimTypes?: Record<string, ClaimType>;
  /** Cache of verified tokens; `false` disables it. */
  cache?: { maxEntries?: number; maxEntryAgeMs?: number } | false;
  /** Clock in milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
}

/** Keys after validation. */
export type ResolvedKeys =
  | {
      kind: 'remote';
      url: URL;
      cooldownMs: number;
      timeoutMs: number;
      cacheMaxAgeMs: number;
      failureBackoffMs: number;
      fetch: typeof fetch | undefined;
    }
  | { kind: 'local'; jwks: JSONWebKeySet }
  | { kind: 'pem'; key: KeyObject; alg: AsymmetricAlgorithm }
  | { kind: 'hmac'; secret: Uint8Array };

/** Options after validation, with every default filled in. */
export interface ResolvedVerifyOptions {
  keys: ResolvedKeys;
  algorithms: VerifyAlgorithm[];
  issuer: string;
  audience: string;
  typ: string;
  clockToleranceSec: number;
  maxTokenAgeSec: number | undefined;
  maxLifetimeSec: number | undefined;
  requiredClaims: string[];
  claimTypes: Record<string, ClaimType>;
  cache: { maxEntries: number; maxEntryAgeMs: number } | null;
  now: () => number;
}

/** Tokens longer than this are refused before any parsing [J-23]. */
export const MAX_TOKEN_LENGTH = 8 * 1024;

const ASYMMETRIC: readonly AsymmetricAlgorithm[] = [
  'EdDSA',
  'Ed25519',
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
];

const DEFAULT_CLAIM_TYPES: Readonly<Record<string, ClaimType>> = {
  sub: 'string',
  role: 'string',
  roles: 'string[]',
  tenant: 'string',
  tenant_id: 'string',
  aal: 'string',
  sid: 'string',
  jti: 'string',
};

// Secrets published in tutorials, sample .env files and framework defaults: offline crackers try
// these first. Compared after lower-casing and dropping everything but letters and digits.
const WELL_KNOWN_SECRETS: readonly string[] = [
  'secret',
  'your-256-bit-secret',
  'your-secret-key',
  'your_jwt_secret',
  'changeme',
  'change-me-in-production',
  'password',
  'jwt-secret',
  'secretkey',
  'mysecretkey',
  'supersecret',
  'super-secret-jwt-token-with-at-least-32-characters-long',
  'your-super-secret-jwt-token-with-at-least-32-characters-long',
  'replace-this-with-a-long-random-secret',
  'default',
  'test',
];

function configError(message: string, hint?: string): PgwardenError {
  return new PgwardenError(ErrorCodes.JWT_CONFIG_INVALID, message, { hint });
}

function normaliseSecret(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** True when `bytes` repeats a unit of at most 16 bytes ('aaaa…', 'changemechangeme…'). */
function isPeriodic(bytes: Uint8Array): boolean {
  for (let period = 1; period <= 16 && period < bytes.length; period++) {
    let repeats = true;
    for (let i = period; i < bytes.length && repeats; i++) repeats = bytes[i] === bytes[i - period];
    if (repeats) return true;
  }
  return false;
}

/**
 * Refuses HS256 secrets an attacker can guess or crack offline: shorter than 32 bytes (RFC 7518
 * §3.2), a well-known sample secret, or a short unit repeated [J-24].
 *
 * @example
 * assertStrongHmacSecret(randomBytes(32)); // passes
 * assertStrongHmacSecret(new TextEncoder().encode('secret')); // throws PW322
 */
export function assertStrongHmacSecret(secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array)) throw configError('keys.hmacSecret must be a Uint8Array');
  const hint = 'generate one with `openssl rand -base64 48` and keep it out of source control';
  if (secret.length < 32) throw configError('the HS256 secret is shorter than 32 bytes', hint);
  const text = normaliseSecret(Buffer.from(secret).toString('latin1'));
  const known = WELL_KNOWN_SECRETS.map(normaliseSecret).some(
    (weak) => text === weak || (text.length % weak.length === 0 && text === weak.repeat(text.length / weak.length)),
  );
  if (known) throw configError('the HS256 secret is a well-known sample secret', hint);
  if (isPeriodic(secret) || new Set(secret).size < 10)
    throw configError('the HS256 secret has too little variety', hint);
}

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

function checkDuration(name: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    throw configError(`${name} must be a number of milliseconds between 0 and ${max}`);
  }
  return Math.floor(value);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
}

function resolveRemote(keys: RemoteJwksKeys): ResolvedKeys {
  let url: URL;
  try {
    url = new URL(keys.jwksUrl);
  } catch {
    throw configError('keys.jwksUrl is not a valid URL');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    throw configError('keys.jwksUrl must use https (plain http is allowed for loopback only)');
  }
  if (keys.fetch !== undefined && typeof keys.fetch !== 'function') throw configError('keys.fetch must be a function');
  const timeoutMs = checkDuration('keys.timeoutMs', keys.timeoutMs, 5_000, 60_000);
  if (timeoutMs === 0) throw configError('keys.timeoutMs must be above 0');
  const cacheMaxAgeMs = checkDuration('keys.cacheMaxAgeMs', keys.cacheMaxAgeMs, 600_000, 86_400_000);
  if (cacheMaxAgeMs === 0) throw configError('keys.cacheMaxAgeMs must be above 0');
  return {
    kind: 'remote',
    url,
    cooldownMs: checkDuration('keys.cooldownMs', keys.cooldownMs, 30_000, 3_600_000),
    timeoutMs,
    cacheMaxAgeMs,
    failureBackoffMs: checkDuration('keys.failureBackoffMs', keys.failureBackoffMs, 1_000, 600_000),
    fetch: keys.fetch,
  };
}

function resolveLocal(jwks: JSONWebKeySet): ResolvedKeys {
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys) || jwks.keys.length === 0) {
    throw configError('keys.jwks must be a JWKS with at least one key');
  }
  for (const jwk of jwks.keys) {
    if (typeof jwk !== 'object' || jwk === null) throw configError('keys.jwks holds a key that is not an object');
    if (jwk.kty === 'oct' || 'k' in jwk)
      throw configError('keys.jwks must not hold symmetric keys (algorithm confusion)');
    if ('d' in jwk) throw configError('keys.jwks holds a private key; publish public keys only');
  }
  return { kind: 'local', jwks: structuredClone(jwks) };
}

const PEM_KEY_TYPES: Record<string, (key: KeyObject) => boolean> = {
  EdDSA: (k) => k.asymmetricKeyType === 'ed25519' || k.asymmetricKeyType === 'ed448',
  Ed25519: (k) => k.asymmetricKeyType === 'ed25519',
  ES256: (k) => k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1',
  ES384: (k) => k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'secp384r1',
  ES512: (k) => k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'secp521r1',
};

function resolvePem(keys: PemKey): ResolvedKeys {
  if (typeof keys.pem !== 'string' || !keys.pem.includes('-----BEGIN PUBLIC KEY-----')) {
    throw configError('keys.pem must be an SPKI public key (-----BEGIN PUBLIC KEY-----)');
  }
  if (!ASYMMETRIC.includes(keys.alg)) throw configError('keys.alg must be an asymmetric algorithm');
  let key: KeyObject;
  try {
    key = createPublicKey(keys.pem);
  } catch {
    throw configError('keys.pem could not be read as a public key');
  }
  const rsa = key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss';
  const fits = PEM_KEY_TYPES[keys.alg]?.(key) ?? (rsa && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048);
  if (!fits) throw configError(`keys.pem does not hold a key for ${keys.alg} (RSA keys need 2048 bits or more)`);
  return { kind: 'pem', key, alg: keys.alg };
}

function resolveKeys(keys: VerifierKeys): ResolvedKeys {
  if (typeof keys !== 'object' || keys === null) throw configError('keys is required');
  const forms = ['jwksUrl', 'jwks', 'pem', 'hmacSecret'].filter((name) => name in keys);
  if (forms.length !== 1) throw configError('keys must hold exactly one of jwksUrl, jwks, pem or hmacSecret');
  if ('jwksUrl' in keys) return resolveRemote(keys);
  if ('jwks' in keys) return resolveLocal(keys.jwks);
  if ('pem' in keys) return resolvePem(keys);
  assertStrongHmacSecret(keys.hmacSecret);
  return { kind: 'hmac', secret: Uint8Array.from(keys.hmacSecret) };
}

function resolveAlgorithms(requested: unknown, keys: ResolvedKeys): VerifyAlgorithm[] {
  const fallback: VerifyAlgorithm[] =
    keys.kind === 'hmac' ? ['HS256'] : keys.kind === 'pem' ? [keys.alg] : ['EdDSA', 'ES256'];
  if (requested === undefined) return fallback;
  if (!Array.isArray(requested) || requested.length === 0) throw configError('algorithms must be a non-empty list');
  for (const alg of requested) {
    if (typeof alg !== 'string') throw configError('algorithms must hold strings');
    if (alg.toLowerCase() === 'none') throw configError('algorithms must never allow "none"');
    if (alg !== 'HS256' && !ASYMMETRIC.includes(alg as AsymmetricAlgorithm)) {
      throw configError(`algorithm ${JSON.stringify(alg.slice(0, 20))} is not supported`);
    }
  }
  const algs = [...new Set(requested as VerifyAlgorithm[])];
  const symmetric = algs.filter((alg) => alg === 'HS256');
  if (keys.kind === 'hmac' && symmetric.length !== algs.length) {
    throw configError('an HMAC secret allows HS256 only (mixing HMAC and public-key algorithms enables key confusion)');
  }
  if (keys.kind !== 'hmac' && symmetric.length > 0) {
    throw configError('HS256 needs keys.hmacSecret; it cannot be allowed with public keys (algorithm confusion)');
  }
  if (keys.kind === 'pem' && !algs.includes(keys.alg)) throw configError('algorithms must include keys.alg');
  return keys.kind === 'pem' ? [keys.alg] : algs;
}

function requireText(name: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw configError(`${name} must be a non-empty string (an empty value is not a wildcard)`);
  }
  return value;
}

function optionalSeconds(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (!isPositiveInteger(value)) throw configError(`${name} must be a positive whole number of seconds`);
  return value;
}

function resolveClaims(options: TokenVerifierOptions): Pick<ResolvedVerifyOptions, 'requiredClaims' | 'claimTypes'> {
  const required = options.requiredClaims ?? ['sub', 'exp', 'iat'];
  if (!Array.isArray(required) || required.some((c) => typeof c !== 'string' || c === '')) {
    throw configError('requiredClaims must be a list of claim names');
  }
  const claimTypes = { ...DEFAULT_CLAIM_TYPES, ...(options.claimTypes ?? {}) };
  const known: readonly unknown[] = ['string', 'string[]', 'number', 'boolean'];
  for (const type of Object.values(claimTypes)) {
    if (!known.includes(type)) throw configError('claimTypes values must be string, string[], number or boolean');
  }
  claimTypes.sub = 'string';
  return { requiredClaims: [...new Set(['sub', 'exp', ...required])], claimTypes };
}

function resolveCache(options: TokenVerifierOptions, keys: ResolvedKeys): ResolvedVerifyOptions['cache'] {
  if (options.cache === false) return null;
  const cache = options.cache ?? {};
  const maxEntries = cache.maxEntries ?? 10_000;
  if (!isPositiveInteger(maxEntries)) throw configError('cache.maxEntries must be a positive whole number');
  // A cached verdict must not outlive the key that produced it (rollover, J-28).
  const keyAge = keys.kind === 'remote' ? keys.cacheMaxAgeMs : Number.POSITIVE_INFINITY;
  const maxEntryAgeMs = Math.min(cache.maxEntryAgeMs ?? keyAge, keyAge);
  if (!(maxEntryAgeMs > 0)) throw configError('cache.maxEntryAgeMs must be above 0');
  return { maxEntries, maxEntryAgeMs };
}

/**
 * Validates verifier options and fills in defaults. Refuses unsafe settings with PW322 so a
 * service never starts with a verifier that accepts forged tokens.
 *
 * @example
 * const resolved = resolveVerifyOptions({
 *   keys: { jwksUrl: 'https://auth.example/.well-known/jwks.json' },
 *   issuer: 'https://auth.example',
 *   audience: 'api',
 * });
 */
export function resolveVerifyOptions(options: TokenVerifierOptions): ResolvedVerifyOptions {
  if (typeof options !== 'object' || options === null) throw configError('verifier options are required');
  const keys = resolveKeys(options.keys);
  const tolerance = options.clockToleranceSec ?? 0;
  if (typeof tolerance !== 'number' || !Number.isInteger(tolerance) || tolerance < 0 || tolerance > 60) {
    throw configError('clockToleranceSec must be a whole number from 0 to 60');
  }
  if (options.now !== undefined && typeof options.now !== 'function') throw configError('now must be a function');
  return {
    keys,
    algorithms: resolveAlgorithms(options.algorithms, keys),
    issuer: requireText('issuer', options.issuer),
    audience: requireText('audience', options.audience),
    typ: requireText('typ', options.typ ?? 'at+jwt'),
    clockToleranceSec: tolerance,
    maxTokenAgeSec: optionalSeconds('maxTokenAgeSec', options.maxTokenAgeSec),
    maxLifetimeSec: optionalSeconds('maxLifetimeSec', options.maxLifetimeSec),
    ...resolveClaims(options),
    cache: resolveCache(options, keys),
    now: options.now ?? Date.now,
  };
}

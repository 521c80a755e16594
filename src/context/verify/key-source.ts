import type { KeyObject } from 'node:crypto';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type CryptoKey,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
} from 'jose';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import type { ResolvedKeys } from './verify-options.js';

/** A key for one token: a KeyObject, an HMAC secret or a WebCrypto key from a JWKS. */
export type VerificationKey = KeyObject | Uint8Array | CryptoKey;

/** Resolves the key for a token from its protected header. */
export interface KeySource {
  resolve(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<VerificationKey>;
  /** How many times the JWKS URL was requested (0 for static keys). */
  fetches(): number;
}

function invalid(detail: string): PgwardenError {
  return new PgwardenError(ErrorCodes.JWT_INVALID, 'the token is not valid', { detail });
}

function unavailable(cause: unknown): PgwardenError {
  return new PgwardenError(ErrorCodes.JWT_KEYS_UNAVAILABLE, 'the token verification keys could not be loaded', {
    hint: 'check that the JWKS endpoint is reachable and answers within the timeout',
    cause,
  });
}

/** Maps "no key for this kid" to PW320 and every fetch or JWKS failure to PW321 (fail closed). */
function mapKeyError(err: unknown): PgwardenError {
  if (err instanceof PgwardenError) return err;
  if (err instanceof errors.JWKSNoMatchingKey) return invalid('key-unknown');
  if (err instanceof errors.JWKSMultipleMatchingKeys) return invalid('key-ambiguous');
  return unavailable(err);
}

function remoteSource(keys: Extract<ResolvedKeys, { kind: 'remote' }>, now: () => number): KeySource {
  let fetches = 0;
  let failedAt: number | undefined;
  const fetchImpl = keys.fetch ?? globalThis.fetch;
  const jwks = createRemoteJWKSet(keys.url, {
    timeoutDuration: keys.timeoutMs,
    cooldownDuration: keys.cooldownMs,
    cacheMaxAge: keys.cacheMaxAgeMs,
    [customFetch]: (url, init) => {
      fetches++;
      return fetchImpl(url, init);
    },
  });
  return {
    async resolve(header, token) {
      // While the endpoint is failing, do not let each request start another slow fetch.
      if (failedAt !== undefined && now() - failedAt < keys.failureBackoffMs && !jwks.fresh) {
        throw unavailable(undefined);
      }
      try {
        const key = await jwks(header, token);
        failedAt = undefined;
        return key;
      } catch (err) {
        const mapped = mapKeyError(err);
        if (mapped.code === ErrorCodes.JWT_KEYS_UNAVAILABLE) failedAt = now();
        throw mapped;
      }
    },
    fetches: () => fetches,
  };
}

/**
 * Builds the key resolver for validated key options. The header's `kid` is only ever used by
 * jose as a lookup key in the configured set: never in a path, URL or query. `jku`, `x5u`, `jwk`
 * and `x5c` are never followed (the verifier rejects them before this point).
 *
 * @example
 * const source = createKeySource({ kind: 'local', jwks }, Date.now);
 * const key = await source.resolve({ alg: 'EdDSA', kid: 'k1' }, token);
 */
export function createKeySource(keys: ResolvedKeys, now: () => number): KeySource {
  switch (keys.kind) {
    case 'remote':
      return remoteSource(keys, now);
    case 'local': {
      const jwks = createLocalJWKSet(keys.jwks);
      return {
        async resolve(header, token) {
          try {
            return await jwks(header, token);
          } catch (err) {
            throw mapKeyError(err);
          }
        },
        fetches: () => 0,
      };
    }
    case 'pem':
      return { resolve: () => Promise.resolve(keys.key), fetches: () => 0 };
    case 'hmac':
      return { resolve: () => Promise.resolve(keys.secret), fetches: () => 0 };
  }
}

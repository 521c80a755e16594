// Bearer-token verification: the first step of the zero-trust request layer.
export { type BearerError, parseBearer, wwwAuthenticate } from './bearer.js';
export { readVerifierKeys } from './key-files.js';
export { createKeySource, type KeySource, type VerificationKey } from './key-source.js';
export { type TokenCacheStats, VerifiedTokenCache, type VerifiedTokenCacheOptions } from './token-cache.js';
export {
  createTokenVerifier,
  type TokenVerifier,
  type TokenVerifierStats,
  type VerifiedToken,
} from './token-verifier.js';
export {
  assertStrongHmacSecret,
  type AsymmetricAlgorithm,
  type ClaimType,
  type HmacKey,
  type LocalJwksKeys,
  MAX_TOKEN_LENGTH,
  type PemKey,
  type RemoteJwksKeys,
  resolveVerifyOptions,
  type ResolvedKeys,
  type ResolvedVerifyOptions,
  type TokenVerifierOptions,
  type VerifierKeys,
  type VerifyAlgorithm,
} from './verify-options.js';

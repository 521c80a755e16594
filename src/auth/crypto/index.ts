/**
 * Identity crypto primitives, pure Node: the master key and the boxes it seals secrets with,
 * opaque session/refresh tokens, TOTP, recovery codes, JWT signing keys and access tokens.
 *
 * @example
 * import { loadOrCreateMasterKeyFile, SecretBox, newOpaqueToken } from './auth/crypto/index.js';
 */
export {
  type AccessTokenClaims,
  type AccessTokenInput,
  type AccessTokenKeyLookup,
  type AccessTokenKeySet,
  type AccessTokenSigningKey,
  type AssuranceLevel,
  signAccessToken,
  verifyAccessToken,
  type VerifyAccessTokenOptions,
} from './access-token.js';
export { generateMasterKey, loadOrCreateMasterKeyFile, MasterKey, parseMasterKey } from './master-key.js';
export {
  type NewOpaqueToken,
  newOpaqueToken,
  type OpaqueTokenKind,
  parseOpaqueToken,
  tokenDigest,
} from './opaque-token.js';
export { newRecoveryCodes, normaliseRecoveryCode, type RecoveryCode, recoveryCodeDigest } from './recovery-codes.js';
export { SecretBox } from './secret-box.js';
export {
  generateSigningKey,
  openPrivateKey,
  type PublicSigningJwk,
  publicKeyFromJwk,
  sealPrivateKey,
  type SigningAlgorithm,
  type SigningKey,
  toJwks,
} from './signing-key.js';
export {
  base32Decode,
  base32Encode,
  newTotpSecret,
  otpauthUri,
  type TotpAlgorithm,
  totpCode,
  type TotpOptions,
  totpStep,
  verifyTotp,
  type VerifyTotpOptions,
} from './totp.js';

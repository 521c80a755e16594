// Passwords: NFKC normalisation, the policy (length, blocklist, context words), argon2id hashing
// behind a concurrency limiter, and verification of the SQL path's bcrypt-sha256 hashes.
export { bcryptSha256FromCrypt, hashBcryptSha256, verifyBcryptSha256 } from './bcrypt-sha256.js';
export { Blocklist, loadDefaultBlocklist } from './blocklist.js';
export { HashLimiter, type HashLimiterOptions, type HashLimiterStats } from './hash-limiter.js';
export { codePointLength, normalizePassword } from './normalize.js';
export {
  type Argon2Params,
  DEFAULT_HASH_MAX_QUEUE,
  defaultArgon2Params,
  MAX_PASSWORD_INPUT_LENGTH,
  PasswordHasher,
  type PasswordHasherOptions,
} from './password-hasher.js';
export {
  assertPasswordAcceptable,
  checkPassword,
  DEFAULT_PASSWORD_MAX_LENGTH,
  DEFAULT_PASSWORD_MIN_LENGTH,
  DEFAULT_PRODUCT_WORDS,
  defaultPasswordPolicy,
  MIN_CONTEXT_WORD_LENGTH,
  type PasswordCheckResult,
  type PasswordContext,
  type PasswordPolicy,
  type PasswordPolicyOptions,
  type PasswordViolation,
  resolvePasswordPolicy,
} from './password-policy.js';
export { parsePhc, type PhcHash } from './phc.js';

// Identity: the auth SQL module's client (AuthStore), the AuthService that issues access tokens,
// its HTTP API, and the password and crypto primitives underneath.
export {
  type AuthServer,
  createAuthService,
  configuredMasterKey,
  loadMasterKey,
  startAuthServer,
  type StartAuthServerOptions,
} from './auth-server.js';
export { AuthService, type AuthServiceOptions } from './auth-service.js';
export { AuthStore } from './auth-store.js';
export {
  base32Decode,
  generateMasterKey,
  MasterKey,
  parseMasterKey,
  SecretBox,
  signAccessToken,
  totpCode,
  verifyAccessToken,
  type AccessTokenClaims,
} from './crypto/index.js';
export { type AuthRoutesOptions, authRoutes, authStatusFor } from './http-routes.js';
export { KeyRing } from './key-ring.js';
export {
  type Argon2Params,
  assertPasswordAcceptable,
  Blocklist,
  checkPassword,
  loadDefaultBlocklist,
  normalizePassword,
  PasswordHasher,
  type PasswordViolation,
} from './password/index.js';
export type { AccessGrant, LoginResult, Principal, RequestMeta, TokenSet } from './types.js';

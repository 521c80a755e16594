// pgwarden/context: the zero-trust request layer. Bearer tokens are verified in Node; each
// request then runs in one transaction as the role its token maps to, with its identity MAC'd
// into transaction-local settings that row-level-security policies read (auth.uid() …).
export * from './verify/index.js';
export {
  CONTEXT_KEY_PURPOSE,
  type ContextIdentity,
  ContextKey,
  type SealedContext,
  sealContext,
} from './context-seal.js';
export {
  type ClaimMapping,
  claimsRefusalStatus,
  contextIdentity,
  identityFromClaims,
  isContextIdentity,
  type RoleMapping,
} from './identity.js';
export type { StatementResult } from './pipeline.js';
export {
  type ContextDb,
  type ContextInput,
  ContextPool,
  type ContextPoolOptions,
  createContextPool,
  type RunOptions,
  withRequestContext,
} from './request-context.js';
export {
  type Admission,
  authorizationValues,
  bearerFromHeader,
  ContextGuard,
  type ContextHandle,
  type ContextLogger,
  type ContextMiddlewareOptions,
  type ContextMiddlewareStats,
  ContextRejectedError,
  createContextGuard,
  type HttpRejection,
  type RequestInfo,
  type TokenRejectedEvent,
} from './middleware/core.js';
export { type ExpressContext, expressContext } from './middleware/express.js';
export { type FastifyContext, fastifyContext, type FastifyContextPlugin } from './middleware/fastify.js';
export { type HonoContext, honoContext, type HonoContextOptions, type PgwardenVariables } from './middleware/hono.js';

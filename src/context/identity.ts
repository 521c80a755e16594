// From verified claims to the identity a request runs with. Everything here runs before a
// database connection is taken: a token whose authorisation claims are unusable costs nothing.
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import type { ContextIdentity } from './context-seal.js';

/** Which PostgreSQL role a request runs as. Every role named here is an allowlist entry. */
export interface RoleMapping {
  /** Role of a verified token that carries no role claim. Default `pgw_app_user`. */
  authenticated: string;
  /** Role of a request without a token; omit to answer such requests 401. */
  anonymous?: string;
  /**
   * Token role claim (PostgREST's `role`) mapped to PostgreSQL roles. A token naming a value
   * that is not a key here is refused (403) before any database work.
   */
  fromClaim?: { claim: string; map: Record<string, string> };
}

/** How claims are read. */
export interface ClaimMapping {
  /** Claim holding the tenant. Default: `tenant`, else `tenant_id`. */
  tenantClaim?: string;
  /** Claim holding the application roles (RBAC). Default `roles`. */
  rolesClaim?: string;
}

const ROLE_NAME = /^[a-z_][a-z0-9_$]{0,62}$/;
const MAX_CONTEXT_BYTES = 16 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// Identities made here (from verified claims, or by contextIdentity for applications with their
// own authentication). Anything else passed to a request is treated as claims, never trusted as
// an identity because of the keys it happens to have.
const made = new WeakSet<object>();

/** Whether `value` is an identity made by identityFromClaims or contextIdentity. */
export const isContextIdentity = (value: unknown): value is ContextIdentity =>
  typeof value === 'object' && value !== null && made.has(value);

/**
 * An identity built by the application itself (its own authentication, a job acting for a
 * user). It is checked like claims are (types, NUL, size); the pool still refuses a role that
 * is not in its allowlist.
 *
 * @example
 * const who = contextIdentity({ role: 'pgw_app_user', sub: userId, tenant, roles: ['member'] });
 * await withRequestContext(ctxPool, who, (db) => db.query('select …'));
 */
export function contextIdentity(fields: Partial<ContextIdentity> & { role: string }): ContextIdentity {
  const identity: ContextIdentity = {
    sub: null,
    tenant: null,
    roles: [],
    aal: null,
    sid: null,
    iat: null,
    claims: {},
    ...fields,
  };
  checkIdentity(identity);
  made.add(identity);
  return identity;
}

function refused(detail: string, status: 401 | 403): PgwardenError {
  return new PgwardenError(ErrorCodes.JWT_CLAIMS_REFUSED, 'the token cannot be used here', {
    detail: `${detail}; http ${status}`,
  });
}

/** Status of a PW323 refusal: 403 for a valid token naming a role it may not use, else 401. */
export const claimsRefusalStatus = (err: PgwardenError): 401 | 403 => (err.detail?.endsWith('http 403') ? 403 : 401);

/** Validates a role mapping once, at start-up. */
export function checkRoleMapping(roles: RoleMapping): void {
  const names = [roles.authenticated, ...(roles.anonymous ? [roles.anonymous] : [])];
  if (roles.fromClaim) {
    if (typeof roles.fromClaim.claim !== 'string' || roles.fromClaim.claim.length === 0) {
      throw new PgwardenError(ErrorCodes.CONTEXT_CONFIG_INVALID, 'roles.fromClaim.claim must name a claim');
    }
    names.push(...Object.values(roles.fromClaim.map));
  }
  for (const name of names) {
    if (typeof name !== 'string' || !ROLE_NAME.test(name)) {
      throw new PgwardenError(ErrorCodes.CONTEXT_CONFIG_INVALID, 'a mapped role must be a plain PostgreSQL role name', {
        hint: 'lowercase letters, digits, _ and $; at most 63 characters',
      });
    }
  }
}

const own = (claims: Record<string, unknown>, name: string): unknown =>
  Object.prototype.hasOwnProperty.call(claims, name) ? claims[name] : undefined;

/** True when a string, anywhere in the value, holds NUL or a lone surrogate (PostgreSQL text cannot). */
function hasUnstorableText(value: unknown, depth = 0): boolean {
  if (depth > 32) return true;
  if (typeof value === 'string') return value.includes('\u0000') || LONE_SURROGATE.test(value);
  if (Array.isArray(value)) return value.some((v) => hasUnstorableText(v, depth + 1));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => hasUnstorableText(k, depth + 1) || hasUnstorableText(v, depth + 1));
  }
  return false;
}

const optionalString = (claims: Record<string, unknown>, name: string): string | null => {
  const value = own(claims, name);
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) {
    throw refused(`claim ${name} must be a non-empty string`, 401);
  }
  return value;
};

/**
 * The identity of a verified token (or of an anonymous request, `claims === null`). Refuses,
 * with PW323 and no role name in the message, a role claim that is not a string or not in the
 * allowlist, authorisation claims of the wrong type, and text PostgreSQL cannot store.
 */
export function identityFromClaims(
  claims: Record<string, unknown> | null,
  roles: RoleMapping,
  mapping: ClaimMapping = {},
): ContextIdentity {
  if (claims === null) {
    if (!roles.anonymous) {
      throw new PgwardenError(ErrorCodes.CONTEXT_TOKEN_REQUIRED, 'a bearer token is required');
    }
    return contextIdentity({ role: roles.anonymous });
  }
  if (typeof claims !== 'object' || Array.isArray(claims)) throw refused('claims must be an object', 401);
  if (hasUnstorableText(claims)) throw refused('a claim holds NUL or invalid UTF-16', 401);

  let role = roles.authenticated;
  const claimName = roles.fromClaim?.claim ?? 'role';
  const roleClaim = own(claims, claimName);
  if (roleClaim !== undefined) {
    if (typeof roleClaim !== 'string') throw refused('the role claim must be a string', 401);
    const mapped = roles.fromClaim ? own(roles.fromClaim.map, roleClaim) : undefined;
    if (typeof mapped !== 'string') throw refused('the role claim names a role this service does not allow', 403);
    role = mapped;
  }

  const sub = own(claims, 'sub');
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 256) throw refused('sub must be a string', 401);
  const tenant = mapping.tenantClaim
    ? optionalString(claims, mapping.tenantClaim)
    : (optionalString(claims, 'tenant') ?? optionalString(claims, 'tenant_id'));
  const rolesValue = own(claims, mapping.rolesClaim ?? 'roles');
  let appRoles: string[] = [];
  if (rolesValue !== undefined && rolesValue !== null) {
    if (
      !Array.isArray(rolesValue) ||
      !rolesValue.every((r) => typeof r === 'string' && r.length > 0 && r.length <= 64)
    ) {
      throw refused('roles must be an array of strings', 401);
    }
    appRoles = [...new Set(rolesValue as string[])];
  }
  const sid = optionalString(claims, 'sid');
  if (sid !== null && !UUID.test(sid)) {
    throw refused('sid must be a uuid', 401);
  }
  const av = own(claims, 'av');
  if (av !== undefined && !(typeof av === 'number' && Number.isSafeInteger(av) && av >= 0)) {
    throw refused('av must be a non-negative integer', 401);
  }
  const iat = own(claims, 'iat');
  if (iat !== undefined && (typeof iat !== 'number' || !Number.isFinite(iat)))
    throw refused('iat must be a number', 401);
  const identity: ContextIdentity = {
    role,
    sub,
    tenant,
    roles: appRoles,
    aal: optionalString(claims, 'aal'),
    sid,
    iat: typeof iat === 'number' ? Math.floor(iat) : null,
    claims,
  };
  if (Buffer.byteLength(JSON.stringify(claims)) > MAX_CONTEXT_BYTES) {
    throw refused('the claims are too large', 401);
  }
  made.add(identity);
  return identity;
}

/**
 * Checks an identity built by the application (not from a token): the same types and text
 * rules as identityFromClaims, so nothing PostgreSQL cannot store reaches the database.
 */
export function checkIdentity(identity: ContextIdentity): void {
  const fail = (what: string) => {
    throw refused(`identity ${what}`, 401);
  };
  if (hasUnstorableText(identity)) fail('holds NUL or invalid UTF-16');
  const optional = (v: unknown) => v === null || (typeof v === 'string' && v.length > 0 && v.length <= 256);
  if (!optional(identity.sub)) fail('sub must be a string or null');
  if (!optional(identity.tenant)) fail('tenant must be a string or null');
  if (!optional(identity.aal)) fail('aal must be a string or null');
  if (!Array.isArray(identity.roles) || !identity.roles.every((r) => typeof r === 'string' && r.length > 0)) {
    fail('roles must be an array of strings');
  }
  if (identity.sid !== null && !(typeof identity.sid === 'string' && UUID.test(identity.sid)))
    fail('sid must be a uuid');
  if (identity.iat !== null && !(typeof identity.iat === 'number' && Number.isFinite(identity.iat))) {
    fail('iat must be a number');
  }
  if (identity.claims === null || typeof identity.claims !== 'object' || Array.isArray(identity.claims)) {
    fail('claims must be an object');
  }
  if (Buffer.byteLength(JSON.stringify(identity.claims)) > MAX_CONTEXT_BYTES) fail('claims are too large');
}

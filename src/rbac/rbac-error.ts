import { wrapPgError } from '../db/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';

/**
 * Maps an error of the RBAC SQL functions to a PgwardenError with a stable code and what to do
 * next: PW340 → RBAC_INVALID_INPUT, PW341 → RBAC_NO_SUCH_ROLE, PW309 → AUTH_USER_NOT_FOUND,
 * permission denied → RBAC_NOT_PERMITTED, missing schema or function → AUTH_NOT_INSTALLED.
 * The SQLSTATE, detail and cause are kept.
 *
 * @example
 * try { await client.query('select auth.rbac_grant($1, $2, $3)', params); }
 * catch (err) { throw rbacError(err, { rolePrefix: 'pgw_', role: 'billing' }); }
 */
export function rbacError(err: unknown, context: { rolePrefix: string; role?: string }): PgwardenError {
  const wrapped = wrapPgError(err);
  const opts = { detail: wrapped.detail, sqlState: wrapped.sqlState, cause: err };
  const prefix = context.rolePrefix;
  switch (wrapped.sqlState) {
    case 'PW340':
      return new PgwardenError(ErrorCodes.RBAC_INVALID_INPUT, wrapped.message, {
        ...opts,
        hint: wrapped.hint ?? 'names start with a lowercase letter; then a-z, 0-9, _ . : -',
      });
    case 'PW341':
      return new PgwardenError(
        ErrorCodes.RBAC_NO_SUCH_ROLE,
        context.role === undefined ? wrapped.message : `no role named ${context.role}`,
        {
          ...opts,
          hint: 'define it first: `pgwarden rbac role define <role> --permission <p>`; `pgwarden rbac roles` lists them',
        },
      );
    case 'PW309':
      return new PgwardenError(ErrorCodes.AUTH_USER_NOT_FOUND, wrapped.message, { ...opts, hint: wrapped.hint });
    case '42501':
      return new PgwardenError(ErrorCodes.RBAC_NOT_PERMITTED, 'this database user may not administer RBAC', {
        ...opts,
        detail: wrapped.message,
        hint: `connect as a member of ${prefix}security_admin (${prefix}auditor may only list)`,
      });
    case '3F000':
    case '42883':
      if (wrapped.sqlState === '3F000' || /auth\./.test(wrapped.message)) {
        return new PgwardenError(ErrorCodes.AUTH_NOT_INSTALLED, 'RBAC is not installed in this database', {
          ...opts,
          detail: wrapped.message,
          hint: 'run `pgwarden install` (any tier includes auth and RBAC; an older install is upgraded)',
        });
      }
      return wrapped;
    default:
      return wrapped;
  }
}

import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { type DashboardDb, rows } from './db.js';
import type { DashboardRole } from './dashboard-session.js';

/** Who to look up: the user id (a token's subject) or the e-mail of a login still waiting for MFA. */
export type RoleLookup = { userId: string } | { email: string };

/** Reads a user's dashboard role now; undefined when they have none (or are disabled, or unknown). */
export type DashboardRoleReader = (who: RoleLookup) => Promise<DashboardRole | undefined>;

const TENANT = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

/**
 * The role that opens the dashboard, security_admin first; undefined when the user has neither.
 *
 * @example
 * dashboardRole(['auditor', 'billing']); // 'auditor'
 */
export function dashboardRole(roles: readonly string[]): DashboardRole | undefined {
  if (roles.includes('security_admin')) return 'security_admin';
  if (roles.includes('auditor')) return 'auditor';
  return undefined;
}

/**
 * Reads dashboard roles from the database rather than from the access token. A token carries the
 * user's roles *in the session's tenant* (global roles plus that tenant's assignments), and any
 * tenant's administrator can be given `auditor` or `security_admin` there: those names mean
 * "inside my tenant", never "the whole cluster's security events". So only the user's global
 * roles (auth.users.roles) count, plus, when one is configured, the roles assigned in the
 * operator's own admin tenant. A disabled user has none. Reading them on each request also means
 * a role taken away counts at once, not when the access token expires.
 *
 * The connection needs SELECT on auth.users (id, email, roles, status) and, with an admin tenant,
 * EXECUTE on auth.rbac_assignments(): both are granted to `<prefix>security_admin` and
 * `<prefix>auditor`.
 *
 * @example
 * const roleOf = dashboardRoleReader(pool, { adminTenant: 'soc' });
 * await roleOf({ userId }); // 'security_admin' | 'auditor' | undefined
 */
export function dashboardRoleReader(db: DashboardDb, options: { adminTenant?: string } = {}): DashboardRoleReader {
  const adminTenant = options.adminTenant ?? null;
  if (adminTenant !== null && !TENANT.test(adminTenant))
    throw new PgwardenError(
      ErrorCodes.CONFIG_INVALID,
      `the dashboard admin tenant "${adminTenant}" is not a tenant name`,
      {
        hint: 'a tenant is 1-64 characters: A-Z a-z 0-9 _ . : -, starting with a letter or digit',
      },
    );
  return async (who) => {
    const byId = 'userId' in who;
    const [row] = await rows<{ status: string; roles: string[] }>(
      db,
      `select u.status,
              u.roles || case when $2::text is null then '{}'::text[]
                              else array(select a.role from auth.rbac_assignments(u.id, $2) a) end as roles
         from auth.users u
        where ${byId ? 'u.id = $1::uuid' : 'pg_catalog.lower(u.email) = pg_catalog.lower($1)'}`,
      [byId ? who.userId : who.email.trim(), adminTenant],
    );
    if (!row || row.status !== 'active') return undefined;
    return dashboardRole(row.roles);
  };
}

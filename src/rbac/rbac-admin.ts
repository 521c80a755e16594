import type pg from 'pg';
import { wrapPgError } from '../db/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { rbacError } from './rbac-error.js';

/** Anything that runs one parameterised statement: a `pg.Pool`, a `pg.Client` or a pool client. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** An application role as `auth.rbac_roles()` lists it. */
export interface RbacRole {
  role: string;
  description: string | null;
  /** Sorted. */
  permissions: string[];
  /** How many (user, tenant) assignments hold it; global roles in `auth.users.roles` are not counted. */
  assignments: number;
}

/** What `defineRole` changed. */
export interface RoleDefinition {
  role: RbacRole;
  /** True when the role did not exist before. */
  created: boolean;
  added: string[];
  removed: string[];
}

/** A per-tenant role assignment as `auth.rbac_assignments()` lists it. */
export interface RbacAssignment {
  userId: string;
  email: string;
  tenant: string;
  role: string;
  grantedBy: string | null;
  grantedAt: Date;
}

/** A user found by id or e-mail. */
export interface RbacUser {
  userId: string;
  email: string;
  /** The user's home tenant: the tenant of every session they open. */
  tenant: string;
}

/** The outcome of `grant` and `revoke`. */
export interface AssignmentChange {
  user: RbacUser;
  tenant: string;
  role: string;
  /** False when there was nothing to do (already held, or not held). */
  changed: boolean;
}

export interface RbacAdminOptions {
  /**
   * Who is acting, recorded in `granted_by` and in the events (at most 200 characters). The
   * database user is recorded with every event anyway (`db_user`).
   */
  actor?: string | null;
  /** Prefix of pgwarden's roles, for hints (default `pgw_`). */
  rolePrefix?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_ACTOR = 200;
const MAX_DESCRIPTION = 500;

type Row = Record<string, unknown>;

const toRole = (r: Row): RbacRole => ({
  role: r.role as string,
  description: (r.description as string | null) ?? null,
  permissions: r.permissions as string[],
  assignments: Number(r.assignments),
});

const invalid = (message: string, hint?: string) =>
  new PgwardenError(ErrorCodes.RBAC_INVALID_INPUT, message, hint === undefined ? {} : { hint });

/**
 * Role-based access control administration over the SQL functions of `sql/auth/0009_rbac.sql`.
 * Application roles hold permissions; users hold roles per tenant. Every change is one statement
 * and writes its security event (`rbac.role_defined`, `rbac.role_dropped`, `rbac.role_granted`,
 * `rbac.role_revoked`). Connect as a member of `<prefix>security_admin`; an auditor may list.
 *
 * @example
 * const rbac = new RbacAdmin(pool, { actor: 'ops@example.com' });
 * await rbac.defineRole('billing', ['invoice.read', 'invoice.write'], { description: 'billing clerks' });
 * await rbac.grant('ada@example.com', 'billing', 'acme');
 * const roles = await rbac.roles();
 */
export class RbacAdmin {
  readonly #db: Queryable;
  readonly #actor: string | null;
  readonly #prefix: string;

  constructor(db: Queryable, options: RbacAdminOptions = {}) {
    const actor = options.actor ?? null;
    if (actor !== null && (actor.length === 0 || actor.length > MAX_ACTOR)) {
      throw invalid(`the actor is 1-${MAX_ACTOR} characters`);
    }
    this.#db = db;
    this.#actor = actor;
    this.#prefix = options.rolePrefix ?? 'pgw_';
  }

  /**
   * Creates a role, or replaces the permission set of an existing one (permissions not named are
   * taken away, effective at the next statement of every request). Unknown permissions are created.
   * A description left out keeps the current one.
   *
   * @example
   * const { added, removed } = await rbac.defineRole('support', ['ticket.read']);
   */
  async defineRole(
    role: string,
    permissions: readonly string[],
    options: { description?: string | null } = {},
  ): Promise<RoleDefinition> {
    const description = options.description ?? null;
    if (description !== null && description.length > MAX_DESCRIPTION) {
      throw invalid(`a role description is at most ${MAX_DESCRIPTION} characters`);
    }
    const before = await this.role(role);
    await this.rows('select auth.rbac_define_role($1, $2, $3, $4)', [role, [...permissions], description, this.#actor]);
    const after = await this.role(role);
    if (!after) throw new PgwardenError(ErrorCodes.INTERNAL, `role ${role} is missing right after its definition`);
    const had = new Set(before?.permissions ?? []);
    const has = new Set(after.permissions);
    return {
      role: after,
      created: before === undefined,
      added: after.permissions.filter((p) => !had.has(p)),
      removed: (before?.permissions ?? []).filter((p) => !has.has(p)),
    };
  }

  /**
   * Drops a role with its permissions and every assignment of it. False when there was no such role.
   *
   * @example
   * await rbac.dropRole('legacy-admin');
   */
  async dropRole(role: string): Promise<boolean> {
    const [r] = await this.rows('select auth.rbac_drop_role($1, $2) as dropped', [role, this.#actor]);
    return r?.dropped === true;
  }

  /**
   * Gives a user (id or e-mail) a role in a tenant. Idempotent: `changed` is false when the user
   * already held it. The user's current access tokens are refused at their next request (PW332),
   * so clients refresh and get the role.
   *
   * @example
   * const { changed } = await rbac.grant('ada@example.com', 'billing', 'acme');
   */
  async grant(user: string, role: string, tenant: string): Promise<AssignmentChange> {
    const found = await this.user(user);
    const [r] = await this.rows(
      'select auth.rbac_grant($1, $2, $3, $4) as changed',
      [found.userId, tenant, role, this.#actor],
      { role },
    );
    return { user: found, tenant, role, changed: r?.changed === true };
  }

  /**
   * Takes a role from a user (id or e-mail) in a tenant. `changed` is false when the user did not
   * hold it. Tokens issued before are refused at their next request (PW332).
   *
   * @example
   * await rbac.revoke('ada@example.com', 'billing', 'acme');
   */
  async revoke(user: string, role: string, tenant: string): Promise<AssignmentChange> {
    const found = await this.user(user);
    const [r] = await this.rows('select auth.rbac_revoke($1, $2, $3, $4) as changed', [
      found.userId,
      tenant,
      role,
      this.#actor,
    ]);
    return { user: found, tenant, role, changed: r?.changed === true };
  }

  /**
   * Every role with its permissions and assignment count, by name.
   *
   * @example
   * for (const r of await rbac.roles()) console.log(r.role, r.permissions.join(' '));
   */
  async roles(): Promise<RbacRole[]> {
    return (await this.rows('select * from auth.rbac_roles()', [])).map(toRole);
  }

  /**
   * Assignments, optionally of one user (id or e-mail) and/or in one tenant; by tenant, e-mail, role.
   *
   * @example
   * const acme = await rbac.assignments({ tenant: 'acme' });
   */
  async assignments(filter: { user?: string | null; tenant?: string | null } = {}): Promise<RbacAssignment[]> {
    const userId = filter.user ? (await this.user(filter.user)).userId : null;
    const rows = await this.rows('select * from auth.rbac_assignments($1, $2)', [userId, filter.tenant ?? null]);
    return rows.map((r) => ({
      userId: r.user_id as string,
      email: r.email as string,
      tenant: r.tenant as string,
      role: r.role as string,
      grantedBy: (r.granted_by as string | null) ?? null,
      grantedAt: r.granted_at as Date,
    }));
  }

  /**
   * Finds a user by id, or by e-mail without regard to case. Throws PW309 when there is none.
   *
   * @example
   * const { userId } = await rbac.user('Ada@Example.com');
   */
  async user(ref: string): Promise<RbacUser> {
    const byId = UUID.test(ref);
    const [r] = await this.rows(
      byId
        ? 'select id, email, tenant from auth.users where id = $1::uuid'
        : 'select id, email, tenant from auth.users where pg_catalog.lower(email) = pg_catalog.lower($1)',
      [ref],
    );
    if (!r) {
      throw new PgwardenError(ErrorCodes.AUTH_USER_NOT_FOUND, `no user with ${byId ? 'id' : 'e-mail'} ${ref}`, {
        hint: 'name the user by id or by e-mail address',
      });
    }
    return { userId: r.id as string, email: r.email as string, tenant: r.tenant as string };
  }

  private async role(name: string): Promise<RbacRole | undefined> {
    const [r] = await this.rows('select * from auth.rbac_roles() where role = $1', [name]);
    return r ? toRole(r) : undefined;
  }

  private async rows(sql: string, params: unknown[], names: { role?: string } = {}): Promise<Row[]> {
    try {
      return (await this.#db.query<Row>(sql, params)).rows;
    } catch (err) {
      throw rbacError(err, { rolePrefix: this.#prefix, ...names });
    }
  }
}

/**
 * The database user a connection logged in as (`session_user`), for recording who acted.
 *
 * @example
 * const rbac = new RbacAdmin(client, { actor: `${os.userInfo().username} as ${await databaseUser(client)}` });
 */
export async function databaseUser(db: Queryable): Promise<string> {
  try {
    const { rows } = await db.query<{ name: string }>('select session_user::text as name');
    return rows[0]!.name;
  } catch (err) {
    throw wrapPgError(err);
  }
}

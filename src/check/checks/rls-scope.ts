import { roleNames } from '../../install/index.js';
import type { ScanContext } from '../scan-context.js';
import type { Finding, Outcome } from '../types.js';

// What the RLS and privilege lints look at: which schemas are exposed, which roles a request can
// act as, and which roles are administrators. Shared by rls*.ts and privilege*.ts; every query is
// memoised under one key per scan.

/**
 * pgwarden's own schemas: checked by pgwarden's own tests, never "exposed" by default.
 *
 * @example
 * pgwardenOwnSchemas.includes('auth'); // true
 */
export const pgwardenOwnSchemas = ['pgwarden', 'logs', 'auth', 'audit', 'ledger', 'compliance'] as const;

/**
 * The rule for exposed schemas, quoted in the rationale of every check that uses it.
 *
 * @example
 * const rationale = `Tables without RLS leak rows. ${exposedRule}`;
 */
export const exposedRule =
  "Exposed schemas are check.exposedSchemas when set; otherwise every non-system schema (not pg_*, information_schema, nor pgwarden's own: pgwarden, logs, auth, audit, ledger, compliance) on which PUBLIC or a pgwarden request role (<prefix>anon, <prefix>app_user, <prefix>authenticator) has USAGE.";

/** One non-system schema as the lints see it. */
export interface SchemaFacts {
  name: string;
  /** The name as an SQL identifier. */
  ident: string;
  /** One of pgwarden's own schemas. */
  pgwarden: boolean;
  publicUsage: boolean;
  /** Request roles with USAGE (directly or through PUBLIC). */
  requestUsage: string[];
  owner: string;
  ownerSuper: boolean;
  /** Grantees of CREATE other than the owner and superusers (`PUBLIC` for PUBLIC). */
  creators: string[];
}

/** One role as the lints see it. */
export interface RoleFacts {
  name: string;
  superuser: boolean;
  bypassrls: boolean;
  canLogin: boolean;
  /** pgwarden request roles (and the authenticator) that are this role or members of it. */
  reachedBy: string[];
}

/**
 * pgwarden's role names for the scan's prefix.
 *
 * @example
 * pgwardenRoles(ctx).anon; // 'pgw_anon'
 */
export const pgwardenRoles = (ctx: ScanContext) => roleNames(ctx.settings.rolePrefix);

/**
 * The roles a request can act as: the authenticator and the roles it switches to.
 *
 * @example
 * requestRoles(ctx); // ['pgw_anon', 'pgw_app_user', 'pgw_authenticator']
 */
export function requestRoles(ctx: ScanContext): string[] {
  const r = pgwardenRoles(ctx);
  return [r.anon, r.app_user, r.authenticator];
}

/**
 * Every schema except pg_* and information_schema, with its usage and CREATE grants.
 *
 * @example
 * (await schemaFacts(ctx)).filter((s) => s.creators.includes('PUBLIC'));
 */
export function schemaFacts(ctx: ScanContext): Promise<SchemaFacts[]> {
  return ctx.query<SchemaFacts>(
    'scope.schemas',
    `select n.nspname::text as name, pg_catalog.quote_ident(n.nspname) as ident, n.nspname = any($1::text[]) as pgwarden,
            exists (select 1 from pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
                     where a.grantee = 0 and a.privilege_type = 'USAGE') as "publicUsage",
            array(select r.rolname::text from pg_catalog.pg_roles r
                   where r.rolname = any($2::text[]) and pg_catalog.has_schema_privilege(r.oid, n.oid, 'USAGE')
                   order by 1) as "requestUsage",
            o.rolname::text as owner, o.rolsuper as "ownerSuper",
            array(select case when a.grantee = 0 then 'PUBLIC' else g.rolname::text end
                    from pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
                    left join pg_catalog.pg_roles g on g.oid = a.grantee
                   where a.privilege_type = 'CREATE' and a.grantee <> n.nspowner and not coalesce(g.rolsuper, false)
                   order by 1) as creators
       from pg_catalog.pg_namespace n join pg_catalog.pg_roles o on o.oid = n.nspowner
      where n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
      order by n.nspname`,
    [[...pgwardenOwnSchemas], requestRoles(ctx)],
  );
}

/**
 * The exposed schemas (see `exposedRule`), sorted.
 *
 * @example
 * await exposedSchemas(ctx); // ['api', 'public']
 */
export async function exposedSchemas(ctx: ScanContext): Promise<string[]> {
  const schemas = await schemaFacts(ctx);
  if (ctx.settings.exposedSchemas.length > 0) {
    const wanted = new Set(ctx.settings.exposedSchemas);
    return schemas.filter((s) => wanted.has(s.name)).map((s) => s.name);
  }
  return schemas.filter((s) => !s.pgwarden && (s.publicUsage || s.requestUsage.length > 0)).map((s) => s.name);
}

/**
 * Every application schema (not system, not pgwarden's), plus any schema configured as exposed.
 *
 * @example
 * await applicationSchemas(ctx); // ['app', 'public']
 */
export async function applicationSchemas(ctx: ScanContext): Promise<string[]> {
  const schemas = await schemaFacts(ctx);
  const exposed = new Set(await exposedSchemas(ctx));
  return schemas.filter((s) => !s.pgwarden || exposed.has(s.name)).map((s) => s.name);
}

/**
 * Every role of the cluster, with the request roles that reach it.
 *
 * @example
 * (await roleFacts(ctx)).find((r) => r.name === 'app_owner')?.reachedBy; // ['pgw_authenticator']
 */
export function roleFacts(ctx: ScanContext): Promise<RoleFacts[]> {
  return ctx.query<RoleFacts>(
    'scope.roles',
    `select r.rolname::text as name, r.rolsuper as superuser, r.rolbypassrls as bypassrls,
            r.rolcanlogin as "canLogin",
            array(select q.rolname::text from pg_catalog.pg_roles q
                   where q.rolname = any($1::text[]) and pg_catalog.pg_has_role(q.oid, r.oid, 'MEMBER')
                   order by 1) as "reachedBy"
       from pg_catalog.pg_roles r
      order by r.rolname`,
    [requestRoles(ctx)],
  );
}

/**
 * Roles that may see every row on purpose: superusers and BYPASSRLS roles, check.dbaRoles, and
 * pgwarden's administrative roles (owner, security_admin, auditor, auth_service), as long as no
 * request role can become them.
 *
 * @example
 * (await adminRoles(ctx)).has('pgw_security_admin'); // true
 */
export async function adminRoles(ctx: ScanContext): Promise<Set<string>> {
  const r = pgwardenRoles(ctx);
  const named = new Set([...ctx.settings.dbaRoles, r.owner, r.security_admin, r.auditor, r.auth_service]);
  const roles = await roleFacts(ctx);
  return new Set(
    roles
      .filter((x) => x.reachedBy.length === 0 && (x.superuser || x.bypassrls || named.has(x.name)))
      .map((x) => x.name),
  );
}

/**
 * Pass when nothing was found (with what was looked at as evidence), else fail with the findings.
 *
 * @example
 * return outcome(findings, { schemas: await exposedSchemas(ctx) });
 */
export function outcome(findings: Finding[], evidence: Record<string, unknown>): Outcome {
  return findings.length > 0 ? { verdict: 'fail', findings } : { verdict: 'pass', evidence };
}

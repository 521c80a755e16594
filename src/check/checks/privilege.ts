import type { ScanContext } from '../scan-context.js';
import type { CheckDefinition, Finding, FixStatement } from '../types.js';
import { privilegeGrantChecks } from './privilege-grants.js';
import { minorProblem, searchPathProblems } from './privilege-search-path.js';
import { outcome, pgwardenRoles, requestRoles, schemaFacts } from './rls-scope.js';

// Privilege lints on functions and roles: security definer functions (search_path, who may run
// them) and roles that bypass row-level security. Grants and schema lints: privilege-grants.ts.

const section = 'Privileges and schema';

interface DefinerRow {
  signature: string;
  schema: string;
  owner: string;
  procedure: boolean;
  config: string[];
  publicExecute: boolean;
  anonGranted: boolean;
  /** The anonymous role's name as an SQL identifier. */
  anonIdent: string;
}

/** Security definer functions and procedures outside system schemas, extension members aside. */
function definers(ctx: ScanContext): Promise<DefinerRow[]> {
  return ctx.query<DefinerRow>(
    'priv.definers',
    `select pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.oidvectortypes(p.proargtypes)) as signature,
            n.nspname::text as schema, pg_catalog.pg_get_userbyid(p.proowner)::text as owner,
            p.prokind = 'p' as procedure, coalesce(p.proconfig, '{}')::text[] as config,
            exists (select 1 from pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
                     where a.grantee = 0 and a.privilege_type = 'EXECUTE') as "publicExecute",
            exists (select 1 from pg_catalog.aclexplode(p.proacl) a join pg_catalog.pg_roles r on r.oid = a.grantee
                     where r.rolname = $1 and a.privilege_type = 'EXECUTE') as "anonGranted",
            pg_catalog.quote_ident($1) as "anonIdent"
       from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
      where p.prosecdef and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
        and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_proc'::regclass
                         and d.objid = p.oid and d.deptype = 'e')
      order by 1`,
    [pgwardenRoles(ctx).anon],
  );
}

const kindOf = (f: DefinerRow) => (f.procedure ? 'procedure' : 'function');

const searchPathCheck: CheckDefinition = {
  id: 'PRIV-001',
  family: 'privilege',
  section,
  title: 'Security definer functions fix a safe search_path',
  severity: 'high',
  source: 'sql',
  cis: '4.5',
  references: [
    'splinter 0011_function_search_path_mutable',
    'https://www.postgresql.org/docs/current/sql-createfunction.html#SQL-CREATEFUNCTION-SECURITY',
  ],
  rationale:
    "A security definer function runs with its owner's rights but resolves unqualified names through a search_path. Without its own search_path it uses the caller's, and the caller can put a schema of theirs first and shadow any table, function or operator the body uses (R-07). Reported: no search_path setting; \"$user\" or public in it; a schema that does not exist (whoever may create schemas could create it), belongs to another non-superuser, or where PUBLIC or another non-superuser role may CREATE; pg_temp anywhere but last. A path without pg_temp (search_path = '' included) is medium: PostgreSQL then searches the temporary schema first for tables, views and types (not functions or operators), so a temporary table can shadow any table name the body leaves unqualified. Checked in every non-system schema, pgwarden's included (all of pgwarden's functions set pg_catalog, pg_temp).",
  remediation:
    'ALTER FUNCTION … SET search_path = pg_catalog, pg_temp and schema-qualify every object in the body (this can change what the body resolves to: test it).',
  evaluate: async (ctx) => {
    const schemas = new Map((await schemaFacts(ctx)).map((s) => [s.name, s]));
    const findings: Finding[] = [];
    for (const f of await definers(ctx)) {
      const problems = searchPathProblems(f.config, f.owner, schemas);
      if (problems.length === 0) continue;
      findings.push({
        object: `${kindOf(f)} ${f.signature}`,
        message: `security definer ${kindOf(f)} ${f.signature}: ${problems.join('; ')}`,
        evidence: { owner: f.owner, config: f.config },
        severity: problems.every((p) => p === minorProblem) ? 'medium' : 'high',
        fix: [{ sql: `alter ${kindOf(f)} ${f.signature} set search_path = pg_catalog, pg_temp;`, safety: 'manual' }],
      });
    }
    return outcome(findings, { definers: (await definers(ctx)).length });
  },
};

/**
 * pgwarden's security definer functions that are executable by PUBLIC or anon by design: the
 * identity helpers verify the caller's context and reveal nothing else; validate_session and
 * logout act on the session token the caller presents.
 */
const pgwardenOpenDefiners: Readonly<Record<string, readonly ('PUBLIC' | 'anon')[]>> = {
  'auth._context(text)': ['PUBLIC'],
  'auth._has_permission(text, text)': ['PUBLIC'],
  'auth.validate_session(text)': ['anon'],
  'auth.logout(text)': ['anon'],
};

const executableCheck: CheckDefinition = {
  id: 'PRIV-002',
  family: 'privilege',
  section,
  title: 'Security definer functions are not executable by PUBLIC or the anonymous role',
  severity: 'high',
  source: 'sql',
  cis: '4.5',
  references: [
    'splinter 0028_anon_security_definer_function_executable',
    'splinter 0029_authenticated_security_definer_function_executable',
    'ASVS 5.0 V8.2.1',
  ],
  rationale:
    "A security definer function runs with its owner's rights and past row-level security; PostgreSQL lets PUBLIC execute every new function unless revoked, so every role, anonymous requests included, can call it (R-07). High when PUBLIC or a request role may use the function's schema, medium otherwise (one GRANT USAGE away). pgwarden's own auth._context(text) and auth._has_permission(text, text) (PUBLIC) and auth.validate_session(text) and auth.logout(text) (anon), owned by pgwarden's owner role, are deliberate and not reported; every other pgwarden function is checked like any other.",
  remediation:
    'REVOKE EXECUTE ON FUNCTION … FROM PUBLIC (and from the anon role), then GRANT EXECUTE to the roles that need it; or make the function SECURITY INVOKER, or have it filter by (select auth.tenant_id()) itself.',
  evaluate: async (ctx) => {
    const roles = pgwardenRoles(ctx);
    const schemas = new Map((await schemaFacts(ctx)).map((s) => [s.name, s]));
    const findings: Finding[] = [];
    for (const f of await definers(ctx)) {
      const allowed = f.owner === roles.owner ? (pgwardenOpenDefiners[f.signature] ?? []) : [];
      const toPublic = f.publicExecute && !allowed.includes('PUBLIC');
      const toAnon = f.anonGranted && !allowed.includes('anon');
      if (!toPublic && !toAnon) continue;
      const s = schemas.get(f.schema);
      const reachable = !!s && (s.publicUsage || s.requestUsage.length > 0);
      const fix: FixStatement[] = [];
      if (toPublic) fix.push({ sql: `revoke execute on ${kindOf(f)} ${f.signature} from public;`, safety: 'manual' });
      if (toAnon)
        fix.push({ sql: `revoke execute on ${kindOf(f)} ${f.signature} from ${f.anonIdent};`, safety: 'manual' });
      findings.push({
        object: `${kindOf(f)} ${f.signature}`,
        message: `security definer ${kindOf(f)} ${f.signature} is executable by ${[toPublic && 'PUBLIC', toAnon && roles.anon].filter(Boolean).join(' and ')}${reachable ? '' : ' (its schema is not usable by PUBLIC or a request role today)'}`,
        evidence: {
          owner: f.owner,
          publicExecute: f.publicExecute,
          anonGranted: f.anonGranted,
          schemaUsable: reachable,
        },
        severity: reachable ? 'high' : 'medium',
        fix,
      });
    }
    return outcome(findings, { definers: (await definers(ctx)).length });
  },
};

interface PrivilegedRole {
  name: string;
  ident: string;
  bootstrap: boolean;
  superuser: boolean;
  bypassrls: boolean;
  canLogin: boolean;
  reachedBy: string[];
  loginMembers: string[];
}

const bypassCheck: CheckDefinition = {
  id: 'PRIV-003',
  family: 'privilege',
  section,
  title: 'No role but the DBA bypasses row-level security, and no request role reaches one that does',
  severity: 'high',
  source: 'sql',
  cis: '4.7',
  references: ['https://www.postgresql.org/docs/current/ddl-rowsecurity.html', 'ASVS 5.0 V8.2.2'],
  rationale:
    "Superusers and BYPASSRLS roles ignore every policy. No pgwarden role needs either, and the authenticator and request roles must not be able to become such a role (R-05): a request that can SET ROLE to it reads every tenant. Reported: any BYPASSRLS role other than the bootstrap superuser and check.dbaRoles (critical when it can log in, a non-superuser login is a member of it, or a request role reaches it; high otherwise), and any superuser or BYPASSRLS role a pgwarden request role reaches, or that is one of pgwarden's roles (critical, DBA or not). Superusers no request role reaches are CIS-4.3's concern, not this check's.",
  remediation:
    'ALTER ROLE … NOBYPASSRLS (and NOSUPERUSER); REVOKE the membership that lets a request role or login reach it; list deliberate DBA roles in check.dbaRoles.',
  evaluate: async (ctx) => {
    const pgw = new Set(Object.values(pgwardenRoles(ctx)));
    const dba = new Set(ctx.settings.dbaRoles);
    const rows = await ctx.query<PrivilegedRole>(
      'priv.privileged-roles',
      `select r.rolname::text as name, pg_catalog.quote_ident(r.rolname) as ident, r.oid = 10 as bootstrap,
              r.rolsuper as superuser, r.rolbypassrls as bypassrls, r.rolcanlogin as "canLogin",
              array(select q.rolname::text from pg_catalog.pg_roles q
                     where q.rolname = any($1::text[]) and pg_catalog.pg_has_role(q.oid, r.oid, 'MEMBER') order by 1) as "reachedBy",
              array(select m.rolname::text from pg_catalog.pg_roles m
                     where m.rolcanlogin and not m.rolsuper and m.oid <> r.oid and not (m.rolname = any($2::text[]))
                       and pg_catalog.pg_has_role(m.oid, r.oid, 'MEMBER') order by 1) as "loginMembers"
         from pg_catalog.pg_roles r
        where r.rolsuper or r.rolbypassrls
        order by r.rolname`,
      [requestRoles(ctx), ctx.settings.dbaRoles],
    );
    const findings: Finding[] = [];
    for (const r of rows) {
      const attr = r.superuser ? 'SUPERUSER' : 'BYPASSRLS';
      const evidence = {
        superuser: r.superuser,
        bypassrls: r.bypassrls,
        canLogin: r.canLogin,
        reachedBy: r.reachedBy,
        loginMembers: r.loginMembers,
      };
      if (r.reachedBy.length > 0 || pgw.has(r.name)) {
        findings.push({
          object: `role ${r.name}`,
          message: pgw.has(r.name)
            ? `${r.name} is one of pgwarden's roles and has ${attr}`
            : `${r.name} has ${attr} and ${r.reachedBy.join(', ')} can become it`,
          evidence,
          severity: 'critical',
          ...(r.superuser ? {} : { fix: [{ sql: `alter role ${r.ident} nobypassrls;`, safety: 'manual' as const }] }),
        });
        continue;
      }
      if (r.bootstrap || dba.has(r.name) || r.superuser) continue;
      const exposed = r.canLogin || r.loginMembers.length > 0;
      findings.push({
        object: `role ${r.name}`,
        message: `${r.name} has BYPASSRLS${r.canLogin ? ' and can log in' : r.loginMembers.length > 0 ? ` and the login roles ${r.loginMembers.join(', ')} are members of it` : ''}`,
        evidence,
        severity: exposed ? 'critical' : 'high',
        fix: [{ sql: `alter role ${r.ident} nobypassrls;`, safety: 'manual' }],
      });
    }
    return outcome(findings, { privilegedRoles: rows.length });
  },
};

/**
 * The privilege and schema lints (family 'privilege'): PRIV-001 … PRIV-008.
 *
 * @example
 * const report = await scanDatabase(conn, { checks: privilegeChecks });
 */
export const privilegeChecks: CheckDefinition[] = [
  searchPathCheck,
  executableCheck,
  bypassCheck,
  ...privilegeGrantChecks,
];

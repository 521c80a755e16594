import { quoteIdent } from '../../db/index.js';
import type { ScanContext } from '../scan-context.js';
import type { CheckDefinition, Finding } from '../types.js';
import { capped, cis, outcomeOf, preloadedLibraries, Section } from './cis-support.js';

/** The bootstrap superuser created by initdb always has oid 10. */
const BOOTSTRAP_OID = 10;

interface SuperRole {
  name: string;
  oid: number;
  canLogin: boolean;
  members: string[];
}

interface Escalation {
  role: string;
  canLogin: boolean;
  superuser: string;
}

function superRoles(ctx: ScanContext): Promise<SuperRole[]> {
  return ctx.query<SuperRole>(
    'cis.superusers',
    `select r.rolname::text as name, r.oid::int as oid, r.rolcanlogin as "canLogin",
            array(select m.rolname::text from pg_catalog.pg_auth_members a
                    join pg_catalog.pg_roles m on m.oid = a.member
                   where a.roleid = r.oid order by 1) as members
       from pg_catalog.pg_roles r where r.rolsuper order by 1`,
  );
}

/**
 * Non-superuser roles that can SET ROLE to a superuser through memberships (on 16+ only
 * memberships granted WITH SET count, as the server decides).
 */
function escalations(ctx: ScanContext): Promise<Escalation[]> {
  const set = ctx.server.major >= 16 ? 'and a.set_option' : '';
  return ctx.query<Escalation>(
    'cis.superuser_members',
    `with recursive reach(super, member) as (
       select a.roleid, a.member from pg_catalog.pg_auth_members a
         join pg_catalog.pg_roles s on s.oid = a.roleid where s.rolsuper ${set}
       union
       select r.super, a.member from reach r join pg_catalog.pg_auth_members a on a.roleid = r.member where true ${set}
     )
     select distinct m.rolname::text as role, m.rolcanlogin as "canLogin", s.rolname::text as superuser
       from reach r join pg_catalog.pg_roles m on m.oid = r.member join pg_catalog.pg_roles s on s.oid = r.super
      where not m.rolsuper order by 1, 3`,
  );
}

async function listing(ctx: ScanContext, key: string, sql: string): Promise<Record<string, unknown>[]> {
  return ctx.query<Record<string, unknown>>(key, sql);
}

/**
 * CIS 4.3–4.6, 4.8–4.10: roles and privileges in the catalog.
 *
 * @example
 * selectChecks(accessChecks, ['CIS-4.10'], []); // the public-schema check
 */
export const accessChecks: CheckDefinition[] = [
  cis({
    cis: '4.3',
    section: Section.access,
    title: 'Only the intended roles hold superuser powers',
    severity: 'high',
    source: 'sql',
    rationale:
      'A superuser bypasses every permission and row-level security policy, can read files and run programs as the server OS user. Besides the bootstrap superuser, only roles listed as DBA roles (check.dbaRoles) may be, or be able to SET ROLE to, a superuser.',
    remediation:
      'ALTER ROLE <role> NOSUPERUSER for each listed role (grant predefined roles such as pg_monitor or pg_maintain for the tasks it needs), REVOKE memberships in superuser roles, or add deliberate DBA roles to check.dbaRoles.',
    evaluate: async (ctx) => {
      const allowed = new Set(ctx.settings.dbaRoles);
      const findings: Finding[] = [];
      for (const su of await superRoles(ctx)) {
        if (su.oid === BOOTSTRAP_OID || allowed.has(su.name)) continue;
        const usable = su.canLogin || su.members.length > 0;
        findings.push({
          object: `role ${su.name}`,
          message: `role ${su.name} is a superuser${su.canLogin ? ' that can log in' : ''}`,
          evidence: { role: su.name, canLogin: su.canLogin, members: su.members },
          // A NOLOGIN superuser nobody belongs to is dormant until someone is granted it.
          severity: usable ? 'high' : 'medium',
          fix: [{ sql: `alter role ${quoteIdent(su.name)} nosuperuser`, safety: 'manual' }],
        });
      }
      for (const e of await escalations(ctx)) {
        if (allowed.has(e.role)) continue;
        findings.push({
          object: `role ${e.role} -> ${e.superuser}`,
          message: `role ${e.role} can SET ROLE to superuser ${e.superuser}`,
          evidence: { role: e.role, canLogin: e.canLogin, superuser: e.superuser },
          severity: e.canLogin ? 'high' : 'medium',
        });
      }
      return outcomeOf(findings);
    },
  }),
  cis({
    cis: '4.4',
    section: Section.access,
    title: 'Login roles not in use are locked',
    severity: 'low',
    source: 'sql',
    rationale: 'Unused login roles keep working passwords nobody watches. Only a person knows which are in use.',
    remediation: 'ALTER ROLE <role> NOLOGIN (or VALID UNTIL a past date) for roles no longer in use.',
    evaluate: async (ctx) => {
      const roles = await listing(
        ctx,
        'cis.login_roles',
        `select rolname::text as role, rolsuper as superuser, rolvaliduntil::text as "validUntil",
                rolconnlimit as "connectionLimit"
           from pg_catalog.pg_roles where rolcanlogin and rolname !~ '^pg_' order by 1`,
      );
      return {
        verdict: 'manual',
        evidence: { loginRoles: capped(roles) },
        message: 'lock the login roles no longer in use',
      };
    },
  }),
  cis({
    cis: '4.5',
    section: Section.access,
    title: 'Function privileges are not excessive',
    severity: 'medium',
    source: 'sql',
    rationale:
      "SECURITY DEFINER functions run with their owner's privileges, and functions with SET clauses change the session; each needs a person to confirm it is needed and safely written (fixed search_path, EXECUTE granted narrowly).",
    remediation:
      'Review each listed function: drop or ALTER FUNCTION … SECURITY INVOKER where the definer is not needed; REVOKE EXECUTE FROM PUBLIC.',
    evaluate: async (ctx) => {
      const fns = await listing(
        ctx,
        'cis.definer_functions',
        `select p.oid::regprocedure::text as function, pg_catalog.pg_get_userbyid(p.proowner)::text as owner,
                p.prosecdef as "securityDefiner",
                array(select pg_catalog.split_part(c, '=', 1) from pg_catalog.unnest(p.proconfig) c) as sets
           from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
          where (p.prosecdef or p.proconfig is not null)
            and n.nspname not in ('pg_catalog', 'information_schema')
            and not exists (select 1 from pg_catalog.pg_depend d
                             where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
          order by 1`,
      );
      return {
        verdict: 'manual',
        evidence: { database: ctx.server.database, functions: capped(fns) },
        message: 'confirm each SECURITY DEFINER / SET function is needed and safe',
      };
    },
  }),
  cis({
    cis: '4.6',
    section: Section.access,
    title: 'DML privileges are not excessive',
    severity: 'medium',
    source: 'sql',
    rationale:
      'Table privileges granted to roles other than the owner should match what each role does; only a person knows that.',
    remediation: 'REVOKE the SELECT/INSERT/UPDATE/DELETE privileges a role does not need.',
    evaluate: async (ctx) => {
      const rows = await ctx.query<{ grantee: string; privilege: string; tables: number }>(
        'cis.dml_grants',
        `select coalesce(r.rolname::text, 'PUBLIC') as grantee, a.privilege_type as privilege, pg_catalog.count(*)::int as tables
           from pg_catalog.pg_class c
           join pg_catalog.pg_namespace n on n.oid = c.relnamespace
           cross join lateral pg_catalog.aclexplode(c.relacl) a
           left join pg_catalog.pg_roles r on r.oid = a.grantee
          where c.relkind in ('r', 'p', 'v', 'm', 'f')
            and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
            and a.privilege_type in ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
            and a.grantee <> c.relowner and not coalesce(r.rolsuper, false)
          group by 1, 2 order by 1, 2`,
      );
      const byGrantee: Record<string, Record<string, number>> = {};
      for (const r of rows) (byGrantee[r.grantee] ??= {})[r.privilege] = r.tables;
      return {
        verdict: 'manual',
        evidence: { database: ctx.server.database, tablesByGrantee: byGrantee },
        message: 'confirm each grantee needs these table privileges',
      };
    },
  }),
  cis({
    cis: '4.8',
    section: Section.access,
    title: 'Superuser access goes through set_user',
    severity: 'low',
    source: 'sql',
    references: ['https://github.com/pgaudit/set_user'],
    rationale:
      'The benchmark marks this manual: set_user lets administrators log in unprivileged and escalate with an audited call. Without it, a person reviews which login roles are or can become superuser.',
    remediation:
      'Install set_user, add it to shared_preload_libraries, and revoke direct superuser logins; or accept the listed roles.',
    evaluate: async (ctx) => {
      const libs = await preloadedLibraries(ctx);
      const direct = (await superRoles(ctx)).filter((s) => s.canLogin).map((s) => s.name);
      const indirect = (await escalations(ctx)).filter((e) => e.canLogin).map((e) => `${e.role} -> ${e.superuser}`);
      const evidence = {
        setUserLoaded: libs.includes('set_user'),
        loginSuperusers: direct,
        canBecomeSuperuser: indirect,
      };
      if (libs.includes('set_user')) return { verdict: 'pass', evidence };
      return {
        verdict: 'manual',
        evidence,
        message: 'set_user is not loaded: review the roles that log in with superuser powers',
      };
    },
  }),
  cis({
    cis: '4.9',
    section: Section.access,
    title: 'Predefined roles are used instead of superuser',
    severity: 'low',
    source: 'sql',
    rationale:
      'Predefined roles (pg_monitor, pg_read_all_data, …) grant one power each; a person checks each membership is needed.',
    remediation: 'REVOKE predefined roles a role does not need; grant them instead of superuser where possible.',
    evaluate: async (ctx) => {
      const rows = await listing(
        ctx,
        'cis.predefined_members',
        `select m.rolname::text as role, pg_catalog.array_agg(g.rolname::text order by g.rolname) as "predefinedRoles"
           from pg_catalog.pg_auth_members a
           join pg_catalog.pg_roles g on g.oid = a.roleid
           join pg_catalog.pg_roles m on m.oid = a.member
          where g.rolname ~ '^pg_' and m.rolname !~ '^pg_'
          group by 1 order by 1`,
      );
      return {
        verdict: 'manual',
        evidence: { members: capped(rows) },
        message: 'confirm each predefined role membership is needed',
      };
    },
  }),
  cis({
    cis: '4.10',
    section: Section.access,
    title: 'PUBLIC cannot create objects in the public schema',
    severity: 'high',
    source: 'sql',
    rationale:
      'With CREATE on public for PUBLIC, any role can plant functions and operators that shadow built-ins for other users whose search_path includes public (CVE-2018-1058). USAGE alone, the PostgreSQL 15+ default, passes.',
    remediation: 'REVOKE CREATE ON SCHEMA public FROM PUBLIC; (in every database).',
    evaluate: async (ctx) => {
      const rows = await ctx.query<{ schema: string; create: boolean; usage: boolean }>(
        'cis.public_schema',
        `select n.nspname::text as schema,
                exists (select 1 from pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
                         where a.grantee = 0 and a.privilege_type = 'CREATE') as create,
                exists (select 1 from pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
                         where a.grantee = 0 and a.privilege_type = 'USAGE') as usage
           from pg_catalog.pg_namespace n where n.nspname = 'public'`,
      );
      if (rows.length === 0)
        return { verdict: 'pass', evidence: { database: ctx.server.database, publicSchema: 'absent' } };
      const findings: Finding[] = rows
        .filter((r) => r.create)
        .map((r) => ({
          object: `schema ${r.schema}`,
          message: `PUBLIC has CREATE on schema ${r.schema} in database ${ctx.server.database}`,
          evidence: { database: ctx.server.database, schema: r.schema, publicCreate: true, publicUsage: r.usage },
          fix: [{ sql: `revoke create on schema ${quoteIdent(r.schema)} from public`, safety: 'safe' as const }],
        }));
      return outcomeOf(findings, { database: ctx.server.database, publicUsage: rows.some((r) => r.usage) });
    },
  }),
];

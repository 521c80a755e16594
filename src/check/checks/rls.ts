import type { ScanContext } from '../scan-context.js';
import type { CheckDefinition, Finding } from '../types.js';
import { rlsPolicyChecks } from './rls-policy-checks.js';
import { applicationSchemas, exposedRule, exposedSchemas, outcome, roleFacts } from './rls-scope.js';
import { rlsViewCheck } from './rls-views.js';

// Row-level security lints over tables: RLS missing, policies without RLS, RLS without policies,
// FORCE. The policy-expression lints are in rls-policy-checks.ts, views in rls-views.ts.

const section = 'Row-level security';

interface TableRow {
  table: string;
  schema: string;
  rls: boolean;
  forced: boolean;
  partition: boolean;
  owner: string;
  policies: string[];
  parent: string | null;
  /** The parent has RLS and policies: direct access to this partition is what R-18 is about. */
  parentProtected: boolean;
  /** Roles other than the owner holding a table or column privilege (`PUBLIC` for PUBLIC). */
  grantees: string[];
}

/** Tables and partitioned tables of the application schemas (extension members aside). */
async function tables(ctx: ScanContext): Promise<TableRow[]> {
  const schemas = await applicationSchemas(ctx);
  return ctx.query<TableRow>(
    'rls.tables',
    `select pg_catalog.format('%I.%I', n.nspname, c.relname) as "table", n.nspname::text as schema,
            c.relrowsecurity as rls, c.relforcerowsecurity as forced, c.relispartition as partition,
            pg_catalog.pg_get_userbyid(c.relowner)::text as owner,
            array(select p.polname::text from pg_catalog.pg_policy p where p.polrelid = c.oid order by 1) as policies,
            par.display as parent, coalesce(par.protected, false) as "parentProtected",
            array(select distinct g from (
                    select case when a.grantee = 0 then 'PUBLIC' else pg_catalog.pg_get_userbyid(a.grantee)::text end
                      from pg_catalog.aclexplode(c.relacl) a where a.grantee <> c.relowner
                    union all
                    select case when a.grantee = 0 then 'PUBLIC' else pg_catalog.pg_get_userbyid(a.grantee)::text end
                      from pg_catalog.pg_attribute att cross join pg_catalog.aclexplode(att.attacl) a
                     where att.attrelid = c.oid and att.attnum > 0 and not att.attisdropped and a.grantee <> c.relowner
                  ) x(g) order by 1) as grantees
       from pg_catalog.pg_class c
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       left join lateral (
         select pg_catalog.format('%I.%I', pn.nspname, pc.relname) as display,
                pc.relrowsecurity and exists (select 1 from pg_catalog.pg_policy pp where pp.polrelid = pc.oid) as protected
           from pg_catalog.pg_inherits i
           join pg_catalog.pg_class pc on pc.oid = i.inhparent
           join pg_catalog.pg_namespace pn on pn.oid = pc.relnamespace
          where i.inhrelid = c.oid order by i.inhseqno limit 1) par on true
      where c.relkind in ('r', 'p') and n.nspname = any($1::text[])
        and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_class'::regclass
                         and d.objid = c.oid and d.deptype = 'e')
      order by n.nspname, c.relname`,
    [schemas],
  );
}

const rlsMissing: CheckDefinition = {
  id: 'RLS-001',
  family: 'rls',
  section,
  title: 'Tables in exposed schemas have row-level security enabled',
  severity: 'high',
  source: 'sql',
  cis: '4.7',
  references: [
    'splinter 0013_rls_disabled_in_public',
    'ASVS 5.0 V8.2.2',
    'https://www.postgresql.org/docs/current/ddl-rowsecurity.html',
  ],
  rationale: `Without row-level security every role that can read a table reads every row of it: one missing GRANT revoke or one injected query away from a cross-tenant leak. Partitions count too: querying a partition directly skips the parent's policies (R-18). ${exposedRule} High when a role other than the owner holds a privilege on the table (or a request role can become its owner), medium when only its owner can reach it today.`,
  remediation:
    'Write the policies first (pgwarden rls protect, or CREATE POLICY … USING (tenant_id = (select auth.tenant_id()))), then ALTER TABLE … ENABLE ROW LEVEL SECURITY. Enabling RLS alone denies every row to everyone but the owner.',
  evaluate: async (ctx) => {
    const schemas = await exposedSchemas(ctx);
    const roles = new Map((await roleFacts(ctx)).map((r) => [r.name, r]));
    const findings: Finding[] = [];
    for (const t of await tables(ctx)) {
      if (t.rls || !schemas.includes(t.schema)) continue;
      const ownerReachedBy = roles.get(t.owner)?.reachedBy ?? [];
      const reachable = t.grantees.length > 0 || ownerReachedBy.length > 0;
      findings.push({
        object: t.table,
        message: `${t.table} is in an exposed schema without row-level security${t.parent ? ` (a partition of ${t.parent})` : ''}`,
        evidence: { owner: t.owner, grantees: t.grantees, ownerReachedBy, ...(t.parent ? { parent: t.parent } : {}) },
        severity: reachable ? 'high' : 'medium',
        // Not safe to apply blindly: with RLS on and no policy, everyone but the owner sees no rows.
        fix: [{ sql: `alter table ${t.table} enable row level security;`, safety: 'manual' }],
      });
    }
    return outcome(findings, { exposedSchemas: schemas });
  },
};

const policyWithoutRls: CheckDefinition = {
  id: 'RLS-002',
  family: 'rls',
  section,
  title: 'Tables with policies have row-level security enabled',
  severity: 'high',
  source: 'sql',
  cis: '4.7',
  references: [
    'splinter 0007_policy_exists_rls_disabled',
    'https://www.postgresql.org/docs/current/sql-createpolicy.html',
  ],
  rationale:
    'Policies do nothing until row-level security is enabled on their table: someone wrote the rules and every row is still visible to anyone with SELECT. Checked in every application schema (all but system and pgwarden schemas).',
  remediation:
    'Review the policies, then ALTER TABLE … ENABLE ROW LEVEL SECURITY (roles without a matching policy then see no rows).',
  evaluate: async (ctx) => {
    const schemas = await applicationSchemas(ctx);
    const findings: Finding[] = (await tables(ctx))
      .filter((t) => !t.rls && t.policies.length > 0)
      .map((t) => ({
        object: t.table,
        message: `${t.table} has ${t.policies.length} polic${t.policies.length === 1 ? 'y' : 'ies'} but row-level security is disabled`,
        evidence: { policies: t.policies },
        fix: [{ sql: `alter table ${t.table} enable row level security;`, safety: 'manual' as const }],
      }));
    return outcome(findings, { schemas });
  },
};

const rlsWithoutPolicy: CheckDefinition = {
  id: 'RLS-003',
  family: 'rls',
  section,
  title: 'Tables with row-level security have at least one policy',
  severity: 'low',
  source: 'sql',
  references: ['splinter 0008_rls_enabled_no_policy', 'https://www.postgresql.org/docs/current/ddl-rowsecurity.html'],
  rationale:
    'Row-level security with no policy denies every row to every role but the owner (default deny, R-02). That is safe, but usually means the policies were forgotten or dropped. A partition whose parent has policies is not reported: denying direct access to it is the intended design (R-18).',
  remediation:
    'Create the policies the table needs (pgwarden rls protect), or accept the finding if default deny is intended.',
  evaluate: async (ctx) => {
    const schemas = await applicationSchemas(ctx);
    const findings: Finding[] = (await tables(ctx))
      .filter((t) => t.rls && t.policies.length === 0 && !(t.partition && t.parentProtected))
      .map((t) => ({
        object: t.table,
        message: `${t.table} has row-level security enabled and no policy: every role but its owner sees no rows`,
        evidence: { owner: t.owner, forced: t.forced },
      }));
    return outcome(findings, { schemas });
  },
};

const forceRls: CheckDefinition = {
  id: 'RLS-009',
  family: 'rls',
  section,
  title: 'Tables owned by a role the application uses force row-level security',
  severity: 'high',
  source: 'sql',
  cis: '4.7',
  references: [
    'https://www.postgresql.org/docs/current/ddl-rowsecurity.html',
    'https://www.postgresql.org/docs/current/sql-altertable.html',
  ],
  rationale:
    "A table's owner bypasses its policies unless FORCE ROW LEVEL SECURITY is set (R-04). When the owner can log in, is one of pgwarden's request roles or the authenticator, or a request role can become it, the application itself reads every row. Owners that are superusers or BYPASSRLS are not reported here (FORCE does not bind them: PRIV-003), nor owners listed in check.dbaRoles.",
  remediation:
    'Give the table to a NOLOGIN owner role the application cannot become (ALTER TABLE … OWNER TO …), or ALTER TABLE … FORCE ROW LEVEL SECURITY (then the owner is subject to the policies too, which can hide rows from migrations run as the owner).',
  evaluate: async (ctx) => {
    const schemas = await applicationSchemas(ctx);
    const roles = new Map((await roleFacts(ctx)).map((r) => [r.name, r]));
    const findings: Finding[] = [];
    for (const t of await tables(ctx)) {
      const owner = roles.get(t.owner);
      if (!t.rls || t.forced || !owner || owner.superuser || owner.bypassrls) continue;
      if (ctx.settings.dbaRoles.includes(owner.name) || !(owner.canLogin || owner.reachedBy.length > 0)) continue;
      findings.push({
        object: t.table,
        message: `${t.table} is owned by ${t.owner}, ${owner.canLogin ? 'a login role' : `a role ${owner.reachedBy.join(', ')} can become`}, and does not force row-level security: its owner bypasses the policies`,
        evidence: { owner: t.owner, ownerCanLogin: owner.canLogin, ownerReachedBy: owner.reachedBy },
        fix: [{ sql: `alter table ${t.table} force row level security;`, safety: 'manual' }],
      });
    }
    return outcome(findings, { schemas });
  },
};

/**
 * The row-level security lints (family 'rls'): RLS-001 … RLS-011.
 *
 * @example
 * const report = await scanDatabase(conn, { checks: rlsChecks });
 */
export const rlsChecks: CheckDefinition[] = [
  rlsMissing,
  policyWithoutRls,
  rlsWithoutPolicy,
  ...rlsPolicyChecks,
  forceRls,
  rlsViewCheck,
];

import type { CheckDefinition, Finding } from '../types.js';
import { exposedRule, exposedSchemas, outcome } from './rls-scope.js';

interface ViewRow {
  view: string;
  owner: string;
  options: string[];
  /** Tables with row-level security the view reads, through any depth of views. */
  rlsTables: string[];
  grantees: string[];
}

// PostgreSQL's parse_bool: any prefix of true/yes, on, 1.
const isTrue = (v: string) => {
  const s = v.trim().toLowerCase();
  return (s.length > 0 && ('true'.startsWith(s) || 'yes'.startsWith(s))) || s === 'on' || s === '1';
};

/** Whether reloptions set security_invoker to a true value. */
const securityInvoker = (options: readonly string[]): boolean =>
  options.some((o) => {
    const [k, ...v] = o.split('=');
    return k?.trim().toLowerCase() === 'security_invoker' && isTrue(v.join('='));
  });

/**
 * RLS-010: views in exposed schemas run with their owner's rights unless security_invoker is set.
 *
 * @example
 * const checks = [rlsViewCheck]; // scanDatabase(conn, { checks })
 */
export const rlsViewCheck: CheckDefinition = {
  id: 'RLS-010',
  family: 'rls',
  section: 'Row-level security',
  title: 'Views in exposed schemas run with the caller’s rights (security_invoker)',
  severity: 'high',
  source: 'sql',
  cis: '4.7',
  references: [
    'splinter 0010_security_definer_view',
    'https://www.postgresql.org/docs/current/sql-createview.html',
    'ASVS 5.0 V8.2.2',
  ],
  rationale: `A view checks privileges and row-level security as its owner, not as the caller, unless it has security_invoker = true (PostgreSQL 15+). A view owned by a table owner or a superuser therefore shows every row of an RLS table to whoever may select from the view. High when the view reads a table with row-level security (through any depth of views), medium otherwise (it still lends its owner's table privileges). ${exposedRule}`,
  remediation:
    'ALTER VIEW … SET (security_invoker = true), then grant the callers what they need on the underlying tables (pgwarden rls apply does this for views listed in the policy file).',
  evaluate: async (ctx) => {
    if (ctx.server.major < 15)
      return { verdict: 'not_applicable', reason: 'security_invoker views need PostgreSQL 15' };
    const schemas = await exposedSchemas(ctx);
    const rows = await ctx.query<ViewRow>(
      'rls.views',
      `with recursive edges as (
         select distinct r.ev_class as v, d.refobjid as ref
           from pg_catalog.pg_rewrite r
           join pg_catalog.pg_depend d on d.classid = 'pg_catalog.pg_rewrite'::regclass and d.objid = r.oid
          where d.refclassid = 'pg_catalog.pg_class'::regclass and d.refobjid <> r.ev_class
       ), reach(v, ref) as (
         select v, ref from edges
         union
         select reach.v, edges.ref from reach join edges on edges.v = reach.ref
       ), protected as (
         -- Grouped once: a sub-select per view scanning all of reach was quadratic in the views.
         select reach.v, pg_catalog.array_agg(distinct pg_catalog.format('%I.%I', tn.nspname, t.relname)) as tables
           from reach join pg_catalog.pg_class t on t.oid = reach.ref
           join pg_catalog.pg_namespace tn on tn.oid = t.relnamespace
          where t.relkind in ('r', 'p') and t.relrowsecurity
          group by reach.v
       )
       select pg_catalog.format('%I.%I', n.nspname, v.relname) as view,
              pg_catalog.pg_get_userbyid(v.relowner)::text as owner,
              coalesce(v.reloptions, '{}')::text[] as options,
              coalesce(p.tables, '{}') as "rlsTables",
              array(select distinct case when a.grantee = 0 then 'PUBLIC' else pg_catalog.pg_get_userbyid(a.grantee)::text end
                      from pg_catalog.aclexplode(v.relacl) a where a.grantee <> v.relowner order by 1) as grantees
         from pg_catalog.pg_class v join pg_catalog.pg_namespace n on n.oid = v.relnamespace
         left join protected p on p.v = v.oid
        where v.relkind = 'v' and n.nspname = any($1::text[])
          and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_class'::regclass
                           and d.objid = v.oid and d.deptype = 'e')
        order by n.nspname, v.relname`,
      [schemas],
    );
    const findings: Finding[] = rows
      .filter((v) => !securityInvoker(v.options))
      .map((v): Finding => ({
        object: v.view,
        message:
          v.rlsTables.length > 0
            ? `${v.view} reads ${v.rlsTables.join(', ')} with the rights of its owner ${v.owner}, past their row-level security`
            : `${v.view} runs with the rights of its owner ${v.owner} (no security_invoker)`,
        evidence: { owner: v.owner, rlsTables: v.rlsTables, grantees: v.grantees, options: v.options },
        severity: v.rlsTables.length > 0 ? 'high' : 'medium',
        // Manual: callers then need privileges on the underlying tables, or the view stops working for them.
        fix: [{ sql: `alter view ${v.view} set (security_invoker = true);`, safety: 'manual' }],
      }));
    return outcome(findings, { exposedSchemas: schemas, views: rows.length });
  },
};

import type pg from 'pg';
import { managedPolicyPrefix } from './policy-sql.js';

// The catalog reads behind `rlsStatus`, one per concern. Each takes the schemas to look at and
// the request roles, and returns plain rows; status.ts turns them into findings.

/** Non-system schemas other than pgwarden's own. */
export async function defaultSchemas(client: pg.ClientBase, exclude: readonly string[]): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `select nspname as name from pg_catalog.pg_namespace
      where nspname <> all ($1::text[]) and nspname !~ '^pg_' and nspname <> 'information_schema'
      order by 1`,
    [exclude],
  );
  return rows.map((r) => r.name);
}

/** Roles the toolkit's policies are `TO`: request roles by construction. */
export async function managedPolicyRoles(client: pg.ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ role: string }>(
    `select distinct pg_catalog.pg_get_userbyid(r)::text as role
       from pg_catalog.pg_policy p cross join pg_catalog.unnest(p.polroles) r
      where pg_catalog.starts_with(p.polname, $1) and r <> 0 order by 1`,
    [managedPolicyPrefix],
  );
  return rows.map((r) => r.role);
}

export interface TableRow {
  oid: number;
  parent: string | null;
  parentRls: boolean | null;
  reachableBy: string[];
  widePrivileges: Array<{ role: string; privilege: string }>;
}

/** Tables and partitioned tables, with which request roles can reach them. */
export async function tableRows(
  client: pg.ClientBase,
  schemas: readonly string[],
  roles: readonly string[],
): Promise<TableRow[]> {
  const { rows } = await client.query<{
    oid: string;
    parent: string | null;
    parent_rls: boolean | null;
    reachable_by: string[];
    wide: Array<{ role: string; privilege: string }>;
  }>(
    `select c.oid::int8 as oid, par.display as parent, par.rls as parent_rls,
            array(select r.rolname::text from pg_catalog.pg_roles r
                   where r.rolname = any($2::text[])
                     and pg_catalog.has_schema_privilege(r.oid, n.oid, 'USAGE')
                     and (pg_catalog.has_any_column_privilege(r.oid, c.oid, 'SELECT, INSERT, UPDATE')
                          or pg_catalog.has_table_privilege(r.oid, c.oid, 'DELETE'))
                   order by 1) as reachable_by,
            coalesce((select pg_catalog.json_agg(pg_catalog.json_build_object('role', r.rolname, 'privilege', p.priv)
                                                 order by r.rolname, p.priv)
                        from pg_catalog.pg_roles r cross join pg_catalog.unnest(array['TRUNCATE', 'REFERENCES', 'TRIGGER']) p(priv)
                       where r.rolname = any($2::text[]) and pg_catalog.has_table_privilege(r.oid, c.oid, p.priv)), '[]') as wide
       from pg_catalog.pg_class c
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       left join lateral (
         select pg_catalog.format('%I.%I', pn.nspname, pc.relname) as display, pc.relrowsecurity as rls
           from pg_catalog.pg_inherits i
           join pg_catalog.pg_class pc on pc.oid = i.inhparent
           join pg_catalog.pg_namespace pn on pn.oid = pc.relnamespace
          where i.inhrelid = c.oid order by i.inhseqno limit 1) par on true
      where c.relkind in ('r', 'p') and n.nspname = any($1::text[])
      order by n.nspname, c.relname`,
    [schemas, roles],
  );
  return rows.map((r) => ({
    oid: Number(r.oid),
    parent: r.parent,
    parentRls: r.parent_rls,
    reachableBy: r.reachable_by,
    widePrivileges: r.wide,
  }));
}

export interface ViewRow {
  view: string;
  relkind: 'v' | 'm';
  reloptions: string[] | null;
  over: string[];
  reachableBy: string[];
}

/** Views and materialized views that reach a table with row-level security, through any depth of views. */
export async function viewRows(
  client: pg.ClientBase,
  schemas: readonly string[],
  roles: readonly string[],
): Promise<ViewRow[]> {
  const { rows } = await client.query<{
    view: string;
    relkind: 'v' | 'm';
    reloptions: string[] | null;
    over: string[];
    reachable_by: string[];
  }>(
    `with recursive edges as (
       select distinct r.ev_class as v, d.refobjid as ref
         from pg_catalog.pg_rewrite r
         join pg_catalog.pg_depend d on d.classid = 'pg_catalog.pg_rewrite'::regclass and d.objid = r.oid
        where d.refclassid = 'pg_catalog.pg_class'::regclass and d.refobjid <> r.ev_class
     ), reach(v, ref) as (
       select v, ref from edges
       union
       select reach.v, edges.ref from reach join edges on edges.v = reach.ref
     )
     select pg_catalog.format('%I.%I', n.nspname, v.relname) as view, v.relkind::text as relkind, v.reloptions,
            array_agg(distinct pg_catalog.format('%I.%I', tn.nspname, t.relname)) as over,
            array(select r.rolname::text from pg_catalog.pg_roles r
                   where r.rolname = any($2::text[]) and pg_catalog.has_schema_privilege(r.oid, n.oid, 'USAGE')
                     and pg_catalog.has_table_privilege(r.oid, v.oid, 'SELECT') order by 1) as reachable_by
       from reach
       join pg_catalog.pg_class v on v.oid = reach.v
       join pg_catalog.pg_namespace n on n.oid = v.relnamespace
       join pg_catalog.pg_class t on t.oid = reach.ref and t.relkind in ('r', 'p') and t.relrowsecurity
       join pg_catalog.pg_namespace tn on tn.oid = t.relnamespace
      where v.relkind in ('v', 'm') and n.nspname = any($1::text[])
      group by n.oid, n.nspname, v.oid, v.relname, v.relkind, v.reloptions
      order by 1`,
    [schemas, roles],
  );
  return rows.map((r) => ({
    view: r.view,
    relkind: r.relkind,
    reloptions: r.reloptions,
    over: r.over,
    reachableBy: r.reachable_by,
  }));
}

/** LEAKPROOF functions called by policies in the schemas, and LEAKPROOF functions in schema auth. */
export async function leakproofRows(
  client: pg.ClientBase,
  schemas: readonly string[],
): Promise<Array<{ fn: string; table: string | null; policy: string | null }>> {
  const { rows } = await client.query<{ fn: string; table: string | null; policy: string | null }>(
    `select distinct f.oid::regprocedure::text as fn, pg_catalog.format('%I.%I', n.nspname, c.relname) as table,
            p.polname::text as policy
       from pg_catalog.pg_policy p
       join pg_catalog.pg_class c on c.oid = p.polrelid
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       join pg_catalog.pg_depend d on d.classid = 'pg_catalog.pg_policy'::regclass and d.objid = p.oid
                                  and d.refclassid = 'pg_catalog.pg_proc'::regclass
       join pg_catalog.pg_proc f on f.oid = d.refobjid and f.proleakproof
      where n.nspname = any($1::text[])
     union all
     select f.oid::regprocedure::text, null, null
       from pg_catalog.pg_proc f join pg_catalog.pg_namespace fn on fn.oid = f.pronamespace
      where fn.nspname = 'auth' and f.proleakproof
      order by 1, 2, 3`,
    [schemas],
  );
  return rows;
}

// Tables with row-level security and at least one policy, and the columns their policies read.
const protectedTables = `
  protected as (
    select c.oid, pg_catalog.format('%I.%I', n.nspname, c.relname) as display,
           array(select distinct d.refobjsubid::int2
                   from pg_catalog.pg_policy p
                   join pg_catalog.pg_depend d on d.classid = 'pg_catalog.pg_policy'::regclass and d.objid = p.oid
                                              and d.refclassid = 'pg_catalog.pg_class'::regclass
                                              and d.refobjid = c.oid and d.refobjsubid > 0
                  where p.polrelid = c.oid) as policy_cols
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p') and c.relrowsecurity and not c.relispartition
       and n.nspname = any($1::text[])
       and exists (select 1 from pg_catalog.pg_policy p where p.polrelid = c.oid)
  )`;

/**
 * Unique indexes on protected tables that contain none of the columns the policies read: a
 * duplicate-key error tells one tenant that another tenant's value exists. Single-column random
 * surrogates (uuid) and generated keys (identity, sequence defaults) are left out.
 */
export async function uniqueOracleRows(
  client: pg.ClientBase,
  schemas: readonly string[],
): Promise<Array<{ table: string; index: string; columns: string[] }>> {
  const { rows } = await client.query<{ table: string; index: string; columns: string[] }>(
    `with ${protectedTables},
     keyed as (
       select pr.display, pr.policy_cols, ic.relname as index, c.oid as relid, i.indexprs is not null as has_exprs,
              (select array_agg(k order by o)::int2[] from pg_catalog.unnest(i.indkey) with ordinality u(k, o)
                where o <= i.indnkeyatts) as keys
         from protected pr
         join pg_catalog.pg_index i on i.indrelid = pr.oid and i.indisunique
         join pg_catalog.pg_class c on c.oid = pr.oid
         join pg_catalog.pg_class ic on ic.oid = i.indexrelid
     )
     select k.display as table, k.index::text as index,
            array(select coalesce(a.attname::text, '(expression)')
                    from pg_catalog.unnest(k.keys) with ordinality u(attnum, o)
                    left join pg_catalog.pg_attribute a on a.attrelid = k.relid and a.attnum = u.attnum
                   order by u.o) as columns
       from keyed k
      where not (k.keys && k.policy_cols)
        and not (pg_catalog.cardinality(k.keys) = 1 and not k.has_exprs and exists (
              select 1 from pg_catalog.pg_attribute a
                left join pg_catalog.pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
               where a.attrelid = k.relid and a.attnum = k.keys[1]
                 and (a.atttypid = 'pg_catalog.uuid'::regtype or a.attidentity <> ''
                      or pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) like 'nextval(%')))
      order by 1, 2`,
    [schemas],
  );
  return rows;
}

/**
 * Foreign keys that a request role can write, pointing at a protected table without a policy
 * column: the key check ignores row-level security, so a tenant can reference another tenant's
 * row and learn that it exists.
 */
export async function foreignKeyOracleRows(
  client: pg.ClientBase,
  schemas: readonly string[],
  roles: readonly string[],
): Promise<Array<{ table: string; constraint: string; references: string; columns: string[] }>> {
  const { rows } = await client.query<{ table: string; constraint: string; references: string; columns: string[] }>(
    `with ${protectedTables}
     select pg_catalog.format('%I.%I', sn.nspname, s.relname) as table, con.conname::text as constraint,
            pr.display as references,
            array(select a.attname::text from pg_catalog.unnest(con.conkey) with ordinality u(attnum, o)
                    join pg_catalog.pg_attribute a on a.attrelid = con.conrelid and a.attnum = u.attnum
                   order by u.o) as columns
       from pg_catalog.pg_constraint con
       join protected pr on pr.oid = con.confrelid
       join pg_catalog.pg_class s on s.oid = con.conrelid
       join pg_catalog.pg_namespace sn on sn.oid = s.relnamespace
      where con.contype = 'f' and con.conparentid = 0 and not (con.confkey && pr.policy_cols)
        and exists (select 1 from pg_catalog.pg_roles r
                     where r.rolname = any($2::text[])
                       and pg_catalog.has_any_column_privilege(r.oid, s.oid, 'INSERT, UPDATE'))
      order by 1, 2`,
    [schemas, roles],
  );
  return rows;
}

import type pg from 'pg';

/**
 * A normalised description of what pgwarden installed: its schemas' tables, columns, constraints,
 * indexes, functions, grants, owners and comments, plus the group roles. Role names have their
 * prefix replaced by `{prefix}` so snapshots compare across installs. Used to catch drift: the
 * test suite compares it to a committed snapshot, and `status` can compare a live database.
 *
 * @example
 * const snap = await schemaSnapshot(client, { schemas: ['pgwarden', 'logs'], rolePrefix: 'pgw_' });
 */
export async function schemaSnapshot(
  client: pg.ClientBase,
  options: { schemas: readonly string[]; rolePrefix: string },
): Promise<Record<string, unknown>> {
  const q = async (sql: string) => (await client.query(sql, [options.schemas])).rows;
  const snapshot = {
    schemas: await q(`select nspname as name, pg_catalog.pg_get_userbyid(nspowner) as owner, nspacl::text[] as acl,
                             pg_catalog.obj_description(oid, 'pg_namespace') as comment
                        from pg_catalog.pg_namespace where nspname = any($1::text[]) order by 1`),
    relations:
      await q(`select n.nspname || '.' || c.relname as name, c.relkind as kind, pg_catalog.pg_get_userbyid(c.relowner) as owner,
                               c.relacl::text[] as acl, c.relrowsecurity as rls, c.relforcerowsecurity as force_rls,
                               pg_catalog.obj_description(c.oid, 'pg_class') as comment
                          from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
                         where n.nspname = any($1::text[]) and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
                           and not exists (select 1 from pg_catalog.pg_depend d where d.objid = c.oid and d.deptype = 'e')
                         order by 1`),
    columns:
      await q(`select n.nspname || '.' || c.relname || '.' || a.attname as name, pg_catalog.format_type(a.atttypid, a.atttypmod) as type,
                             a.attnotnull as not_null, a.attidentity as identity, a.attgenerated as generated,
                             pg_catalog.pg_get_expr(d.adbin, d.adrelid) as default
                        from pg_catalog.pg_attribute a
                        join pg_catalog.pg_class c on c.oid = a.attrelid join pg_catalog.pg_namespace n on n.oid = c.relnamespace
                        left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
                       where n.nspname = any($1::text[]) and c.relkind in ('r', 'p', 'v', 'm') and a.attnum > 0 and not a.attisdropped
                         and not exists (select 1 from pg_catalog.pg_depend x where x.objid = c.oid and x.deptype = 'e')
                       order by n.nspname, c.relname, a.attnum`),
    constraints:
      await q(`select n.nspname || '.' || c.relname || '.' || k.conname as name, pg_catalog.pg_get_constraintdef(k.oid) as definition
                            from pg_catalog.pg_constraint k join pg_catalog.pg_class c on c.oid = k.conrelid
                            join pg_catalog.pg_namespace n on n.oid = c.relnamespace
                           where n.nspname = any($1::text[]) order by 1`),
    indexes: await q(`select schemaname || '.' || indexname as name, indexdef as definition from pg_catalog.pg_indexes
                       where schemaname = any($1::text[]) order by 1`),
    policies:
      await q(`select schemaname || '.' || tablename || '.' || policyname as name, permissive, roles::text[] as roles, cmd, qual, with_check
                         from pg_catalog.pg_policies where schemaname = any($1::text[]) order by 1`),
    triggers:
      await q(`select n.nspname || '.' || c.relname || '.' || t.tgname as name, pg_catalog.pg_get_triggerdef(t.oid) as definition, t.tgenabled as enabled
                         from pg_catalog.pg_trigger t join pg_catalog.pg_class c on c.oid = t.tgrelid join pg_catalog.pg_namespace n on n.oid = c.relnamespace
                        where n.nspname = any($1::text[]) and not t.tgisinternal order by 1`),
    functions:
      await q(`select p.oid::regprocedure::text as name, pg_catalog.pg_get_userbyid(p.proowner) as owner, p.proacl::text[] as acl,
                               p.prosecdef as security_definer, p.provolatile as volatility, p.proconfig as config,
                               pg_catalog.md5(p.prosrc) as body_md5, pg_catalog.pg_get_function_result(p.oid) as result
                          from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
                         where n.nspname = any($1::text[])
                           and not exists (select 1 from pg_catalog.pg_depend d where d.objid = p.oid and d.deptype = 'e')
                         order by 1`),
    roles: (
      await client.query(
        `select r.rolname as name, r.rolsuper as super, r.rolinherit as inherit, r.rolcreaterole as createrole, r.rolcanlogin as login,
              r.rolbypassrls as bypassrls,
              coalesce((select pg_catalog.array_agg(g.rolname order by g.rolname) from pg_catalog.pg_auth_members m
                          join pg_catalog.pg_roles g on g.oid = m.roleid where m.member = r.oid and g.rolname like $1), '{}') as member_of
         from pg_catalog.pg_roles r where r.rolname like $1 order by 1`,
        [`${options.rolePrefix.replaceAll('_', '\\_')}%`],
      )
    ).rows,
  };
  // Replace the prefix wherever a role name appears, so installs with other prefixes compare equal.
  const text = JSON.stringify(snapshot).replaceAll(options.rolePrefix, '{prefix}');
  return JSON.parse(text) as Record<string, unknown>;
}

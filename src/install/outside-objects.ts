import type pg from 'pg';

// What uninstall must never touch: every object outside pgwarden's schemas. A `drop … cascade`
// can reach them through dependencies (a column generated from a pgcrypto function pgwarden
// installed, a view over a pgwarden table), so uninstall compares this list before and after
// its drops, inside its transaction, and rolls back if anything outside changed.
const outsideObjectsSql = `
  with rels as (
    select c.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) as name
      from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where n.nspname <> all($1::text[]) and n.nspname !~ '^pg_' and n.nspname <> 'information_schema')
  select 'relation ' || r.name as object from rels r
  union all
  select 'column ' || r.name || '.' || pg_catalog.quote_ident(a.attname)
    from pg_catalog.pg_attribute a join rels r on r.oid = a.attrelid where a.attnum > 0 and not a.attisdropped
  union all
  select 'default of ' || r.name || ' column ' || d.adnum from pg_catalog.pg_attrdef d join rels r on r.oid = d.adrelid
  union all
  select 'constraint ' || k.conname || ' on ' || coalesce(k.conrelid::regclass::text, k.contypid::regtype::text)
    from pg_catalog.pg_constraint k join pg_catalog.pg_namespace n on n.oid = k.connamespace
   where n.nspname <> all($1::text[]) and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
  union all
  select 'trigger ' || t.tgname || ' on ' || r.name from pg_catalog.pg_trigger t join rels r on r.oid = t.tgrelid where not t.tgisinternal
  union all
  select 'policy ' || p.polname || ' on ' || r.name from pg_catalog.pg_policy p join rels r on r.oid = p.polrelid
  union all
  select 'rule ' || w.rulename || ' on ' || r.name from pg_catalog.pg_rewrite w join rels r on r.oid = w.ev_class
  union all
  select 'function ' || p.oid::regprocedure::text from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
   where n.nspname <> all($1::text[]) and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
  union all
  select 'type ' || t.oid::regtype::text from pg_catalog.pg_type t join pg_catalog.pg_namespace n on n.oid = t.typnamespace
   where n.nspname <> all($1::text[]) and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
  union all
  select 'extension ' || e.extname from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace
   where n.nspname <> all($1::text[])
`;

/** Every object outside `schemas`, as sortable text, for a before/after comparison. */
export async function outsideObjects(client: pg.ClientBase, schemas: readonly string[]): Promise<Set<string>> {
  const { rows } = await client.query<{ object: string }>(outsideObjectsSql, [schemas]);
  return new Set(rows.map((r) => r.object));
}

/** What `before` had that `after` lacks, and what appeared. */
export function objectChanges(before: Set<string>, after: Set<string>): string[] {
  const lost = [...before].filter((o) => !after.has(o)).map((o) => `would remove ${o}`);
  const added = [...after].filter((o) => !before.has(o)).map((o) => `would change ${o}`);
  return [...lost, ...added].sort();
}

/**
 * Objects inside pgwarden's schemas that pgwarden did not create: not owned by the owner role and
 * not members of an extension. A `drop schema … cascade` would take them, so uninstall refuses.
 */
export async function foreignObjectsIn(
  client: pg.ClientBase,
  schemas: readonly string[],
  owner: string,
  keep: readonly string[],
): Promise<string[]> {
  const { rows } = await client.query<{ object: string }>(
    `select n.nspname || '.' || c.relname as object
       from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = any($1::text[]) and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
        and pg_catalog.pg_get_userbyid(c.relowner) <> $2
        and not (n.nspname || '.' || c.relname = any($3::text[]))
        and not exists (select 1 from pg_catalog.pg_depend d where d.objid = c.oid and d.deptype in ('e', 'a', 'i'))
     union all
     select p.oid::regprocedure::text
       from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
      where n.nspname = any($1::text[]) and pg_catalog.pg_get_userbyid(p.proowner) <> $2
        and not exists (select 1 from pg_catalog.pg_depend d where d.objid = p.oid and d.deptype = 'e')
     order by 1`,
    [schemas, owner, keep],
  );
  return rows.map((r) => r.object);
}

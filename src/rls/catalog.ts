import type pg from 'pg';
import { ErrorCodes, PgwardenError } from '../errors/index.js';

/** How a column is compared with the text an identity helper returns. */
export type Comparison = 'text' | 'uuid' | 'smallint' | 'integer' | 'bigint';

// Base type oid → comparison. varchar compares as text (no cast: a cast to varchar(n) would
// truncate a long tenant id into another tenant's). character(n) is left out on purpose: its
// blank padding makes 'a' equal 'a ' and defeats the index.
const comparisons = new Map<number, Comparison>([
  [25, 'text'],
  [1043, 'text'],
  [2950, 'uuid'],
  [21, 'smallint'],
  [23, 'integer'],
  [20, 'bigint'],
]);

/** A policy as the catalog holds it; expressions as PostgreSQL deparses them. */
export interface PolicyFacts {
  name: string;
  /** The name as SQL (quoted by PostgreSQL's quote_ident where needed). */
  ident: string;
  command: 'select' | 'insert' | 'update' | 'delete' | 'all';
  permissive: boolean;
  /** Role names, `public` for PUBLIC, sorted. */
  roles: string[];
  using: string | null;
  check: string | null;
}

/** One table (or partition, or inheritance child) and its row-level security state. */
export interface RelationFacts {
  oid: number;
  schema: string;
  name: string;
  /** `schema.name`, quoted where needed: safe to splice into SQL. */
  display: string;
  relkind: string;
  isPartition: boolean;
  owner: string;
  /** The owner is a superuser or has BYPASSRLS: FORCE does not bind it. */
  ownerBypassesRls: boolean;
  rlsEnabled: boolean;
  rlsForced: boolean;
  policies: PolicyFacts[];
  /** Direct grants (`PUBLIC` for the public pseudo-role); empty when the table has default privileges. */
  acl: Array<{ grantee: string; privilege: string }>;
}

export interface ColumnFacts {
  name: string;
  /** The name as SQL (quoted by PostgreSQL's quote_ident where needed). */
  ident: string;
  attnum: number;
  /** The declared type, as `format_type` shows it. */
  type: string;
  /** undefined when the type cannot be compared with the identity helpers. */
  comparison: Comparison | undefined;
}

/** What the planner needs about a table to protect. */
export interface TableFacts {
  relation: RelationFacts;
  /** Partitions and inheritance children at every level: each is queryable directly. */
  descendants: RelationFacts[];
  columns: ColumnFacts[];
  /** attnums that lead a valid, non-partial btree index. */
  indexLeaders: number[];
}

/** A role named as a policy target. */
export interface RoleFacts {
  name: string;
  /** The name as SQL (quoted by PostgreSQL's quote_ident where needed). */
  ident: string;
  exists: boolean;
  superuser: boolean;
  bypassRls: boolean;
  canLogin: boolean;
  /** USAGE on schema auth: without it every policy calling the helpers fails for this role. */
  authUsage: boolean;
}

/** Resolves a relation name to its oid and kind; undefined when it does not exist. */
export async function resolveRelation(
  client: pg.ClientBase,
  name: string,
): Promise<{ oid: number; relkind: string; isPartition: boolean; display: string } | undefined> {
  let rows: Array<{ oid: string; relkind: string; is_partition: boolean; display: string }>;
  try {
    ({ rows } = await client.query(
      `select c.oid::int8 as oid, c.relkind::text as relkind, c.relispartition as is_partition,
              pg_catalog.format('%I.%I', n.nspname, c.relname) as display
         from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where c.oid = pg_catalog.to_regclass($1)`,
      [name],
    ));
  } catch {
    // to_regclass raises on a syntactically impossible name ("a.b.c.d"): that names nothing.
    return undefined;
  }
  const row = rows[0];
  return row && { oid: Number(row.oid), relkind: row.relkind, isPartition: row.is_partition, display: row.display };
}

/** Reads the row-level security state of relations by oid, in the order given. */
export async function readRelations(client: pg.ClientBase, oids: readonly number[]): Promise<RelationFacts[]> {
  if (oids.length === 0) return [];
  const { rows } = await client.query<{
    oid: string;
    schema: string;
    name: string;
    display: string;
    relkind: string;
    is_partition: boolean;
    owner: string;
    owner_bypasses: boolean;
    rls_enabled: boolean;
    rls_forced: boolean;
    policies: Array<Omit<PolicyFacts, 'command'> & { command: string }>;
    acl: RelationFacts['acl'];
  }>(
    `select c.oid::int8 as oid, n.nspname as schema, c.relname as name,
            pg_catalog.format('%I.%I', n.nspname, c.relname) as display,
            c.relkind::text as relkind, c.relispartition as is_partition,
            o.rolname as owner, (o.rolsuper or o.rolbypassrls) as owner_bypasses,
            c.relrowsecurity as rls_enabled, c.relforcerowsecurity as rls_forced,
            coalesce((select pg_catalog.json_agg(pg_catalog.json_build_object(
                        'name', p.polname, 'ident', pg_catalog.quote_ident(p.polname),
                        'command', p.polcmd::text, 'permissive', p.polpermissive,
                        'roles', (select coalesce(pg_catalog.json_agg(
                                    case when r = 0 then 'public' else pg_catalog.pg_get_userbyid(r)::text end
                                    order by 1), '[]')
                                    from pg_catalog.unnest(p.polroles) r),
                        'using', pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                        'check', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)) order by p.polname)
                        from pg_catalog.pg_policy p where p.polrelid = c.oid), '[]') as policies,
            coalesce((select pg_catalog.json_agg(pg_catalog.json_build_object(
                        'grantee', case when a.grantee = 0 then 'PUBLIC' else pg_catalog.pg_get_userbyid(a.grantee)::text end,
                        'privilege', a.privilege_type))
                        from pg_catalog.aclexplode(c.relacl) a), '[]') as acl
       from pg_catalog.pg_class c
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       join pg_catalog.pg_roles o on o.oid = c.relowner
      where c.oid = any($1::oid[])`,
    [oids],
  );
  const byOid = new Map(
    rows.map((r) => [
      Number(r.oid),
      {
        oid: Number(r.oid),
        schema: r.schema,
        name: r.name,
        display: r.display,
        relkind: r.relkind,
        isPartition: r.is_partition,
        owner: r.owner,
        ownerBypassesRls: r.owner_bypasses,
        rlsEnabled: r.rls_enabled,
        rlsForced: r.rls_forced,
        policies: r.policies.map((p) => ({ ...p, command: policyCommand(p.command) })),
        acl: r.acl,
      } satisfies RelationFacts,
    ]),
  );
  return oids.flatMap((oid) => byOid.get(oid) ?? []);
}

/** pg_policy.polcmd → command name. */
function policyCommand(polcmd: string): PolicyFacts['command'] {
  const map: Record<string, PolicyFacts['command']> = { r: 'select', a: 'insert', w: 'update', d: 'delete' };
  return map[polcmd] ?? 'all';
}

/**
 * Everything about one table to protect. Refuses (with stable codes) what cannot be protected:
 * no such table (PW350), not a table (PW355), a partition rather than its parent (PW354).
 */
export async function readTableFacts(client: pg.ClientBase, name: string): Promise<TableFacts> {
  const found = await resolveRelation(client, name);
  if (!found) {
    throw new PgwardenError(ErrorCodes.RLS_UNKNOWN_TABLE, `no table ${name}`, {
      hint: 'name it as schema.table; check the spelling and that the connected role can see it',
    });
  }
  if (found.relkind !== 'r' && found.relkind !== 'p') {
    const kinds: Record<string, string> = {
      v: 'a view',
      m: 'a materialized view',
      f: 'a foreign table',
      S: 'a sequence',
      c: 'a composite type',
      i: 'an index',
      I: 'an index',
      t: 'a TOAST table',
    };
    throw new PgwardenError(
      ErrorCodes.RLS_NOT_A_TABLE,
      `${found.display} is ${kinds[found.relkind] ?? 'not a table'}`,
      {
        hint:
          found.relkind === 'v'
            ? 'views cannot have policies: protect the tables under it, then `pgwarden rls protect-view` it'
            : 'row-level security applies to tables and partitioned tables only',
      },
    );
  }
  if (found.isPartition) {
    const { rows } = await client.query<{ parent: string }>(
      `select pg_catalog.format('%I.%I', n.nspname, c.relname) as parent
         from pg_catalog.pg_partition_ancestors($1::oid) a(relid)
         join pg_catalog.pg_class c on c.oid = a.relid join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        where not c.relispartition`,
      [found.oid],
    );
    throw new PgwardenError(ErrorCodes.RLS_PARTITION_CHILD, `${found.display} is a partition of ${rows[0]?.parent}`, {
      hint: `protect ${rows[0]?.parent} instead: its policies are copied to every partition, which can be queried directly`,
    });
  }
  const { rows: kids } = await client.query<{ oid: string }>(
    `with recursive tree(oid, depth) as (
       select i.inhrelid, 1 from pg_catalog.pg_inherits i where i.inhparent = $1::oid
       union all
       select i.inhrelid, t.depth + 1 from pg_catalog.pg_inherits i join tree t on i.inhparent = t.oid where t.depth < 32
     )
     select distinct oid::int8 as oid from tree order by 1`,
    [found.oid],
  );
  const [relation, ...descendants] = await readRelations(client, [found.oid, ...kids.map((k) => Number(k.oid))]);
  const { rows: columns } = await client.query<{
    name: string;
    ident: string;
    attnum: number;
    type: string;
    base: string;
  }>(
    `select a.attname as name, pg_catalog.quote_ident(a.attname) as ident, a.attnum::int as attnum, pg_catalog.format_type(a.atttypid, a.atttypmod) as type,
            (with recursive d(oid, base, depth) as (
               select t.oid, t.typbasetype, 0 from pg_catalog.pg_type t where t.oid = a.atttypid
               union all
               select t.oid, t.typbasetype, d.depth + 1 from d join pg_catalog.pg_type t on t.oid = d.base
                where d.base <> 0 and d.depth < 16)
             select d.oid from d where d.base = 0 limit 1)::int8 as base
       from pg_catalog.pg_attribute a
      where a.attrelid = $1::oid and a.attnum > 0 and not a.attisdropped
      order by a.attnum`,
    [found.oid],
  );
  const { rows: leaders } = await client.query<{ attnum: number }>(
    `select distinct i.indkey[0]::int as attnum
       from pg_catalog.pg_index i
       join pg_catalog.pg_class ic on ic.oid = i.indexrelid
       join pg_catalog.pg_am am on am.oid = ic.relam
      where i.indrelid = $1::oid and i.indpred is null and i.indisvalid and am.amname = 'btree'`,
    [found.oid],
  );
  return {
    relation: relation!,
    descendants,
    columns: columns.map((c) => ({
      name: c.name,
      ident: c.ident,
      attnum: c.attnum,
      type: c.type,
      comparison: comparisons.get(Number(c.base)),
    })),
    indexLeaders: leaders.map((l) => l.attnum),
  };
}

/** Reads the roles a policy is `TO`. */
export async function readRoles(client: pg.ClientBase, names: readonly string[]): Promise<RoleFacts[]> {
  const { rows } = await client.query<{
    name: string;
    ident: string;
    exists: boolean;
    superuser: boolean;
    bypass: boolean;
    login: boolean;
    auth_usage: boolean;
  }>(
    `select n.name, pg_catalog.quote_ident(n.name) as ident, r.oid is not null as exists, coalesce(r.rolsuper, false) as superuser,
            coalesce(r.rolbypassrls, false) as bypass, coalesce(r.rolcanlogin, false) as login,
            r.oid is not null and pg_catalog.to_regnamespace('auth') is not null
              and pg_catalog.has_schema_privilege(r.oid, 'auth', 'USAGE') as auth_usage
       from pg_catalog.unnest($1::text[]) with ordinality n(name, ord)
       left join pg_catalog.pg_roles r on r.rolname = n.name
      order by n.ord`,
    [names],
  );
  return rows.map((r) => ({
    name: r.name,
    ident: r.ident,
    exists: r.exists,
    superuser: r.superuser,
    bypassRls: r.bypass,
    canLogin: r.login,
    authUsage: r.auth_usage,
  }));
}

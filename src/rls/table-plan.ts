import type pg from 'pg';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import type { ColumnFacts, Comparison, RelationFacts, TableFacts } from './catalog.js';
import {
  createPolicySql,
  type DesiredPolicy,
  desiredPolicies,
  dropPolicySql,
  indexName,
  isManagedPolicy,
} from './policy-sql.js';
import type { RlsStep, RlsStepKind } from './plan.js';
import { type RlsCommand, specError, type TableSpec } from './table-spec.js';

// Planning one table: its policies, RLS flags, index, privileges, and those of its partitions.

/** The request roles of a table and how to write a role name as SQL. */
export interface PlanRoles {
  requestRoles: string[];
  roleIdent: (name: string) => string;
  /** pgwarden's owner role: its tables are reached only through pgwarden's functions. */
  pgwardenOwner: string;
}

// Privileges that row-level security does not govern: TRUNCATE empties every tenant's rows,
// REFERENCES lets a foreign key probe hidden keys, TRIGGER runs code on other tenants' rows.
const tableWidePrivileges = ['TRUNCATE', 'REFERENCES', 'TRIGGER'] as const;

/** Looks a column up for a role in the policies; PW351 when missing, PW352 when not comparable. */
function comparableColumn(
  facts: { relation: RelationFacts; columns: ColumnFacts[] },
  name: string,
  role: 'tenant' | 'owner',
): ColumnFacts & { comparison: Comparison } {
  const column = facts.columns.find((c) => c.name === name);
  if (!column) {
    throw new PgwardenError(ErrorCodes.RLS_UNKNOWN_COLUMN, `${facts.relation.display} has no column ${name}`, {
      detail: `columns: ${facts.columns.map((c) => c.name).join(', ')}`,
      hint: `name the ${role} column exactly as the table spells it`,
    });
  }
  if (!column.comparison) {
    throw new PgwardenError(
      ErrorCodes.RLS_COLUMN_TYPE,
      `${facts.relation.display} column ${name} is ${column.type}, which the ${role} check cannot compare`,
      { hint: 'a tenant or owner column is text, varchar, uuid, smallint, integer or bigint (or a domain over one)' },
    );
  }
  return column as ColumnFacts & { comparison: Comparison };
}

/** Refuses a table a request role or pgwarden owns; warns when its owner is beyond FORCE. */
function checkOwners(rels: readonly RelationFacts[], roles: PlanRoles, warnings: string[]): void {
  const { requestRoles, pgwardenOwner } = roles;
  for (const rel of rels) {
    if (rel.owner === pgwardenOwner) {
      throw new PgwardenError(ErrorCodes.RLS_UNSAFE_OWNER, `${rel.display} is one of pgwarden's own tables`, {
        detail: `it belongs to ${pgwardenOwner}; FORCE would hide its rows from pgwarden's own functions`,
        hint: 'protect your application tables; pgwarden reaches its own only through its functions',
      });
    }
    if (requestRoles.includes(rel.owner)) {
      throw new PgwardenError(ErrorCodes.RLS_UNSAFE_OWNER, `${rel.display} is owned by the request role ${rel.owner}`, {
        detail: 'an owner can disable row-level security, drop the policies and truncate the table',
        hint: `change the owner first: alter table ${rel.display} owner to <a NOLOGIN owner role>`,
      });
    }
    if (rel.ownerBypassesRls) {
      warnings.push(
        `${rel.display} is owned by ${rel.owner}, a superuser or BYPASSRLS role: FORCE does not bind it, so that owner sees every row`,
      );
    }
  }
}

/**
 * The steps for one table and its partitions or inheritance children (each can be queried
 * directly, so each gets RLS, FORCE and the same policies). Warnings are appended to `warnings`.
 */
export async function planTable(
  client: pg.ClientBase,
  facts: TableFacts,
  spec: TableSpec,
  roles: PlanRoles,
  warnings: string[],
): Promise<RlsStep[]> {
  const { relation } = facts;
  const rels = [relation, ...facts.descendants];
  checkOwners(rels, roles, warnings);
  const tenant = comparableColumn(facts, spec.tenantColumn, 'tenant');
  const owner = spec.ownerColumn ? comparableColumn(facts, spec.ownerColumn, 'owner') : undefined;
  if (owner && owner.name === tenant.name) {
    throw specError([`${spec.table}: the owner column cannot be the tenant column`], 'the options');
  }
  const desired = desiredPolicies(spec, { tenant, owner }, roles.roleIdent);
  const canonical = await deparse(client, relation.display, desired);
  const steps = rels.flatMap((rel) => planRelation(rel, desired, canonical, roles, warnings));

  if (!facts.indexLeaders.includes(tenant.attnum)) {
    const cols = [tenant, ...(owner ? [owner] : [])];
    const name = await freeIndexName(
      client,
      relation,
      indexName(
        relation.name,
        cols.map((c) => c.name),
      ),
    );
    steps.push({
      kind: 'create-index',
      object: relation.display,
      summary: `create index ${name.name} (${cols.map((c) => c.name).join(', ')})`,
      sql: `create index ${name.ident} on ${relation.display} (${cols.map((c) => c.ident).join(', ')});`,
    });
  }
  steps.push(...(await planGrants(client, relation, spec, roles.roleIdent)));
  await warnIndirectPrivileges(client, rels, roles.requestRoles, warnings);
  return steps;
}

/** RLS flags, pgwarden's policies and table-wide privileges of one relation. */
function planRelation(
  rel: RelationFacts,
  desired: readonly DesiredPolicy[],
  canonical: ReadonlyMap<string, { using: string | undefined; check: string | undefined }>,
  { requestRoles, roleIdent }: PlanRoles,
  warnings: string[],
): RlsStep[] {
  const steps: RlsStep[] = [];
  const step = (kind: RlsStepKind, summary: string, sql: string) =>
    steps.push({ kind, object: rel.display, summary, sql });
  if (!rel.rlsEnabled)
    step('enable-rls', 'enable row level security', `alter table ${rel.display} enable row level security;`);
  if (!rel.rlsForced) {
    step(
      'force-rls',
      'force row level security (the owner too)',
      `alter table ${rel.display} force row level security;`,
    );
  }
  const wanted = new Set(desired.map((p) => p.name));
  for (const existing of rel.policies) {
    if (isManagedPolicy(existing.name) && !wanted.has(existing.name)) {
      step(
        'drop-policy',
        `drop policy ${existing.name} (not in pgwarden's current set)`,
        dropPolicySql(rel.display, existing.ident),
      );
    } else if (!isManagedPolicy(existing.name) && existing.permissive) {
      if (existing.roles.some((r) => r === 'public' || requestRoles.includes(r))) {
        warnings.push(
          `${rel.display} has permissive policy ${existing.ident} (${existing.command}, not pgwarden's) for ${existing.roles.join(', ')}: permissive policies are OR'd with pgwarden's and can widen access`,
        );
      }
    }
  }
  for (const policy of desired) {
    const existing = rel.policies.find((p) => p.name === policy.name);
    if (!existing) {
      step('create-policy', `create policy ${policy.name} (${policy.command})`, createPolicySql(rel.display, policy));
      continue;
    }
    const want = canonical.get(policy.name);
    const differs = [
      existing.command !== policy.command && 'command',
      !existing.permissive && 'permissive',
      [...existing.roles].sort().join(',') !== policy.roles.join(',') && 'roles',
      (existing.using ?? undefined) !== want?.using && 'using',
      (existing.check ?? undefined) !== want?.check && 'with check',
    ].filter(Boolean);
    if (differs.length) {
      step(
        'replace-policy',
        `replace policy ${policy.name} (${differs.join(', ')} differ)`,
        `${dropPolicySql(rel.display, existing.ident)}\n${createPolicySql(rel.display, policy)}`,
      );
    }
  }
  const revoke = revokeFrom(rel, requestRoles);
  if (revoke.length) {
    const grantees = revoke.map((g) => (g === 'PUBLIC' ? 'public' : roleIdent(g))).join(', ');
    step(
      'revoke',
      `revoke truncate, references, trigger from ${revoke.join(', ')}`,
      `revoke truncate, references, trigger on table ${rel.display} from ${grantees};`,
    );
  }
  return steps;
}

/** Request roles (and PUBLIC) holding a table-wide privilege on the relation directly. */
function revokeFrom(rel: RelationFacts, requestRoles: readonly string[]): string[] {
  const holders = rel.acl
    .filter((a) => (tableWidePrivileges as readonly string[]).includes(a.privilege))
    .map((a) => a.grantee)
    .filter((g) => g === 'PUBLIC' || requestRoles.includes(g));
  return [...new Set(holders)].sort();
}

/** Warns when a request role still gets a table-wide privilege through a role it inherits from. */
async function warnIndirectPrivileges(
  client: pg.ClientBase,
  rels: readonly RelationFacts[],
  requestRoles: readonly string[],
  warnings: string[],
): Promise<void> {
  const { rows } = await client.query<{ rel: string; role: string; privilege: string }>(
    `select pg_catalog.format('%I.%I', n.nspname, c.relname) as rel, r.rolname as role, p.privilege
       from pg_catalog.pg_class c
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       cross join pg_catalog.pg_roles r
       cross join pg_catalog.unnest($3::text[]) p(privilege)
      where c.oid = any($1::oid[]) and r.rolname = any($2::text[])
        and pg_catalog.has_table_privilege(r.oid, c.oid, p.privilege)
        and not exists (select 1 from pg_catalog.aclexplode(c.relacl) a
                         where a.privilege_type = p.privilege and a.grantee in (0, r.oid))`,
    [rels.map((r) => r.oid), requestRoles, tableWidePrivileges],
  );
  for (const row of rows) {
    warnings.push(
      `${row.role} holds ${row.privilege} on ${row.rel} through a role it inherits; revoke it there (row-level security does not govern ${row.privilege})`,
    );
  }
}

/** Grants the spec asks for that are missing: table privileges and USAGE on the schema. */
async function planGrants(
  client: pg.ClientBase,
  relation: RelationFacts,
  spec: TableSpec,
  roleIdent: (name: string) => string,
): Promise<RlsStep[]> {
  if (spec.grant.length === 0) return [];
  const steps: RlsStep[] = [];
  const { rows } = await client.query<{ role: string; usage: boolean; schema: string }>(
    `select r.rolname as role, pg_catalog.quote_ident(n.nspname) as schema,
            pg_catalog.has_schema_privilege(r.oid, n.oid, 'USAGE') as usage
       from pg_catalog.pg_roles r
       cross join pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where r.rolname = any($2::text[]) and c.oid = $1::oid
      order by 1`,
    [relation.oid, spec.roles],
  );
  for (const { role, usage, schema } of rows) {
    if (!usage) {
      steps.push({
        kind: 'grant',
        object: relation.display,
        summary: `grant usage on schema ${relation.schema} to ${role}`,
        sql: `grant usage on schema ${schema} to ${roleIdent(role)};`,
      });
    }
    const held = new Set(relation.acl.filter((a) => a.grantee === role).map((a) => a.privilege.toLowerCase()));
    const missing = spec.grant.filter((c: RlsCommand) => !held.has(c));
    if (missing.length) {
      steps.push({
        kind: 'grant',
        object: relation.display,
        summary: `grant ${missing.join(', ')} to ${role}`,
        sql: `grant ${missing.join(', ')} on table ${relation.display} to ${roleIdent(role)};`,
      });
    }
  }
  return steps;
}

/** An index name not yet taken in the table's schema, and its SQL form. */
async function freeIndexName(
  client: pg.ClientBase,
  relation: RelationFacts,
  wanted: string,
): Promise<{ name: string; ident: string }> {
  for (let i = 0; ; i++) {
    const name = i === 0 ? wanted : `${wanted.slice(0, 63 - String(i).length)}${i}`;
    const { rows } = await client.query<{ taken: boolean; ident: string }>(
      `select exists (select 1 from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
                       where n.nspname = $1 and c.relname = $2) as taken, pg_catalog.quote_ident($2) as ident`,
      [relation.schema, name],
    );
    if (!rows[0]?.taken) return { name, ident: rows[0]!.ident };
  }
}

/**
 * The policies' expressions as PostgreSQL deparses them: created on a temporary copy of the
 * table's columns inside a savepoint that is rolled back. Comparing deparsed text with deparsed
 * text makes the plan exact on every server version, without locking the real table.
 */
async function deparse(
  client: pg.ClientBase,
  table: string,
  policies: readonly DesiredPolicy[],
): Promise<Map<string, { using: string | undefined; check: string | undefined }>> {
  await client.query('savepoint pgw_rls_probe');
  try {
    await client.query(`create temporary table pgw_rls_probe (like ${table})`);
    for (const p of policies) await client.query(createPolicySql('pg_temp.pgw_rls_probe', p));
    const { rows } = await client.query<{ name: string; using: string | null; check: string | null }>(
      `select polname as name, pg_catalog.pg_get_expr(polqual, polrelid) as using,
              pg_catalog.pg_get_expr(polwithcheck, polrelid) as check
         from pg_catalog.pg_policy where polrelid = 'pg_temp.pgw_rls_probe'::regclass`,
    );
    return new Map(rows.map((r) => [r.name, { using: r.using ?? undefined, check: r.check ?? undefined }]));
  } finally {
    await client.query('rollback to savepoint pgw_rls_probe');
    await client.query('release savepoint pgw_rls_probe');
  }
}

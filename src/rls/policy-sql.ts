import { quoteIdent, quoteLiteral } from '../db/index.js';
import type { ColumnFacts, Comparison } from './catalog.js';
import { type RlsCommand, rlsCommands, type TableSpec } from './table-spec.js';

/**
 * Every policy the toolkit creates is named `pgw_tenant_<command>`. The toolkit only ever
 * replaces or drops policies with this prefix, so policies written by hand stay untouched.
 */
export const managedPolicyPrefix = 'pgw_tenant_';

/** The stable name of the toolkit's policy for a command. */
export function policyName(command: RlsCommand): string {
  // A constant, lowercase and not a keyword: valid SQL as it is.
  return `${managedPolicyPrefix}${command}`;
}

/** Whether a policy name is one the toolkit owns. */
export function isManagedPolicy(name: string): boolean {
  return name.startsWith(managedPolicyPrefix);
}

/** One policy the toolkit wants on a table. Expressions are SQL text as the toolkit writes them. */
export interface DesiredPolicy {
  name: string;
  command: RlsCommand;
  /** Role names, sorted. */
  roles: string[];
  /** The same roles as SQL identifiers. */
  roleIdents: string[];
  using: string | undefined;
  check: string | undefined;
}

// The helpers return text; the cast goes outside the sub-select so the comparison stays
// `column = $initplan` and the index on the column is used. A value that does not parse as the
// column's type raises 22P02: the statement fails closed.
const casts: Record<Comparison, string> = {
  text: '',
  uuid: '::uuid',
  smallint: '::smallint',
  integer: '::integer',
  bigint: '::bigint',
};

/**
 * `column = (select auth.tenant_id())::type`: wrapped in a sub-select so PostgreSQL evaluates the
 * helper once per statement (an InitPlan), not once per row.
 */
export function tenantPredicate(column: ColumnFacts & { comparison: Comparison }): string {
  return `${column.ident} = (select auth.tenant_id())${casts[column.comparison]}`;
}

/** `column = (select auth.uid())` for uuid owners, else the subject cast to the column's type. */
export function ownerPredicate(column: ColumnFacts & { comparison: Comparison }): string {
  if (column.comparison === 'uuid') return `${column.ident} = (select auth.uid())`;
  return `${column.ident} = (select auth.sub())${casts[column.comparison]}`;
}

/** `(select auth.has_permission('name'))`; NULL without a context, so it denies. */
export function permissionPredicate(permission: string): string {
  return `(select auth.has_permission(${quoteLiteral(permission)}))`;
}

/**
 * The four policies for a table: SELECT and DELETE check the row (USING), INSERT checks the new
 * row (WITH CHECK), UPDATE checks both, so a row can neither be reached in nor moved to another
 * tenant.
 *
 * `roleIdent` turns a role name into SQL; pass PostgreSQL's own quoting (`quote_ident`) when you
 * have it, the default quotes every name.
 *
 * @example
 * const tenant = { name: 'tenant_id', ident: 'tenant_id', attnum: 2, type: 'uuid', comparison: 'uuid' } as const;
 * desiredPolicies(spec, { tenant })[0]!.using;
 * // "tenant_id = (select auth.tenant_id())::uuid"
 */
export function desiredPolicies(
  spec: TableSpec,
  columns: {
    tenant: ColumnFacts & { comparison: Comparison };
    owner?: (ColumnFacts & { comparison: Comparison }) | undefined;
  },
  roleIdent: (name: string) => string = quoteIdent,
): DesiredPolicy[] {
  const roles = [...spec.roles].sort();
  const base = [tenantPredicate(columns.tenant), ...(columns.owner ? [ownerPredicate(columns.owner)] : [])];
  return rlsCommands.map((command) => {
    const permission = spec.permissions[command];
    const expr = [...base, ...(permission ? [permissionPredicate(permission)] : [])].join(' and ');
    return {
      name: policyName(command),
      command,
      roles,
      roleIdents: roles.map(roleIdent),
      using: command === 'insert' ? undefined : expr,
      check: command === 'insert' || command === 'update' ? expr : undefined,
    };
  });
}

/** The CREATE POLICY statement for one policy on a relation (`table` already quoted). */
export function createPolicySql(table: string, policy: DesiredPolicy): string {
  const parts = [
    `create policy ${policy.name} on ${table} as permissive for ${policy.command}`,
    `  to ${policy.roleIdents.join(', ')}`,
  ];
  if (policy.using !== undefined) parts.push(`  using (${policy.using})`);
  if (policy.check !== undefined) parts.push(`  with check (${policy.check})`);
  return `${parts.join('\n')};`;
}

/** DROP POLICY for a policy on a relation (`table` and `ident` already SQL). */
export function dropPolicySql(table: string, ident: string): string {
  return `drop policy ${ident} on ${table};`;
}

/** An index name for the predicate columns that fits PostgreSQL's 63-byte limit. */
export function indexName(table: string, columns: readonly string[]): string {
  const suffix = '_pgw_rls_idx';
  let base = `${table}_${columns.join('_')}`;
  while (Buffer.byteLength(base + suffix) > 63) base = base.slice(0, -1);
  return base + suffix;
}

import { z } from 'zod';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { roleNames } from '../install/index.js';

/** The four commands a table gets one policy each for. */
export const rlsCommands = ['select', 'insert', 'update', 'delete'] as const;
export type RlsCommand = (typeof rlsCommands)[number];

/**
 * Permissions the policies require on top of the tenant match: one name for every command,
 * `read` (select) / `write` (insert, update, delete), or one per command. A per-command entry wins
 * over `read`/`write`.
 */
export type PermissionOption =
  | string
  | {
      read?: string | undefined;
      write?: string | undefined;
      select?: string | undefined;
      insert?: string | undefined;
      update?: string | undefined;
      delete?: string | undefined;
    };

/**
 * What `pgwarden rls protect` and each entry of the policy file say about one table.
 *
 * @example
 * const options: ProtectOptions = { table: 'app.invoices', tenantColumn: 'tenant_id', permission: { read: 'invoices.read' } };
 */
export interface ProtectOptions {
  /** `schema.table` (quoted parts allowed: `app."Invoices"`). */
  table: string;
  /** The column holding the tenant; compared with `auth.tenant_id()`. */
  tenantColumn: string;
  /** A column holding the user (uuid → `auth.uid()`, else `auth.sub()`); rows are then per user too. */
  ownerColumn?: string | undefined;
  permission?: PermissionOption | undefined;
  /** Request roles the policies are `TO`; role keys `app_user` and `anon` take the role prefix. Default app_user. */
  roles?: readonly string[] | undefined;
  /** Table privileges to grant the policy roles (with USAGE on the schema); default none. */
  grant?: readonly RlsCommand[] | undefined;
}

/** A table's protection with defaults filled in and role keys resolved. */
export interface TableSpec {
  table: string;
  tenantColumn: string;
  ownerColumn: string | undefined;
  permissions: Record<RlsCommand, string | undefined>;
  roles: string[];
  grant: RlsCommand[];
}

// The same rule auth.rbac_define_role enforces, so a policy never names a permission that cannot exist.
const permissionName = z
  .string()
  .regex(/^[a-z][a-z0-9_.:-]{0,126}$/, 'a permission is 1-127 characters: a-z, 0-9, _ . : - (starting with a letter)');
const identifier = z
  .string()
  .min(1, 'must not be empty')
  .max(63, 'PostgreSQL names are at most 63 bytes')
  .refine((s) => !s.includes('\0'), 'must not contain NUL');

/** The zod schema of one table's options, shared by the policy file and the CLI. */
export const tableOptionsSchema = z
  .object({
    tenantColumn: identifier,
    ownerColumn: identifier.optional(),
    permission: z
      .union([
        permissionName,
        z
          .object({
            read: permissionName,
            write: permissionName,
            select: permissionName,
            insert: permissionName,
            update: permissionName,
            delete: permissionName,
          })
          .partial()
          .strict(),
      ])
      .optional(),
    roles: z.array(identifier).min(1, 'list at least one role').optional(),
    grant: z.array(z.enum(rlsCommands)).optional(),
  })
  .strict();

/** Problems as one PW357 error, one line per key path. */
export function specError(problems: readonly string[], source: string): PgwardenError {
  return new PgwardenError(
    ErrorCodes.RLS_SPEC_INVALID,
    `invalid row-level security options in ${source}: ${problems[0] ?? 'unknown problem'}`,
    {
      detail: problems.join('\n'),
      hint: 'see docs/rls.md for the options and the policy file format',
    },
  );
}

/** zod issues as `path: message` lines. */
export function issueLines(issues: readonly z.core.$ZodIssue[], prefix: readonly string[] = []): string[] {
  return issues.map((issue) => {
    const keys = [...prefix, ...issue.path.map(String)];
    if (issue.code === 'unrecognized_keys') keys.push(...issue.keys);
    return `${keys.join('.') || '(root)'}: ${issue.message}`;
  });
}

/** A role key (`app_user`, `anon`) becomes the prefixed role name; anything else is a role name. */
export function resolveRoleName(name: string, rolePrefix: string): string {
  const names = roleNames(rolePrefix);
  if (name === 'app_user' || name === 'anon') return names[name];
  return name;
}

/**
 * Validates protect options and fills in the defaults (roles: the app_user request role).
 * Throws PW357 listing every problem.
 *
 * @example
 * const spec = tableSpec({ table: 'app.invoices', tenantColumn: 'tenant_id', permission: 'invoices.read' }, 'pgw_');
 * spec.permissions.delete; // 'invoices.read'
 */
export function tableSpec(options: ProtectOptions, rolePrefix: string, source = 'the options'): TableSpec {
  const { table, ...rest } = options;
  const clean = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
  const parsed = tableOptionsSchema.safeParse(clean);
  const problems = parsed.success ? [] : issueLines(parsed.error.issues, [table]);
  if (typeof table !== 'string' || table.trim() === '') problems.unshift('table: name the table to protect');
  if (!parsed.success || problems.length) throw specError(problems, source);
  const o = parsed.data;
  const permissions = { select: undefined, insert: undefined, update: undefined, delete: undefined } as Record<
    RlsCommand,
    string | undefined
  >;
  if (typeof o.permission === 'string') {
    for (const c of rlsCommands) permissions[c] = o.permission;
  } else if (o.permission) {
    const p = o.permission;
    permissions.select = p.select ?? p.read;
    permissions.insert = p.insert ?? p.write;
    permissions.update = p.update ?? p.write;
    permissions.delete = p.delete ?? p.write;
  }
  const roles = [...new Set((o.roles ?? ['app_user']).map((r) => resolveRoleName(r, rolePrefix)))];
  return {
    table: table.trim(),
    tenantColumn: o.tenantColumn,
    ownerColumn: o.ownerColumn,
    permissions,
    roles,
    grant: rlsCommands.filter((c) => o.grant?.includes(c)),
  };
}

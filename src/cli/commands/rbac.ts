import { userInfo } from 'node:os';
import type pg from 'pg';
import { withClient } from '../../db/index.js';
import { type AssignmentChange, databaseUser, RbacAdmin } from '../../rbac/index.js';
import { type CliContext, configFor, type GlobalFlags, withDatabase } from '../context.js';
import { paint, printJson, table } from '../output.js';

export interface RbacRoleFlags extends GlobalFlags {
  role: string;
  permission?: string[];
  description?: string;
}

export interface RbacAssignmentFlags extends GlobalFlags {
  user: string;
  role: string;
  tenant: string;
}

export interface RbacListFlags extends GlobalFlags {
  user?: string;
  tenant?: string;
}

/** The OS user running the CLI; the environment's word when the system has no name for the uid. */
function osUser(ctx: CliContext): string {
  try {
    return userInfo().username;
  } catch {
    return ctx.env.USER ?? ctx.env.LOGNAME ?? 'unknown';
  }
}

/**
 * Opens the configured database and runs `fn` with an RbacAdmin. Changes record the actor as
 * `os:<OS user> db:<database user>`; the database user is also in every event's `db_user`.
 */
async function withRbac(
  ctx: CliContext,
  flags: GlobalFlags,
  options: { recordActor: boolean },
  fn: (rbac: RbacAdmin) => Promise<number>,
): Promise<number> {
  const config = await configFor(ctx, flags);
  return withDatabase(ctx, config, (db) =>
    withClient({ ...db.connection, application_name: 'pgwarden-rbac' }, async (client: pg.Client) => {
      const actor = options.recordActor ? `os:${osUser(ctx)} db:${await databaseUser(client)}` : null;
      return fn(new RbacAdmin(client, { actor, rolePrefix: config.install.rolePrefix }));
    }),
  );
}

const list = (items: readonly string[]) => (items.length ? items.join(', ') : '(none)');

/** `pgwarden rbac role define <role> --permission <p>... [--description d]`: creates or replaces a role. */
export async function rbacDefineRoleCommand(ctx: CliContext, flags: RbacRoleFlags): Promise<number> {
  const { output } = ctx;
  return withRbac(ctx, flags, { recordActor: true }, async (rbac) => {
    const result = await rbac.defineRole(flags.role, flags.permission ?? [], { description: flags.description });
    if (output.json) {
      printJson(output, { ok: true, ...result });
      return 0;
    }
    const name = paint(output, 'bold', result.role.role);
    const permissions = list(result.role.permissions);
    if (result.created) output.out(`Defined role ${name}: ${permissions}`);
    else if (result.added.length || result.removed.length) output.out(`Updated role ${name}: ${permissions}`);
    else output.out(`Role ${name} is unchanged: ${permissions}`);
    if (!result.created && result.added.length) output.out(`  added    ${list(result.added)}`);
    if (result.removed.length) {
      output.out(`  removed  ${list(result.removed)} (denied from the next statement of every request)`);
    }
    return 0;
  });
}

/** `pgwarden rbac role drop <role>`: removes a role, its permissions and its assignments. */
export async function rbacDropRoleCommand(ctx: CliContext, flags: RbacRoleFlags): Promise<number> {
  const { output } = ctx;
  return withRbac(ctx, flags, { recordActor: true }, async (rbac) => {
    const dropped = await rbac.dropRole(flags.role);
    if (output.json) printJson(output, { ok: true, role: flags.role, dropped });
    else if (dropped)
      output.out(`Dropped role ${paint(output, 'bold', flags.role)} with its permissions and assignments.`);
    else output.out(`No role named ${flags.role}; nothing dropped.`);
    return 0;
  });
}

/** `pgwarden rbac roles`: every role with its permissions and assignment count. */
export async function rbacRolesCommand(ctx: CliContext, flags: GlobalFlags): Promise<number> {
  const { output } = ctx;
  return withRbac(ctx, flags, { recordActor: false }, async (rbac) => {
    const roles = await rbac.roles();
    if (output.json) {
      printJson(output, { ok: true, roles });
      return 0;
    }
    if (!roles.length) {
      output.out('No roles. Define one with `pgwarden rbac role define <role> --permission <p>`.');
      return 0;
    }
    output.out(
      table(
        ['role', 'permissions', 'assignments', 'description'],
        roles.map((r) => [r.role, list(r.permissions), String(r.assignments), r.description ?? '']),
      ).join('\n'),
    );
    return 0;
  });
}

/** Prints a grant or revoke, with what it means for the user's tokens. */
function printChange(ctx: CliContext, change: AssignmentChange, kind: 'granted' | 'revoked'): void {
  const { output } = ctx;
  if (output.json) {
    printJson(output, {
      ok: true,
      userId: change.user.userId,
      email: change.user.email,
      tenant: change.tenant,
      role: change.role,
      [kind]: change.changed,
    });
    return;
  }
  const who = `${change.user.email} (${change.user.userId})`;
  const role = paint(output, 'bold', change.role);
  if (!change.changed) {
    output.out(
      kind === 'granted'
        ? `${who} already holds ${role} in tenant ${change.tenant}; nothing changed.`
        : `${who} does not hold ${role} in tenant ${change.tenant}; nothing revoked.`,
    );
    return;
  }
  output.out(
    kind === 'granted'
      ? `Granted ${role} to ${who} in tenant ${change.tenant}.`
      : `Revoked ${role} from ${who} in tenant ${change.tenant}.`,
  );
  output.out('  Their access tokens issued before now are refused at the next request (PW332); clients refresh.');
  if (change.user.tenant !== change.tenant) {
    output.out(
      paint(
        output,
        'yellow',
        `  note: the user's sessions are in tenant ${change.user.tenant}; roles assigned in ${change.tenant} reach only sessions in ${change.tenant}.`,
      ),
    );
  }
}

/** `pgwarden rbac grant <user> <role> --tenant <t>`: gives a user (id or e-mail) a role in a tenant. */
export async function rbacGrantCommand(ctx: CliContext, flags: RbacAssignmentFlags): Promise<number> {
  return withRbac(ctx, flags, { recordActor: true }, async (rbac) => {
    printChange(ctx, await rbac.grant(flags.user, flags.role, flags.tenant), 'granted');
    return 0;
  });
}

/** `pgwarden rbac revoke <user> <role> --tenant <t>`: takes a role from a user in a tenant. */
export async function rbacRevokeCommand(ctx: CliContext, flags: RbacAssignmentFlags): Promise<number> {
  return withRbac(ctx, flags, { recordActor: true }, async (rbac) => {
    printChange(ctx, await rbac.revoke(flags.user, flags.role, flags.tenant), 'revoked');
    return 0;
  });
}

/** `pgwarden rbac list [--user u] [--tenant t]`: per-tenant assignments. */
export async function rbacListCommand(ctx: CliContext, flags: RbacListFlags): Promise<number> {
  const { output } = ctx;
  return withRbac(ctx, flags, { recordActor: false }, async (rbac) => {
    const assignments = await rbac.assignments({ user: flags.user, tenant: flags.tenant });
    if (output.json) {
      printJson(output, { ok: true, assignments });
      return 0;
    }
    if (!assignments.length) {
      output.out('No assignments.');
      return 0;
    }
    output.out(
      table(
        ['tenant', 'user', 'role', 'granted by', 'granted at'],
        assignments.map((a) => [a.tenant, a.email, a.role, a.grantedBy ?? '', a.grantedAt.toISOString()]),
      ).join('\n'),
    );
    return 0;
  });
}

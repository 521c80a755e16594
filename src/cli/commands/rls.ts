import type pg from 'pg';
import { withClient } from '../../db/index.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import {
  applyRls,
  type FindingSeverity,
  hasFindingAtLeast,
  type PermissionOption,
  type RlsApplyResult,
  type RlsCommand,
  type RlsPlan,
  type RlsPlanOptions,
  type RlsStatus,
  type RlsStep,
  readRlsFile,
  rlsStatus,
} from '../../rls/index.js';
import { type CliContext, configFor, type GlobalFlags, withDatabase } from '../context.js';
import { type Output, paint, printJson, table } from '../output.js';

/** Flags of `pgwarden rls protect <table>`; the table arrives as `target`. */
export interface RlsProtectFlags extends GlobalFlags {
  target?: string;
  tenantColumn?: string;
  ownerColumn?: string;
  permission?: string;
  readPermission?: string;
  writePermission?: string;
  role?: string[];
  grant?: string[];
  dryRun?: boolean;
}

/** Flags of `pgwarden rls protect-view <view...>`. */
export interface RlsProtectViewFlags extends GlobalFlags {
  target?: string | string[];
  dryRun?: boolean;
}

/** Flags of `pgwarden rls plan|apply`. */
export interface RlsFileFlags extends GlobalFlags {
  file?: string;
}

/** Flags of `pgwarden rls status`. */
export interface RlsStatusFlags extends GlobalFlags {
  schema?: string[];
  role?: string[];
  failOn?: string;
}

/** Runs fn on one connection to the configured database, with the configured role prefix. */
async function withRlsClient<T>(
  ctx: CliContext,
  flags: GlobalFlags,
  fn: (client: pg.Client, rolePrefix: string, description: string) => Promise<T>,
): Promise<T> {
  const config = await configFor(ctx, flags);
  return withDatabase(ctx, config, (db) =>
    withClient(db.connection, (c) => fn(c, config.install.rolePrefix, db.description)),
  );
}

/**
 * `pgwarden rls protect <table> --tenant-column <c> [--owner-column <c>] [--permission <p>]
 * [--read-permission <p>] [--write-permission <p>] [--role <r>...] [--grant <cmd>...] [--dry-run]`:
 * generates and applies the tenant policies of one table in one transaction; `--dry-run` prints
 * the SQL and changes nothing.
 */
export async function rlsProtectCommand(ctx: CliContext, flags: RlsProtectFlags): Promise<number> {
  if (!flags.target || !flags.tenantColumn) {
    throw new PgwardenError(ErrorCodes.USAGE, 'rls protect needs a table and --tenant-column', {
      hint: 'pgwarden rls protect app.invoices --tenant-column tenant_id',
    });
  }
  let permission: PermissionOption | undefined = flags.permission;
  if (flags.readPermission || flags.writePermission) {
    permission = {
      read: flags.readPermission ?? flags.permission,
      write: flags.writePermission ?? flags.permission,
    };
  }
  const options: RlsPlanOptions = {
    tables: [
      {
        table: flags.target,
        tenantColumn: flags.tenantColumn,
        ownerColumn: flags.ownerColumn,
        permission,
        roles: flags.role,
        grant: flags.grant?.flatMap((g) => g.split(',')).map((g) => g.trim().toLowerCase()) as RlsCommand[] | undefined,
      },
    ],
    source: 'the flags',
  };
  return applyAndReport(ctx, flags, options, flags.dryRun === true, `rls protect ${flags.target}`);
}

/** `pgwarden rls protect-view <view...> [--dry-run]`: sets `security_invoker = true` on views. */
export async function rlsProtectViewCommand(ctx: CliContext, flags: RlsProtectViewFlags): Promise<number> {
  const views = [flags.target ?? []].flat();
  if (views.length === 0) {
    throw new PgwardenError(ErrorCodes.USAGE, 'rls protect-view needs a view', {
      hint: 'pgwarden rls protect-view app.open_invoices',
    });
  }
  return applyAndReport(ctx, flags, { views, source: 'the arguments' }, flags.dryRun === true, 'rls protect-view');
}

/** `pgwarden rls plan [--file f]`: what `apply` would change, changing nothing. */
export async function rlsPlanCommand(ctx: CliContext, flags: RlsFileFlags): Promise<number> {
  const file = await readRlsFile(ctx.cwd, flags.file);
  const options = { tables: file.tables, views: file.views, prune: file.prune, source: file.path };
  return applyAndReport(ctx, flags, options, true, `rls plan ${file.path}`, file.path);
}

/** `pgwarden rls apply [--file f]`: makes the database match the file, in one transaction. */
export async function rlsApplyCommand(ctx: CliContext, flags: RlsFileFlags): Promise<number> {
  const file = await readRlsFile(ctx.cwd, flags.file);
  const options = { tables: file.tables, views: file.views, prune: file.prune, source: file.path };
  return applyAndReport(ctx, flags, options, false, `rls apply ${file.path}`, file.path);
}

async function applyAndReport(
  ctx: CliContext,
  flags: GlobalFlags,
  options: RlsPlanOptions,
  dryRun: boolean,
  title: string,
  file?: string,
): Promise<number> {
  const { output } = ctx;
  return withRlsClient(ctx, flags, async (client, rolePrefix, description) => {
    const result = await applyRls(client, { ...options, rolePrefix, dryRun });
    if (output.json) {
      printJson(output, {
        ok: true,
        dryRun,
        ...(file ? { file } : {}),
        changes: result.plan.steps.length,
        applied: result.applied.length,
        tables: result.plan.tables,
        views: result.plan.views,
        steps: result.plan.steps,
        warnings: result.plan.warnings,
      });
      return 0;
    }
    for (const w of result.plan.warnings) output.err(`${paint(output, 'yellow', 'warning')}: ${w}`);
    if (dryRun && title.startsWith('rls protect')) {
      printSql(output, result.plan);
      return 0;
    }
    output.out(`${paint(output, 'bold', `pgwarden ${title}`)} — ${description}`);
    printSteps(output, result.plan);
    output.out(summary(result, dryRun));
    return 0;
  });
}

const markers: Record<RlsStep['kind'], string> = {
  'enable-rls': '+',
  'force-rls': '+',
  'create-policy': '+',
  'replace-policy': '~',
  'drop-policy': '-',
  'create-index': '+',
  revoke: '-',
  grant: '+',
  'security-invoker': '~',
};

/** Steps grouped by the table or view they change, in plan order. */
function printSteps(output: Output, plan: RlsPlan): void {
  let current: string | undefined;
  for (const step of plan.steps) {
    if (step.object !== current) {
      current = step.object;
      output.out(`  ${paint(output, 'bold', step.object)}`);
    }
    const marker = markers[step.kind];
    const style = marker === '+' ? 'green' : marker === '-' ? 'red' : 'yellow';
    output.out(`    ${paint(output, style, marker)} ${step.summary}`);
  }
}

function summary(result: RlsApplyResult, dryRun: boolean): string {
  const n = result.plan.steps.length;
  if (n === 0) return 'Nothing to do: the database already matches.';
  if (dryRun)
    return `${n} change(s) planned; nothing was changed. \`pgwarden rls apply\` applies them in one transaction.`;
  return `Applied ${result.applied.length} change(s) in one transaction.`;
}

/** The plan as a runnable SQL script (the `--dry-run` output of `protect`). */
function printSql(output: Output, plan: RlsPlan): void {
  if (plan.steps.length === 0) {
    output.out('-- nothing to do: already protected as asked');
    return;
  }
  output.out('-- pgwarden rls: generated; review, then run it or use `pgwarden rls protect` without --dry-run');
  output.out('begin;');
  for (const step of plan.steps) {
    output.out('');
    output.out(`-- ${step.object}: ${step.summary}`);
    output.out(step.sql);
  }
  output.out('');
  output.out('commit;');
}

const severities: readonly FindingSeverity[] = ['high', 'warn', 'info'];

/** `pgwarden rls status [--schema s...] [--role r...] [--fail-on high|warn|info]`. */
export async function rlsStatusCommand(ctx: CliContext, flags: RlsStatusFlags): Promise<number> {
  const failOn = flags.failOn as FindingSeverity | undefined;
  if (failOn !== undefined && !severities.includes(failOn)) {
    throw new PgwardenError(ErrorCodes.USAGE, `--fail-on takes ${severities.join(', ')}, not ${flags.failOn}`);
  }
  const { output } = ctx;
  return withRlsClient(ctx, flags, async (client, rolePrefix, description) => {
    const status = await rlsStatus(client, { schemas: flags.schema, roles: flags.role, rolePrefix });
    const failed = failOn !== undefined && hasFindingAtLeast(status, failOn);
    if (output.json) printJson(output, { ok: !failed, ...status });
    else printStatus(output, status, description);
    return failed ? 1 : 0;
  });
}

function printStatus(output: Output, status: RlsStatus, description: string): void {
  output.out(`${paint(output, 'bold', 'pgwarden rls status')} — ${description}`);
  output.out(`schemas        ${status.schemas.join(', ') || '(none)'}`);
  output.out(`request roles  ${status.requestRoles.join(', ')}`);
  output.out('');
  const rows = status.tables.map((t) => {
    const managed = t.policies.filter((p) => p.managed).length;
    const foreign = t.policies.length - managed;
    const policies = [managed && `${managed} pgwarden`, foreign && `${foreign} other`].filter(Boolean).join(', ');
    const notes = [
      t.unprotected && 'UNPROTECTED',
      t.defaultDeny && 'default deny',
      t.kind !== 'table' && t.kind + (t.parent ? ` of ${t.parent}` : ''),
    ].filter(Boolean);
    return [
      t.table,
      t.rlsEnabled ? (t.rlsForced ? 'forced' : 'on') : 'off',
      policies || '-',
      t.commands.join(' ') || '-',
      t.reachableBy.join(', ') || '-',
      notes.join('; '),
    ];
  });
  if (rows.length) {
    output.out(table(['table', 'rls', 'policies', 'commands', 'reachable by', 'notes'], rows).join('\n'));
  } else {
    output.out('no tables');
  }
  if (status.views.length) {
    output.out('');
    output.out(
      table(
        ['view over protected tables', 'kind', 'security_invoker', 'over', 'reachable by'],
        status.views.map((v) => [
          v.view,
          v.kind,
          v.kind === 'view' ? String(v.securityInvoker) : '-',
          v.over.join(', '),
          v.reachableBy.join(', ') || '-',
        ]),
      ).join('\n'),
    );
  }
  output.out('');
  if (status.findings.length === 0) {
    output.out('No findings.');
    return;
  }
  const count = (s: FindingSeverity) => status.findings.filter((f) => f.severity === s).length;
  output.out(`findings: ${count('high')} high, ${count('warn')} warn, ${count('info')} info`);
  const style = { high: 'red', warn: 'yellow', info: 'dim' } as const;
  for (const f of status.findings) {
    output.out(`  ${paint(output, style[f.severity], f.severity.padEnd(4))}  ${f.kind}  ${f.object}: ${f.message}`);
  }
}

/** The `rls` subcommands by name, for bin.ts to load on first use. */
export const rlsCli = {
  protect: rlsProtectCommand,
  protectView: rlsProtectViewCommand,
  plan: rlsPlanCommand,
  apply: rlsApplyCommand,
  status: rlsStatusCommand,
};

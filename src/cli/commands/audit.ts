import { resolve } from 'node:path';
import type pg from 'pg';
import { archivePartitions } from '../../audit/retention/index.js';
import { withClient } from '../../db/index.js';
import { type ErrorCode, ErrorCodes, PgwardenError } from '../../errors/index.js';
import { type CliContext, configFor, type GlobalFlags, withDatabase } from '../context.js';
import { paint, printJson } from '../output.js';

/** Flags of `pgwarden audit enable|disable <table>`; the table arrives as `table`. */
export interface AuditTableFlags extends GlobalFlags {
  table: string;
  excludeColumns?: string;
  redactColumns?: string;
}

const columns = (value: string | undefined): string[] =>
  (value ?? '')
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c.length > 0);

const auditCodes = new Set<string>([ErrorCodes.AUDIT_TABLE_REFUSED, ErrorCodes.AUDIT_APPEND_ONLY]);

/** Runs an audit function, turning its PW42x errors into PgwardenErrors with the same code. */
async function call(client: pg.Client, sql: string, values: unknown[]): Promise<void> {
  try {
    await client.query(sql, values);
  } catch (e) {
    const err = e as { code?: string; message?: string; detail?: string; hint?: string };
    if (err.code && auditCodes.has(err.code)) {
      throw new PgwardenError(err.code as ErrorCode, err.message ?? err.code, {
        detail: err.detail,
        hint: err.hint,
        sqlState: err.code,
        cause: e,
      });
    }
    throw e;
  }
}

async function withAudit(ctx: CliContext, flags: GlobalFlags, fn: (client: pg.Client) => Promise<number>) {
  const config = await configFor(ctx, flags);
  return withDatabase(ctx, config, (db) => withClient({ ...db.connection, application_name: 'pgwarden-audit' }, fn));
}

/** `pgwarden audit enable <table> [--exclude-columns a,b] [--redact-columns c]`: captures a table's row changes. */
export async function auditEnableCommand(ctx: CliContext, flags: AuditTableFlags): Promise<number> {
  const exclude = columns(flags.excludeColumns);
  const redact = columns(flags.redactColumns);
  return withAudit(ctx, flags, async (client) => {
    await call(client, 'select audit.enable($1::text::regclass, $2::text[], $3::text[])', [
      flags.table,
      exclude,
      redact,
    ]);
    if (ctx.output.json) printJson(ctx.output, { ok: true, table: flags.table, enabled: true, exclude, redact });
    else ctx.output.out(`Auditing row changes of ${paint(ctx.output, 'bold', flags.table)}.`);
    return 0;
  });
}

/** `pgwarden audit disable <table>`: stops capturing a table's row changes (its records stay). */
export async function auditDisableCommand(ctx: CliContext, flags: AuditTableFlags): Promise<number> {
  return withAudit(ctx, flags, async (client) => {
    await call(client, 'select audit.disable($1::text::regclass)', [flags.table]);
    if (ctx.output.json) printJson(ctx.output, { ok: true, table: flags.table, enabled: false });
    else ctx.output.out(`Stopped auditing ${paint(ctx.output, 'bold', flags.table)}; its records are kept.`);
    return 0;
  });
}

/** Flags of `pgwarden audit retention`. */
export interface AuditRetentionFlags extends GlobalFlags {
  keepMonths?: string;
  archiveDir?: string;
  dryRun?: boolean;
}

/**
 * `pgwarden audit retention --keep-months N --archive-dir DIR [--dry-run]`: archives, checks and
 * drops the monthly audit partitions older than N full months (PW422 when one cannot go).
 */
export async function auditRetentionCommand(ctx: CliContext, flags: AuditRetentionFlags): Promise<number> {
  const keepMonths = Number(flags.keepMonths);
  if (flags.keepMonths === undefined || !/^\d+$/.test(flags.keepMonths) || !flags.archiveDir) {
    throw new PgwardenError(ErrorCodes.USAGE, 'give --keep-months <n> and --archive-dir <dir>');
  }
  return withAudit(ctx, flags, async (client) => {
    const done = await archivePartitions(client, {
      keepMonths,
      archiveDir: resolve(ctx.cwd, flags.archiveDir!),
      dryRun: flags.dryRun === true,
    });
    if (ctx.output.json) printJson(ctx.output, { ok: true, dryRun: flags.dryRun === true, partitions: done });
    else if (done.length === 0) ctx.output.out(`No audit partition is older than ${keepMonths} month(s).`);
    else {
      for (const p of done) {
        ctx.output.out(
          flags.dryRun
            ? `would archive ${p.partition} (${p.rows} rows, ${p.from} .. ${p.to})`
            : `archived ${p.partition}: ${p.rows} rows to ${p.archive} (sha256 ${p.sha256}), partition dropped`,
        );
      }
    }
    return 0;
  });
}

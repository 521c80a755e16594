import { resolve } from 'node:path';
import type pg from 'pg';
import { captureWal, setupWalCapture, walCaptureSlot } from '../../audit/capture/index.js';
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
  /** trigger or wal; unset: wal when WAL capture is set up, else trigger. */
  capture?: string;
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
    if (flags.capture !== undefined && flags.capture !== 'trigger' && flags.capture !== 'wal') {
      throw new PgwardenError(ErrorCodes.USAGE, '--capture must be trigger or wal');
    }
    await call(client, 'select audit.enable($1::text::regclass, $2::text[], $3::text[], $4::text)', [
      flags.table,
      exclude,
      redact,
      flags.capture ?? null,
    ]);
    const { rows } = await client.query<{ capture: string }>(
      'select capture from audit.audited_tables where table_oid = $1::text::regclass',
      [flags.table],
    );
    const capture = rows[0]?.capture ?? 'trigger';
    if (ctx.output.json)
      printJson(ctx.output, { ok: true, table: flags.table, enabled: true, exclude, redact, capture });
    else {
      ctx.output.out(
        `Auditing row changes of ${paint(ctx.output, 'bold', flags.table)} (${capture === 'wal' ? 'WAL capture: decoded after commit by pgwarden up or `pgwarden audit capture run`' : 'trigger capture'}).`,
      );
    }
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

export interface AuditCaptureFlags extends GlobalFlags {
  /** setup, run or status (default). */
  action?: string;
}

/**
 * `pgwarden audit capture [setup|run|status]`: sets WAL capture up (publications, slot), applies
 * the decoded log now, or shows where it stands: slot, applied position, how much log the slot
 * holds, and the tables on each capture. Exit 1 from status when the slot is lost or missing.
 */
export async function auditCaptureCommand(ctx: CliContext, flags: AuditCaptureFlags): Promise<number> {
  const action = flags.action ?? 'status';
  if (!['setup', 'run', 'status'].includes(action)) {
    throw new PgwardenError(ErrorCodes.USAGE, `unknown capture action ${JSON.stringify(action)}: setup, run or status`);
  }
  return withAudit(ctx, flags, async (client) => {
    if (action === 'setup') {
      const r = await setupWalCapture(client);
      if (ctx.output.json) printJson(ctx.output, { ok: true, ...r });
      else {
        ctx.output.out(`WAL capture is set up: slot ${r.slot}${r.created ? ' (created)' : ''}.`);
        ctx.output.out('Tables enabled from now on are captured from the log; `pgwarden up` applies it.');
      }
      return 0;
    }
    if (action === 'run') {
      const r = await captureWal(client);
      if (!r) {
        throw new PgwardenError(ErrorCodes.AUDIT_WAL_CAPTURE, 'WAL capture is not set up in this database', {
          hint: 'run `pgwarden audit capture setup` first',
        });
      }
      if (ctx.output.json) printJson(ctx.output, { ok: true, ...r });
      else
        ctx.output.out(`Applied ${r.rows} row change(s) of ${r.transactions} transaction(s), up to ${r.appliedLsn}.`);
      return 0;
    }
    const slot = await walCaptureSlot(client);
    const { rows: tables } = await client.query<{ table: string; capture: string }>(
      `select a.table_oid::regclass::text as table, a.capture from audit.audited_tables a where a.enabled order by 1`,
    );
    const { rows: st } = await client.query<{
      applied_lsn: string | null;
      applied_at: Date | null;
      wal_status: string | null;
      retained_bytes: string | null;
    }>(
      `select w.applied_lsn::text, w.applied_at, s.wal_status,
              pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.restart_lsn)::bigint::text as retained_bytes
         from audit.wal_state w left join pg_catalog.pg_replication_slots s on s.slot_name = w.slot_name
        where w.slot_name = $1`,
      [slot],
    );
    const s = st[0];
    const healthy = slot === null || (s?.wal_status != null && s.wal_status !== 'lost');
    const status = {
      ok: healthy,
      walCapture: slot !== null,
      slot,
      slotStatus: slot === null ? null : (s?.wal_status ?? 'missing'),
      appliedLsn: s?.applied_lsn ?? null,
      appliedAt: s?.applied_at?.toISOString() ?? null,
      retainedBytes: s?.retained_bytes == null ? null : Number(s.retained_bytes),
      tables,
    };
    if (ctx.output.json) printJson(ctx.output, status);
    else {
      ctx.output.out(
        slot === null
          ? 'WAL capture: not set up (tables use trigger capture; `pgwarden audit capture setup`).'
          : `WAL capture: slot ${slot} ${healthy ? paint(ctx.output, 'green', status.slotStatus ?? '') : paint(ctx.output, 'red', status.slotStatus ?? 'missing')}, applied up to ${status.appliedLsn} (${status.appliedAt ?? 'never'}), log held ${status.retainedBytes ?? '?'} bytes`,
      );
      for (const t of tables) ctx.output.out(`  ${t.table}: ${t.capture}`);
    }
    return healthy ? 0 : 1;
  });
}

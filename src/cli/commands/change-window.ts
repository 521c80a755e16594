/**
 * `pgwarden monitor window open|close|list`: approved change windows (docs/monitor.md, "Approved
 * changes"). The database refuses what it must (PW608: self-approval, backdating, over 24 h, no
 * reason); these commands only read the flags and print what it answered.
 */
import { type ConnectionConfig, withClient } from '../../db/client.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { closeChangeWindow, openChangeWindow } from '../../monitor/change-windows.js';
import { durationMs } from '../../monitor/rules/rule-schema.js';
import { type CliContext, configFor, type GlobalFlags, withDatabase } from '../context.js';
import { printJson, table } from '../output.js';

export interface WindowOpenFlags extends GlobalFlags {
  principal: string;
  for?: string;
  start?: string;
  reason?: string;
  ticket?: string;
  actor?: string;
}

const invalid = (message: string, hint?: string) =>
  new PgwardenError(ErrorCodes.MONITOR_CHANGE_WINDOW_INVALID, message, hint ? { hint } : {});

/** `pgwarden monitor window open <principal> --for 2h --reason "…" [--ticket] [--start]`. */
export async function monitorWindowOpenCommand(ctx: CliContext, flags: WindowOpenFlags): Promise<number> {
  const length = durationMs(flags.for ?? '1h');
  if (!Number.isFinite(length) || length <= 0)
    throw invalid(`--for ${flags.for} is not a duration`, 'write 30m, 2h or 1d');
  const startsAt = flags.start === undefined ? new Date() : new Date(flags.start);
  if (Number.isNaN(startsAt.getTime()))
    throw invalid(`--start ${flags.start} is not a time`, 'write an ISO 8601 time such as 2026-11-23T21:00:00Z');
  if (!flags.reason)
    throw invalid('a change window needs --reason', 'name the change, e.g. --reason "release 4.2 migration"');
  const config = await configFor(ctx, flags);
  return withDatabase(ctx, config, (db) =>
    withClient(db.connection as ConnectionConfig, async (client) => {
      const w = await openChangeWindow(client, {
        principal: flags.principal,
        startsAt,
        endsAt: new Date(startsAt.getTime() + length),
        reason: flags.reason ?? '',
        approver: flags.actor ?? ctx.env.USER ?? 'cli',
        ...(flags.ticket ? { ticket: flags.ticket } : {}),
      });
      if (ctx.output.json) printJson(ctx.output, w);
      else
        ctx.output.out(
          `change window ${w.id}: ${w.principal} from ${new Date(w.startsAt).toISOString()} to ${new Date(w.endsAt).toISOString()}`,
        );
      return 0;
    }),
  );
}

/** `pgwarden monitor window close <id>`. */
export async function monitorWindowCloseCommand(
  ctx: CliContext,
  flags: GlobalFlags & { id: string; actor?: string },
): Promise<number> {
  const config = await configFor(ctx, flags);
  return withDatabase(ctx, config, (db) =>
    withClient(db.connection as ConnectionConfig, async (client) => {
      await closeChangeWindow(client, String(flags.id), flags.actor ?? ctx.env.USER ?? 'cli');
      if (ctx.output.json) printJson(ctx.output, { id: String(flags.id), closed: true });
      else ctx.output.out(`change window ${flags.id}: closed`);
      return 0;
    }),
  );
}

interface WindowListRow {
  id: string;
  principal: string;
  starts_at: Date;
  ends_at: Date;
  closed_at: Date | null;
  reason: string;
  ticket: string | null;
  approver: string;
  approved_by: string;
}

/** `pgwarden monitor window list [--all]`: open and future windows (all with --all, newest first). */
export async function monitorWindowListCommand(
  ctx: CliContext,
  flags: GlobalFlags & { all?: boolean },
): Promise<number> {
  const config = await configFor(ctx, flags);
  return withDatabase(ctx, config, (db) =>
    withClient(db.connection as ConnectionConfig, async (client) => {
      const { rows } = await client.query<WindowListRow>(
        `select w.id::text as id, w.principal, w.starts_at, w.ends_at, w.closed_at, w.reason, w.ticket, w.approver,
                w.approved_by
           from monitor.change_windows w
          where $1 or (w.closed_at is null and w.ends_at > pg_catalog.clock_timestamp())
          order by w.starts_at desc
          limit 200`,
        [flags.all === true],
      );
      const { output } = ctx;
      if (output.json) printJson(output, rows);
      else
        for (const line of table(
          ['id', 'principal', 'from', 'until', 'state', 'approver', 'ticket', 'reason'],
          rows.map((r) => [
            r.id,
            r.principal,
            r.starts_at.toISOString(),
            r.ends_at.toISOString(),
            r.closed_at ? 'closed' : r.ends_at.getTime() <= Date.now() ? 'ended' : 'open',
            `${r.approver} (${r.approved_by})`,
            r.ticket ?? '',
            r.reason,
          ]),
        ))
          output.out(line);
      return 0;
    }),
  );
}

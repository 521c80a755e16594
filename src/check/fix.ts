import type pg from 'pg';
import { type ConnectionConfig, connect, withTransaction, wrapPgError } from '../db/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { visible } from './format/shared.js';
import { pinSession } from './session.js';
import { printableSql } from './sql-text.js';
import { openFindings } from './summary.js';
import type { FixStatement, ScanReport, Severity } from './types.js';

/** One finding's remediation as `pgwarden fix` would handle it. */
export interface FixPlanItem {
  checkId: string;
  object?: string;
  /** The finding's one-line message. */
  message: string;
  severity: Severity;
  statements: FixStatement[];
  /**
   * `apply`: every statement is safe and takes effect now. `restart`: safe, but a statement
   * changes a postmaster setting that takes effect at the next restart. `manual`: at least one
   * statement needs a person, so none of the item's statements is run (half a fix is worse).
   */
  action: 'apply' | 'manual' | 'restart';
  reason?: string;
}

/** A finding no statement can fix: the check's remediation is for a person. */
export interface HumanOnlyItem {
  checkId: string;
  object?: string;
  message: string;
  remediation: string;
}

/** What `pgwarden fix` would do for a report. */
export interface FixPlan {
  items: FixPlanItem[];
  /** Items applyFix runs (`apply` and `restart`). */
  safe: number;
  /** Items shown for a person to run. */
  manual: number;
  /** Whether applying leaves a setting waiting for a restart. */
  restartNeeded: boolean;
  humanOnly: HumanOnlyItem[];
}

const selects = (patterns: readonly string[], r: { id: string; family: string }) =>
  patterns.some((p) => p === r.family || p === r.id || (p.endsWith('.') && r.id.startsWith(p)));

/**
 * The remediation plan of a report: each open (unsuppressed) finding of a failing check becomes
 * an item with its statements, or a human-only entry when it has none. `only` takes check ids,
 * id prefixes ending in a dot, or families, as `--only` does (PW502 when one matches nothing).
 *
 * @example
 * const plan = planFix(await scanDatabase(conn), { only: ['cis'] });
 * console.log(formatFixPlan(plan));
 */
export function planFix(report: ScanReport, options: { only?: readonly string[] } = {}): FixPlan {
  const only = options.only ?? [];
  for (const p of only) {
    if (!report.results.some((r) => selects([p], r))) {
      throw new PgwardenError(ErrorCodes.CHECK_UNKNOWN_CHECK, `No check of the report matches "${p}"`, {
        hint: 'use a check id (CIS-3.1.20), an id prefix ending in a dot (CIS-3.) or a family (cis, rls, …) that the scan ran',
      });
    }
  }
  const plan: FixPlan = { items: [], safe: 0, manual: 0, restartNeeded: false, humanOnly: [] };
  for (const result of report.results) {
    if (result.verdict !== 'fail' || (only.length > 0 && !selects(only, result))) continue;
    for (const f of openFindings(result)) {
      const who = { checkId: f.checkId, ...(f.object !== undefined ? { object: f.object } : {}), message: f.message };
      if (!f.fix || f.fix.length === 0) {
        plan.humanOnly.push({ ...who, remediation: result.remediation });
        continue;
      }
      // A report may come from elsewhere (a saved scan): its statements are made printable here too.
      const statements = f.fix.map((x) => ({ ...x, sql: printableSql(x.sql) }));
      const item: FixPlanItem = { ...who, severity: f.severity, statements, action: 'apply' };
      if (f.fix.some((s) => s.safety !== 'safe')) {
        item.action = 'manual';
        item.reason = 'a statement may lock someone out or change data: review and run it yourself';
        plan.manual++;
      } else {
        if (f.fix.some((s) => s.restart)) {
          item.action = 'restart';
          item.reason = 'takes effect after a server restart';
          plan.restartNeeded = true;
        }
        plan.safe++;
      }
      plan.items.push(item);
    }
  }
  return plan;
}

const terminated = (sql: string) => (sql.trimEnd().endsWith(';') ? sql.trimEnd() : `${sql.trimEnd()};`);
// A comment line: a newline or carriage return in an object name would end it, and the rest of
// the name would run when a person pastes the plan into psql.
const label = (i: { checkId: string; object?: string; message: string }) =>
  `-- ${visible(i.checkId)}${i.object !== undefined ? ` ${visible(i.object)}` : ''}: ${visible(i.message)}`;

/**
 * The plan as text for `pgwarden fix --dry-run`: the exact statements, grouped into "will
 * apply", "needs a restart after applying" and "needs a person".
 *
 * @example
 * process.stdout.write(formatFixPlan(planFix(report)));
 */
export function formatFixPlan(plan: FixPlan): string {
  const block = (title: string, items: FixPlanItem[]) =>
    items.length === 0
      ? []
      : [
          `-- ${title} (${items.length}):`,
          ...items.flatMap((i) => [label(i), ...i.statements.map((s) => terminated(s.sql))]),
          '',
        ];
  const lines = [
    ...block(
      'Will apply',
      plan.items.filter((i) => i.action === 'apply'),
    ),
    ...block(
      'Needs a restart after applying',
      plan.items.filter((i) => i.action === 'restart'),
    ),
  ];
  const manual = plan.items.filter((i) => i.action === 'manual');
  if (manual.length + plan.humanOnly.length > 0) {
    lines.push(`-- Needs a person (${manual.length + plan.humanOnly.length}):`);
    for (const i of manual) lines.push(label(i), ...i.statements.map((s) => terminated(s.sql)));
    for (const h of plan.humanOnly)
      lines.push(label(h), ...h.remediation.split(/\r\n|\r|\n/).map((l) => `--   ${visible(l)}`));
    lines.push('');
  }
  return lines.length === 0 ? '-- Nothing to fix.\n' : lines.join('\n');
}

/** A statement run (or not) by applyFix. */
export interface FixStatementRef {
  checkId: string;
  object?: string;
  sql: string;
}

/** Progress of applyFix, one event per statement and one for the reload. */
export type FixStep =
  | ({ kind: 'statement-started' | 'statement-applied' } & FixStatementRef)
  | ({ kind: 'statement-failed'; code: string; sqlState?: string } & FixStatementRef)
  | { kind: 'config-reloaded'; restartRequired: string[] };

/** The statement that stopped applyFix (PW503), with the server's SQLSTATE. */
export interface FixFailure {
  /** `statement`: a plan statement; `reload`: pg_reload_conf() after the ALTER SYSTEM statements. */
  stage: 'statement' | 'reload';
  checkId?: string;
  object?: string;
  sql: string;
  code: string;
  sqlState?: string;
  message: string;
  hint?: string;
}

/** What applyFix did. */
export interface FixResult {
  applied: FixStatementRef[];
  /** Not run: manual items, repeats of an applied statement, and everything after a failure. */
  skipped: Array<FixStatementRef & { reason: string }>;
  /** Settings waiting for a restart after the reload (pg_settings.pending_restart, all of them). */
  restartRequired: string[];
  failed?: FixFailure;
  /** Things to know about the run, e.g. a reload the server had not processed in time. */
  notes: string[];
}

const alterSystem = /^(?:\s|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*alter\s+system\b/i;

/**
 * Runs the safe statements of a plan, in plan order, over one connection of its own. ALTER
 * SYSTEM statements run alone (they cannot run in a transaction block); every other statement
 * runs in its own transaction under a 5 s lock_timeout, so none is half-applied and none queues
 * behind a long transaction holding up others. After ALTER SYSTEM it reloads the configuration
 * once and lists settings pending a restart. The first failure stops the run: it is returned as
 * `failed` (PW503, SQLSTATE kept); earlier statements stay applied and are listed. Connection
 * errors throw (PW110/PW111/PW112). Running a fresh plan again applies nothing: fixed findings
 * are gone from the rescan.
 *
 * @example
 * const result = await applyFix(conn, planFix(report), { onStep: (s) => console.error(s.kind) });
 * if (result.failed) console.error(result.failed.code, result.failed.sqlState, result.failed.message);
 */
export async function applyFix(
  connection: ConnectionConfig,
  plan: FixPlan,
  options: { onStep?: (step: FixStep) => void } = {},
): Promise<FixResult> {
  const onStep = options.onStep ?? (() => undefined);
  const result: FixResult = { applied: [], skipped: [], restartRequired: [], notes: [] };
  const client = await connect({
    ...connection,
    application_name: 'pgwarden-fix',
    options: [connection.options ?? '', '-c lock_timeout=5000', '-c statement_timeout=60000'].join(' ').trim(),
  });
  try {
    // A superuser session in a database someone else owns: their search_path and role defaults
    // must not apply (their operators would run as this login), whatever the connection string says.
    await pinSession(client, { readOnly: false, statementTimeoutMs: 60_000, lockTimeoutMs: 5_000 }).catch(
      (err: unknown) => {
        throw wrapPgError(err);
      },
    );
    const done = new Set<string>();
    let altered = false;
    for (const item of plan.items) {
      for (const s of item.statements) {
        const ref: FixStatementRef = {
          checkId: item.checkId,
          ...(item.object !== undefined ? { object: item.object } : {}),
          sql: s.sql,
        };
        const skip = result.failed
          ? 'not run: an earlier statement failed'
          : item.action === 'manual' || s.safety !== 'safe'
            ? 'needs a person'
            : done.has(s.sql.trim())
              ? 'already applied in this run'
              : null;
        if (skip) {
          result.skipped.push({ ...ref, reason: skip });
          continue;
        }
        onStep({ kind: 'statement-started', ...ref });
        const isAlterSystem = alterSystem.test(s.sql);
        try {
          if (isAlterSystem) await client.query(s.sql);
          else await withTransaction(client, (c) => c.query(s.sql));
        } catch (err) {
          result.failed = failure('statement', ref, err);
          onStep({ kind: 'statement-failed', ...ref, code: result.failed.code, ...sqlStateOf(result.failed) });
          continue;
        }
        altered ||= isAlterSystem;
        done.add(s.sql.trim());
        result.applied.push(ref);
        onStep({ kind: 'statement-applied', ...ref });
      }
    }
    // Also after a failure: what was written to postgresql.auto.conf should take effect.
    if (altered) await reload(client, result, onStep);
  } finally {
    await client.end().catch(() => undefined);
  }
  return result;
}

const sqlStateOf = (f: FixFailure) => (f.sqlState ? { sqlState: f.sqlState } : {});

function failure(
  stage: FixFailure['stage'],
  ref: Omit<FixStatementRef, 'checkId'> & { checkId?: string },
  err: unknown,
): FixFailure {
  const e = wrapPgError(err);
  const f: FixFailure = {
    stage,
    ...ref,
    code: ErrorCodes.CHECK_FIX_FAILED,
    // The server's message quotes the names it failed on; the CLI prints it to a terminal.
    message: `${stage === 'reload' ? 'reloading the configuration' : `fixing ${ref.checkId}`} failed: ${visible(e.message)}`,
  };
  if (e.sqlState) f.sqlState = e.sqlState;
  const hint =
    e.sqlState === '42501'
      ? 'run pgwarden fix as a superuser (or a role granted ALTER SYSTEM on the parameter)'
      : e.hint;
  if (hint) f.hint = visible(hint, true);
  return f;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * pg_reload_conf() only signals the postmaster; this session sees the new files once it has
 * processed the signal, which pg_conf_load_time() moving past its old value shows. Only then
 * is pending_restart meaningful.
 */
async function reload(client: pg.Client, result: FixResult, onStep: (s: FixStep) => void): Promise<void> {
  const sql = 'select pg_catalog.pg_reload_conf()';
  try {
    const before = (await client.query<{ t: string }>('select pg_catalog.pg_conf_load_time()::text as t')).rows[0]!.t;
    await client.query(sql);
    let seen = false;
    for (let waited = 0; !seen && waited < 10_000; waited += 50) {
      const { rows } = await client.query<{ seen: boolean }>(
        'select pg_catalog.pg_conf_load_time() > $1::timestamptz as seen',
        [before],
      );
      seen = rows[0]!.seen;
      if (!seen) await sleep(50);
    }
    if (!seen)
      result.notes.push('the server had not reloaded its configuration after 10 s: the restart list may be incomplete');
    const { rows } = await client.query<{ name: string }>(
      'select name from pg_catalog.pg_settings where pending_restart order by name',
    );
    result.restartRequired = rows.map((r) => r.name);
    onStep({ kind: 'config-reloaded', restartRequired: result.restartRequired });
  } catch (err) {
    const f = failure('reload', { sql }, err);
    if (result.failed) result.notes.push(f.message);
    else result.failed = f;
  }
}

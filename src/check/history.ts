import type pg from 'pg';
import { withTransaction } from '../db/client.js';
import { wrapPgError } from '../db/pg-errors.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import type { ScanReport, ScanSummary } from './types.js';

/** One saved scan (a row of compliance.scan_runs), as `readHistory` returns it. */
export interface SavedScan {
  id: number;
  /** The scan's start (the report's startedAt), ISO 8601. */
  startedAt: string;
  /** When it was saved, ISO 8601, and by which login. */
  savedAt: string;
  savedBy: string;
  target: string;
  database: string;
  serverVersion: string;
  toolVersion: string;
  score: number;
  summary: ScanSummary;
  /** The full report as the scanner produced it. */
  report: ScanReport;
}

/** Filters of `readHistory`. */
export interface HistoryQuery {
  /** Only runs of this target (the report's target.name). */
  target?: string;
  /** Newest runs to return; default 100. */
  limit?: number;
}

const noHistory = (message: string, hint: string) => new PgwardenError(ErrorCodes.CHECK_NO_HISTORY, message, { hint });

/**
 * Saves a scan report into the database's scan history (compliance.scan_runs, and one
 * compliance.scan_findings row per finding) in one transaction. The scan itself never writes:
 * this is the separate step `pgwarden check --save` runs, as a login holding security_admin.
 * PW504 when the compliance module is not installed.
 *
 * @example
 * const report = await scanDatabase(connection);
 * const { runId } = await withClient(connection, (c) => saveScan(c, report));
 */
export async function saveScan(client: pg.ClientBase, report: ScanReport): Promise<{ runId: number }> {
  const findings = report.results.flatMap((r) => r.findings);
  try {
    return await withTransaction(client, async () => {
      await catalogSearchPath(client);
      await assertHistoryInstalled(client);
      const { rows } = await client.query<{ id: string }>(
        `insert into compliance.scan_runs (started_at, target, database, server_version, tool_version, score, summary, report)
         values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb) returning id::text`,
        [
          report.startedAt,
          report.target.name,
          report.target.database,
          report.target.serverVersion,
          report.tool.version,
          report.summary.score,
          JSON.stringify(report.summary),
          JSON.stringify(report),
        ],
      );
      const runId = Number(rows[0]!.id);
      if (findings.length > 0) {
        await client.query(
          `insert into compliance.scan_findings (run_id, ordinal, check_id, severity, object, fingerprint, status, message)
           select $1, f.ordinal, f.check_id, f.severity, f.object, f.fingerprint, f.status, f.message
             from pg_catalog.jsonb_to_recordset($2::jsonb)
                  as f(ordinal integer, check_id text, severity text, object text, fingerprint text, status text, message text)`,
          [
            runId,
            JSON.stringify(
              findings.map((f, i) => ({
                ordinal: i + 1,
                check_id: f.checkId,
                severity: f.severity,
                object: f.object ?? null,
                fingerprint: f.fingerprint,
                status: f.suppressed ? 'suppressed' : 'open',
                message: f.message,
              })),
            ),
          ],
        );
      }
      return { runId };
    });
  } catch (err) {
    throw wrapPgError(err, 'saving the scan');
  }
}

/**
 * The saved scans, newest first (by start, then id). PW504 when the compliance module is not
 * installed or no run (of this target) was saved; a login without the auditor or security_admin
 * role gets the permission error.
 *
 * @example
 * const runs = await withClient(connection, (c) => readHistory(c, { target: 'prod', limit: 12 }));
 * console.log(runs.map((r) => r.score)); // [92, 88, 71]
 */
export async function readHistory(client: pg.ClientBase, query: HistoryQuery = {}): Promise<SavedScan[]> {
  const limit = query.limit ?? 100;
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new PgwardenError(ErrorCodes.CONFIG_INVALID, 'the history limit must be a positive integer');
  }
  let rows: SavedScan[];
  try {
    ({ rows } = await withTransaction(client, async () => {
      await catalogSearchPath(client);
      await assertHistoryInstalled(client);
      return client.query<SavedScan>(
        `select id::text as id, started_at as "startedAt", saved_at as "savedAt", saved_by as "savedBy", target,
              database, server_version as "serverVersion", tool_version as "toolVersion", score, summary, report
         from compliance.scan_runs
        where $1::text is null or target = $1
        order by started_at desc, id desc
        limit $2`,
        [query.target ?? null, limit],
      );
    }));
  } catch (err) {
    throw wrapPgError(err, 'reading the scan history');
  }
  if (rows.length === 0) {
    throw noHistory(
      query.target === undefined ? 'No scan was saved in this database' : `No scan of ${query.target} was saved`,
      'save scans with `pgwarden check --save` (as a login holding the security_admin role)',
    );
  }
  return rows.map((r) => ({
    ...r,
    id: Number(r.id),
    startedAt: new Date(r.startedAt).toISOString(),
    savedAt: new Date(r.savedAt).toISOString(),
  }));
}

// For this transaction only: the database's default search_path is its owner's choice, and a
// schema of theirs before pg_catalog would resolve the operators and types below to their code,
// run as the login saving or reading the history.
async function catalogSearchPath(client: pg.ClientBase): Promise<void> {
  await client.query(`select pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true)`);
}

// Looked up in the catalogs: to_regclass() on a schema this login may not use raises instead of
// answering, and "not installed" must not be confused with "not allowed".
async function assertHistoryInstalled(client: pg.ClientBase): Promise<void> {
  const { rows } = await client.query<{ ok: boolean }>(
    `select exists (select 1 from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
                     where n.nspname = 'compliance' and c.relname = 'scan_runs') as ok`,
  );
  if (!rows[0]?.ok) {
    throw noHistory(
      'The scan history is not installed in this database',
      "install pgwarden's standard tier or higher (`pgwarden install --tier standard`), which adds the compliance module",
    );
  }
}

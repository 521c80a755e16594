import type pg from 'pg';
import { wrapPgError } from '../db/index.js';

/** What the dashboard's queries run on: a `pg.Pool` (or anything with its `query`). */
export type DashboardDb = Pick<pg.Pool, 'query'>;

/**
 * Runs one statement and returns its rows; `pg` errors become PgwardenErrors with their code
 * (PW600 … raised by pgwarden's SQL keep it).
 *
 * @example
 * const rows = await rows<{ n: number }>(db, 'select 1 as n', []);
 */
export async function rows<T extends pg.QueryResultRow>(
  db: DashboardDb,
  text: string,
  params: unknown[],
): Promise<T[]> {
  try {
    return (await db.query<T>(text, params)).rows;
  } catch (err) {
    throw wrapPgError(err);
  }
}

/**
 * True when the table exists (optional modules: compliance, ledger).
 *
 * @example
 * if (await tableExists(db, 'compliance.scan_runs')) …
 */
export async function tableExists(db: DashboardDb, name: string): Promise<boolean> {
  const [r] = await rows<{ t: string | null }>(db, 'select pg_catalog.to_regclass($1)::text as t', [name]);
  return r?.t !== null && r?.t !== undefined;
}

/**
 * A timestamp as ISO text, null kept.
 *
 * @example
 * iso(row.resolved_at); // '2025-01-31T12:00:00.000Z' or null
 */
export const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

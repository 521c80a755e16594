import type pg from 'pg';
import { ErrorCodes, PgwardenError } from '../errors/index.js';

/** What a scanner or fixer session is pinned to; see `pinSession`. */
export interface SessionLimits {
  /** Every transaction read-only (the scanner); false for the fixer. */
  readOnly: boolean;
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  /** Default 60 s. */
  idleInTransactionMs?: number;
}

const positive = (name: string, ms: number): number => {
  if (!Number.isSafeInteger(ms) || ms < 1) {
    // 0 would switch the limit off: a scan must stay bounded.
    throw new PgwardenError(ErrorCodes.USAGE, `${name} must be a whole number of milliseconds of at least 1`);
  }
  return ms;
};

/**
 * Throws PW001 unless every limit is a whole number of milliseconds of at least 1 (0 would switch
 * the limit off). Call it before connecting when the limits also go into startup options.
 *
 * @example
 * checkLimits({ readOnly: true, statementTimeoutMs: 10_000, lockTimeoutMs: 2_000 });
 */
export function checkLimits(limits: SessionLimits): void {
  positive('statementTimeoutMs', limits.statementTimeoutMs);
  positive('lockTimeoutMs', limits.lockTimeoutMs);
  positive('idleInTransactionMs', limits.idleInTransactionMs ?? 60_000);
}

/**
 * Pins the session's security-relevant settings (session-level set_config, as SET does) right
 * after connecting, before any other query. Startup options alone are not enough: a connection
 * string's `options` replaces them (node-postgres), the `statement_timeout` connection setting
 * overrides them, and the owner of the scanned database can give every session that connects to
 * it a search_path (a schema of theirs before pg_catalog, whose operators and functions would
 * then run as the scanning superuser), a role (the scan would run as them) or
 * standard_conforming_strings = off (backslashes in literals become escapes). A session-level
 * setting outranks all of these.
 *
 * @example
 * const client = await connect(config);
 * await pinSession(client, { readOnly: true, statementTimeoutMs: 10_000, lockTimeoutMs: 2_000 });
 */
export async function pinSession(client: pg.ClientBase, limits: SessionLimits): Promise<void> {
  checkLimits(limits);
  const settings: Array<[string, string]> = [
    // The login's own identity, not a role the database's defaults switch to.
    ['role', 'none'],
    // pg_temp last: the temporary schema never shadows a catalog table or type.
    ['search_path', 'pg_catalog, pg_temp'],
    ['standard_conforming_strings', 'on'],
    ['default_transaction_read_only', limits.readOnly ? 'on' : 'off'],
    ['statement_timeout', String(limits.statementTimeoutMs)],
    ['lock_timeout', String(limits.lockTimeoutMs)],
    ['idle_in_transaction_session_timeout', String(limits.idleInTransactionMs ?? 60_000)],
  ];
  // One qualified function call per setting, names and values bound: nothing here resolves
  // through the search_path it replaces, and the scanner still sends nothing but SELECT.
  await client.query(
    `select ${settings.map((_, i) => `pg_catalog.set_config($${2 * i + 1}, $${2 * i + 2}, false)`).join(', ')}`,
    settings.flat(),
  );
}

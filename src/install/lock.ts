import type pg from 'pg';
import { ErrorCodes, PgwardenError } from '../errors/index.js';

// One key per database (advisory locks are scoped to the current database).
const lockKey = `pg_catalog.hashtextextended('pgwarden.install', 0)`;

/**
 * Holds pgwarden's session-level advisory install lock while `fn` runs. A second installer
 * waits (up to `timeoutMs`, then PW207), and then finds the work already done.
 */
export async function withInstallLock<T>(client: pg.ClientBase, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  await client.query(`select pg_catalog.set_config('lock_timeout', $1, false)`, [`${timeoutMs}ms`]);
  try {
    await client.query(`select pg_catalog.pg_advisory_lock(${lockKey})`);
  } catch (err) {
    if ((err as { code?: string }).code === '55P03') {
      throw new PgwardenError(
        ErrorCodes.INSTALL_LOCK_TIMEOUT,
        `another pgwarden installer held the install lock for over ${timeoutMs} ms`,
        {
          hint: 'wait for it to finish (see pg_stat_activity where application_name = pgwarden), or raise install.lockTimeoutMs',
          cause: err,
        },
      );
    }
    throw err;
  } finally {
    await client.query(`select pg_catalog.set_config('lock_timeout', '0', false)`).catch(() => undefined);
  }
  try {
    return await fn();
  } finally {
    await client.query(`select pg_catalog.pg_advisory_unlock(${lockKey})`).catch(() => undefined);
  }
}

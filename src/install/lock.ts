import type pg from 'pg';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, PgwardenError } from '../errors/index.js';

// One key per database (advisory locks are scoped to the current database).
const lockKey = `pg_catalog.hashtextextended('pgwarden.install', 0)`;

/**
 * Holds pgwarden's session-level advisory install lock while `fn` runs. A second installer
 * polls for it (so Ctrl-C stops the wait at once, PW002), gives up after `timeoutMs` (PW207), and
 * then finds the work already done.
 */
export async function withInstallLock<T>(
  client: pg.ClientBase,
  options: { timeoutMs: number; signal?: AbortSignal | undefined; onWait?: () => void },
  fn: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (let waited = false; ; waited = true) {
    const { rows } = await client.query<{ ok: boolean }>(`select pg_catalog.pg_try_advisory_lock(${lockKey}) as ok`);
    if (rows[0]?.ok) break;
    if (!waited) options.onWait?.();
    if (options.signal?.aborted) {
      throw new PgwardenError(ErrorCodes.INTERRUPTED, 'interrupted while waiting for another installer', {
        hint: 'nothing was changed by this run',
      });
    }
    if (Date.now() > deadline) {
      throw new PgwardenError(
        ErrorCodes.INSTALL_LOCK_TIMEOUT,
        `another pgwarden installer held the install lock for over ${options.timeoutMs} ms`,
        {
          hint: 'wait for it to finish (see pg_stat_activity where application_name = pgwarden), or raise install.lockTimeoutMs',
        },
      );
    }
    await sleep(100);
  }
  try {
    return await fn();
  } finally {
    await client.query(`select pg_catalog.pg_advisory_unlock(${lockKey})`).catch(() => undefined);
  }
}

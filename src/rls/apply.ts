import type pg from 'pg';
import { wrapPgError } from '../db/index.js';
import { PgwardenError } from '../errors/index.js';
import { computePlan, type RlsPlan, type RlsPlanOptions, type RlsStep } from './plan.js';

/** Options of `applyRls`: the plan's, plus how long to wait for table locks. */
export interface RlsApplyOptions extends RlsPlanOptions {
  /** Plan inside the transaction, then roll back: changes nothing. */
  dryRun?: boolean | undefined;
  /** How long to wait for a table lock before giving up (default 10 s). */
  lockTimeoutMs?: number | undefined;
}

/** What `applyRls` did. `applied` is empty when the database already matched. */
export interface RlsApplyResult {
  plan: RlsPlan;
  applied: RlsStep[];
  dryRun: boolean;
}

/**
 * Plans and applies in ONE transaction: every step or none. The plan is computed inside the
 * transaction, after an advisory lock that serialises concurrent applies, so what is applied is
 * what was planned against. Running it twice is a no-op the second time (`applied` is empty).
 *
 * @example
 * const result = await withClient(connection, (c) =>
 *   applyRls(c, { tables: [{ table: 'app.invoices', tenantColumn: 'tenant_id' }] }),
 * );
 * console.log(result.applied.length === 0 ? 'already protected' : `${result.applied.length} change(s)`);
 */
export async function applyRls(client: pg.ClientBase, options: RlsApplyOptions): Promise<RlsApplyResult> {
  await client.query('begin');
  try {
    await client.query(`select pg_catalog.set_config('lock_timeout', $1, true)`, [
      `${options.lockTimeoutMs ?? 10_000}ms`,
    ]);
    await client.query(`select pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('pgwarden.rls'))`);
    const plan = await computePlan(client, options);
    if (options.dryRun) {
      await client.query('rollback');
      return { plan, applied: [], dryRun: true };
    }
    for (const step of plan.steps) {
      try {
        await client.query(step.sql);
      } catch (err) {
        throw wrapPgError(err, `${step.object}: ${step.summary}`);
      }
    }
    await client.query('commit');
    return { plan, applied: plan.steps, dryRun: false };
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err instanceof PgwardenError ? err : wrapPgError(err);
  }
}

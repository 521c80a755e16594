import type pg from 'pg';
import type { MasterKey } from '../../src/auth/crypto/index.js';
import { sealLedger } from '../../src/audit/ledger/index.js';

/**
 * Seals until every committed row is in the ledger. The sealer never seals past a transaction
 * that may still write here, so a test file running beside this one can hold it back a moment.
 */
export async function sealAll(c: pg.Client, masterKey: MasterKey): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const { treeSize } = await sealLedger(c, { masterKey });
    const { n } = (
      await c.query(
        `select (select count(*) from audit.row_changes) + (select count(*) from logs.notification_log) as n`,
      )
    ).rows[0];
    if (treeSize === Number(n)) return treeSize;
    if (attempt > 300) throw new Error(`sealed ${treeSize} of ${n} rows`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

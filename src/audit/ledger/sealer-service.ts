import type pg from 'pg';
import { type PeriodicLog, startPeriodicTask } from '../../db/periodic-task.js';
import type { MasterKey } from '../../auth/crypto/index.js';
import type { Witness } from '../checkpoint/index.js';
import { sealLedger, type SealResult } from './sealer.js';

/** What the sealer service logs through (pino's shape). */
export type SealerLog = PeriodicLog;

/** Options of `startSealerService`. */
export interface SealerServiceOptions {
  connection: pg.ClientConfig;
  masterKey: MasterKey;
  intervalMs: number;
  batchSize?: number;
  witnesses?: readonly Witness[];
  log: SealerLog;
}

/** A running sealer: `close()` lets the current run finish, then stops. */
export interface SealerService {
  /** The last run's result, or null before the first. */
  readonly last: SealResult | null;
  /** Seals now (and waits for it), e.g. before a shutdown. */
  sealNow(): Promise<SealResult | null>;
  close(): Promise<void>;
}

/**
 * Seals on a timer, off the write path: one connection, one run at a time, errors logged (once
 * per distinct error until a run succeeds) and retried on the next tick, never thrown. Also
 * keeps the monthly audit partitions created ahead of time.
 *
 * @example
 * const sealer = startSealerService({ connection, masterKey, intervalMs: 5000, log });
 * // … on shutdown
 * await sealer.close();
 */
export function startSealerService(options: SealerServiceOptions): SealerService {
  let partitionsDay = '';
  const task = startPeriodicTask<SealResult>({
    connection: options.connection,
    applicationName: 'pgwarden-sealer',
    intervalMs: options.intervalMs,
    log: options.log,
    events: { failed: 'ledger-seal-failed', recovered: 'ledger-sealer-recovered' },
    messages: { failed: 'sealing failed; retrying', recovered: 'the ledger sealer works again' },
    run: async (c) => {
      const today = new Date().toISOString().slice(0, 10);
      if (partitionsDay !== today) {
        await c.query('select audit.ensure_partitions()');
        partitionsDay = today;
      }
      const result = await sealLedger(c, {
        masterKey: options.masterKey,
        ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
        ...(options.witnesses ? { witnesses: options.witnesses } : {}),
      });
      if (result.sealed > 0) {
        options.log.info(
          { kind: 'ledger-sealed', sealed: result.sealed, treeSize: result.treeSize, witnesses: result.witnesses },
          'sealed audit rows into the ledger',
        );
      }
      return result;
    },
  });
  return {
    get last() {
      return task.last;
    },
    sealNow: () => task.runNow(),
    close: () => task.close(),
  };
}

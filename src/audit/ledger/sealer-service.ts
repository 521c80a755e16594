import pg from 'pg';
import type { MasterKey } from '../../auth/crypto/index.js';
import type { Witness } from '../checkpoint/index.js';
import { sealLedger, type SealResult } from './sealer.js';

/** What the sealer service logs through (pino's shape). */
export interface SealerLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

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
  let client: pg.Client | null = null;
  let running: Promise<SealResult | null> | null = null;
  let last: SealResult | null = null;
  let lastError: string | null = null;
  let closed = false;
  let partitionsDay = '';

  const connect = async (): Promise<pg.Client> => {
    if (client) return client;
    const c = new pg.Client({ ...options.connection, application_name: 'pgwarden-sealer' });
    c.on('error', () => {
      client = null;
    });
    await c.connect();
    client = c;
    return c;
  };

  const runOnce = async (): Promise<SealResult | null> => {
    try {
      const c = await connect();
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
      last = result;
      if (lastError !== null) options.log.info({ kind: 'ledger-sealer-recovered' }, 'the ledger sealer works again');
      lastError = null;
      if (result.sealed > 0) {
        options.log.info(
          { kind: 'ledger-sealed', sealed: result.sealed, treeSize: result.treeSize, witnesses: result.witnesses },
          'sealed audit rows into the ledger',
        );
      }
      return result;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const key = `${e.code ?? ''}:${e.message ?? String(err)}`;
      if (key !== lastError) {
        options.log.warn({ kind: 'ledger-seal-failed', code: e.code, error: e.message }, 'sealing failed; retrying');
      }
      lastError = key;
      await client?.end().catch(() => undefined);
      client = null;
      return null;
    }
  };

  const tick = (): Promise<SealResult | null> => {
    if (!running) running = runOnce().finally(() => (running = null));
    return running;
  };
  const timer = setInterval(() => {
    if (!closed) void tick();
  }, options.intervalMs);
  timer.unref();
  void tick();

  return {
    get last() {
      return last;
    },
    sealNow: async () => {
      await running;
      return tick();
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await running;
      await client?.end().catch(() => undefined);
      client = null;
    },
  };
}

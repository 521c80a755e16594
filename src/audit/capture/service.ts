import type pg from 'pg';
import { type PeriodicLog, startPeriodicTask } from '../../db/periodic-task.js';
import { captureWal, type WalCaptureResult } from './wal-capture.js';

/** Where the service reports (pgwarden's logger fits). */
export type CaptureLog = PeriodicLog;

export interface CaptureServiceOptions {
  connection: pg.ClientConfig;
  intervalMs: number;
  log: CaptureLog;
}

export interface CaptureService {
  /** The last pass's result, or null before the first (or when WAL capture is not set up). */
  readonly last: WalCaptureResult | null;
  /** Applies the log now (and waits for it), e.g. before sealing or a shutdown. */
  captureNow(): Promise<WalCaptureResult | null>;
  close(): Promise<void>;
}

/**
 * Applies the decoded log to the audit trail at once and then every `intervalMs` on a connection
 * of its own, as `pgwarden up` runs it. A failing pass is logged once per distinct error and
 * retried on the next tick; nothing is lost meanwhile, as the slot keeps the log. Closing runs a
 * last pass, so what was committed before a shutdown reaches the trail then.
 *
 * @example
 * const service = startWalCaptureService({ connection, intervalMs: 1000, log });
 * await service.close();
 */
export function startWalCaptureService(options: CaptureServiceOptions): CaptureService {
  const task = startPeriodicTask<WalCaptureResult | null>({
    connection: options.connection,
    applicationName: 'pgwarden-capture',
    intervalMs: options.intervalMs,
    log: options.log,
    events: { failed: 'wal-capture-failed', recovered: 'wal-capture-recovered' },
    messages: { failed: 'WAL capture failed; retrying', recovered: 'WAL capture works again' },
    runOnClose: true,
    run: async (c) => {
      const result = await captureWal(c);
      if (result && (result.rows > 0 || result.contextMissing > 0)) {
        options.log.info({ kind: 'wal-captured', ...result }, 'applied the decoded log to the audit trail');
      }
      return result;
    },
  });
  return {
    get last() {
      return task.last;
    },
    captureNow: () => task.runNow(),
    close: () => task.close(),
  };
}

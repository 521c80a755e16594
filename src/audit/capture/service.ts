import pg from 'pg';
import { captureWal, type WalCaptureResult } from './wal-capture.js';

/** Where the service reports (pgwarden's logger fits). */
export interface CaptureLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

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
 * Applies the decoded log to the audit trail every `intervalMs` on a connection of its own, as
 * `pgwarden up` runs it. A failing pass is logged once per distinct error and retried on the
 * next tick with a fresh connection; nothing is lost meanwhile, as the slot keeps the log.
 *
 * @example
 * const service = startWalCaptureService({ connection, intervalMs: 1000, log });
 * await service.close();
 */
export function startWalCaptureService(options: CaptureServiceOptions): CaptureService {
  let client: pg.Client | null = null;
  let running: Promise<WalCaptureResult | null> | null = null;
  let last: WalCaptureResult | null = null;
  let lastError: string | null = null;
  let closed = false;

  const connect = async (): Promise<pg.Client> => {
    if (client) return client;
    const c = new pg.Client({ ...options.connection, application_name: 'pgwarden-capture' });
    c.on('error', () => {
      client = null;
    });
    await c.connect();
    client = c;
    return c;
  };

  const runOnce = async (): Promise<WalCaptureResult | null> => {
    try {
      const result = await captureWal(await connect());
      if (lastError !== null) options.log.info({ kind: 'wal-capture-recovered' }, 'WAL capture works again');
      lastError = null;
      if (result) {
        last = result;
        if (result.rows > 0 || result.contextMissing > 0) {
          options.log.info({ kind: 'wal-captured', ...result }, 'applied the decoded log to the audit trail');
        }
      }
      return result;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const key = `${e.code ?? ''}:${e.message ?? String(err)}`;
      if (key !== lastError) {
        options.log.warn(
          { kind: 'wal-capture-failed', code: e.code, error: e.message },
          'WAL capture failed; retrying',
        );
      }
      lastError = key;
      await client?.end().catch(() => undefined);
      client = null;
      return null;
    }
  };

  const tick = (): Promise<WalCaptureResult | null> => {
    if (!running) running = runOnce().finally(() => (running = null));
    return running;
  };
  const timer = setInterval(() => {
    if (!closed) void tick();
  }, options.intervalMs);
  timer.unref();

  return {
    get last() {
      return last;
    },
    captureNow: async () => {
      await running;
      return tick();
    },
    close: async () => {
      closed = true;
      clearInterval(timer);
      await running;
      // What was committed before the shutdown goes into the trail now, not at the next start.
      await runOnce();
      await client?.end().catch(() => undefined);
      client = null;
    },
  };
}

import pg from 'pg';

/** Where a periodic task reports (pgwarden's logger fits). */
export interface PeriodicLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface PeriodicTaskOptions<T> {
  connection: pg.ClientConfig;
  /** application_name of the task's own connection, e.g. 'pgwarden-sealer'. */
  applicationName: string;
  intervalMs: number;
  log: PeriodicLog;
  /** Event kinds logged once per distinct failure and on recovery. */
  events: { failed: string; recovered: string };
  /** Human text of those events, e.g. 'sealing failed; retrying'. */
  messages: { failed: string; recovered: string };
  /** One pass, on the task's connection. */
  run: (client: pg.Client) => Promise<T>;
  /** Run one last pass at close (what was committed before a shutdown is handled now). */
  runOnClose?: boolean;
}

export interface PeriodicTask<T> {
  /** The last successful pass's result, or null before the first. */
  readonly last: T | null;
  /** Runs a pass now (after the one in progress) and waits for it; null when it failed. */
  runNow(): Promise<T | null>;
  close(): Promise<void>;
}

/**
 * Runs `run` at once and then every `intervalMs` on a connection of its own, one pass at a time,
 * as `pgwarden up` runs its services. A failing pass is logged once per distinct error (code and
 * message), its connection dropped, and the next tick retries with a fresh one; recovery is
 * logged too. Timers are unref'd: the task never keeps the process alive by itself.
 *
 * @example
 * const task = startPeriodicTask({ connection, applicationName: 'pgwarden-x', intervalMs: 1000, log,
 *   events: { failed: 'x-failed', recovered: 'x-recovered' },
 *   messages: { failed: 'x failed; retrying', recovered: 'x works again' },
 *   run: (c) => c.query('select 1') });
 * await task.close();
 */
export function startPeriodicTask<T>(options: PeriodicTaskOptions<T>): PeriodicTask<T> {
  let client: pg.Client | null = null;
  let running: Promise<T | null> | null = null;
  let last: T | null = null;
  let lastError: string | null = null;
  let closed = false;

  const connect = async (): Promise<pg.Client> => {
    if (client) return client;
    const c = new pg.Client({ ...options.connection, application_name: options.applicationName });
    c.on('error', () => {
      client = null;
    });
    await c.connect();
    client = c;
    return c;
  };

  const runOnce = async (): Promise<T | null> => {
    try {
      const result = await options.run(await connect());
      last = result;
      if (lastError !== null) options.log.info({ kind: options.events.recovered }, options.messages.recovered);
      lastError = null;
      return result;
    } catch (err) {
      const e = err as { code?: string; message?: string };
      const key = `${e.code ?? ''}:${e.message ?? String(err)}`;
      if (key !== lastError) {
        options.log.warn({ kind: options.events.failed, code: e.code, error: e.message }, options.messages.failed);
      }
      lastError = key;
      await client?.end().catch(() => undefined);
      client = null;
      return null;
    }
  };

  const tick = (): Promise<T | null> => {
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
    runNow: async () => {
      await running;
      return tick();
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await running;
      if (options.runOnClose) await runOnce();
      await client?.end().catch(() => undefined);
      client = null;
    },
  };
}

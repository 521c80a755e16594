/**
 * The loop of the polling sources (audit trail, statistics): one pass at once and then every
 * `intervalMs` on a connection of their own. A failing pass drops the connection and the next
 * one opens a fresh one; the loss and the recovery are reported once each, not on every tick.
 */
import type pg from 'pg';
import { toPgwardenError } from '../../errors/index.js';
import { connectPrimary, type PrimaryConnectionOptions } from './connect-primary.js';
import { closeClient, WakeSignal } from './db-session.js';
import type { SourceStateListener } from './source-state.js';

/** Options of {@link PollingLoop}. */
export interface PollingLoopOptions {
  /** Source name in state events. */
  source: string;
  connection: PrimaryConnectionOptions;
  /** application_name of the loop's connection. */
  applicationName: string;
  intervalMs: number;
  onState: SourceStateListener;
  /** One pass on the loop's connection. */
  pass: (client: pg.Client) => Promise<void>;
}

/**
 * Runs `pass` periodically, one at a time.
 *
 * @example
 * const loop = new PollingLoop({ source: 'stats', connection, applicationName: 'pgwarden-stats',
 *   intervalMs: 10_000, onState, pass: (client) => sample(client) });
 * await loop.start();
 * await loop.close();
 */
export class PollingLoop {
  readonly #o: PollingLoopOptions;
  readonly #signal = new WakeSignal();
  #client: pg.Client | undefined;
  #closing = false;
  #failing: string | undefined;
  #everConnected = false;
  #downSince: number | undefined;
  #loop: Promise<void> | undefined;
  #waiting: Array<() => void> = [];

  constructor(options: PollingLoopOptions) {
    this.#o = options;
  }

  /** True while the last pass succeeded. */
  get healthy(): boolean {
    return this.#everConnected && this.#failing === undefined;
  }

  /** Runs the first pass (the promise resolves after it), then keeps polling in the background. */
  start(): Promise<void> {
    let firstDone!: () => void;
    const first = new Promise<void>((resolve) => (firstDone = resolve));
    this.#loop = (async () => {
      if (!this.#closing) await this.#once();
      firstDone();
      await this.#run();
    })();
    return first;
  }

  /** Runs a pass now (after the one in progress) and waits for it. */
  async runNow(): Promise<void> {
    if (this.#closing) return;
    const done = new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#signal.wake();
    await done;
  }

  /** Waits for the pass in progress, then closes the connection. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#signal.wake();
    await this.#loop;
    for (const resolve of this.#waiting.splice(0)) resolve();
    if (this.#client) await closeClient(this.#client);
    this.#client = undefined;
  }

  async #run(): Promise<void> {
    while (!this.#closing) {
      await this.#signal.wait(this.#o.intervalMs);
      this.#signal.pending = false;
      if (this.#closing) return;
      await this.#once();
    }
  }

  async #once(): Promise<void> {
    const waiters = this.#waiting.splice(0);
    try {
      this.#client ??= await this.#connect();
      await this.#o.pass(this.#client);
      if (this.#failing !== undefined) {
        const client = this.#client;
        this.#o.onState({
          kind: 'reconnected',
          source: this.#o.source,
          host: String(client.host),
          port: Number(client.port),
          downMs: Date.now() - (this.#downSince ?? Date.now()),
        });
      }
      this.#failing = undefined;
      this.#downSince = undefined;
    } catch (err) {
      const error = toPgwardenError(err);
      const key = `${error.code}:${error.message}`;
      if (key !== this.#failing) {
        this.#o.onState({ kind: 'disconnected', source: this.#o.source, error, retryInMs: this.#o.intervalMs });
      }
      this.#failing = key;
      this.#downSince ??= Date.now();
      if (this.#client) await closeClient(this.#client);
      this.#client = undefined;
    } finally {
      for (const resolve of waiters) resolve();
    }
  }

  async #connect(): Promise<pg.Client> {
    const client = await connectPrimary({ application_name: this.#o.applicationName, ...this.#o.connection });
    if (!this.#everConnected) {
      this.#everConnected = true;
      this.#o.onState({
        kind: 'connected',
        source: this.#o.source,
        host: String(client.host),
        port: Number(client.port),
      });
    }
    return client;
  }
}

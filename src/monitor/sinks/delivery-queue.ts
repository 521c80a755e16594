import type pg from 'pg';
import { connect, type ConnectionConfig } from '../../db/client.js';
import { wrapPgError } from '../../db/pg-errors.js';
import { isPgwardenError, type PgwardenError } from '../../errors/index.js';
import { type AlertPayload, type DeliveryAction, idempotencyKey, redactText } from '../alerts/index.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import type { DeliveryEvent, DeliveryPassResult } from './delivery-events.js';
import { type Sink, SinkFailedError } from './sink.js';

/** Options of {@link DeliveryQueue}. */
export interface DeliveryQueueOptions {
  /** The queue opens one connection of its own. */
  connection: ConnectionConfig;
  /** Sinks by name; the queue takes only deliveries for these. */
  sinks: ReadonlyMap<string, Sink>;
  /** Now in ms since the epoch (due times, backoff). Default Date.now. */
  clock?: () => number;
  /** Jitter source (default Math.random). */
  random?: () => number;
  /** Deliveries taken per pass (default 20). */
  batchSize?: number;
  /** Attempts before a delivery is dead (default 12). */
  maxAttempts?: number;
  backoff?: BackoffPolicy;
  /**
   * How long a taken delivery belongs to this monitor (default 120 000 ms). Longer than any sink's
   * timeout: a monitor that crashed mid-send loses its deliveries to another after this.
   */
  leaseMs?: number;
  /** application_name of the queue's connection (default `pgwarden-monitor-queue`). */
  applicationName?: string;
  onEvent?: (event: DeliveryEvent) => void;
}

interface Claimed {
  id: string;
  alert_id: string;
  sink: string;
  action: DeliveryAction;
  payload: AlertPayload;
  attempts: number;
}

type Outcome = { ok: true } | { ok: false; error: SinkFailedError };

// One short statement is the claim's whole transaction: due rows are locked (SKIP LOCKED, so two
// monitors split them), leased by moving next_attempt_at past the lease, counted as an attempt and
// committed before anything is sent. No row lock is held during a send.
const CLAIM = `
  with due as (
    select d.id from monitor.deliveries d
    where d.state = 'pending' and d.next_attempt_at <= $2 and d.sink = any($1::text[])
    order by d.next_attempt_at, d.id
    limit $3
    for update skip locked
  )
  update monitor.deliveries d set attempts = d.attempts + 1, next_attempt_at = $4
  from due where d.id = due.id
  returning d.id, d.alert_id, d.sink, d.action, d.payload, d.attempts`;

/**
 * Sends the queued deliveries (monitor.deliveries, written by the AlertStore in the alert's own
 * transaction) with retries, safe with several monitors on one database: a pass leases due rows
 * in one short transaction, sends outside any lock, then marks each delivered, rescheduled with
 * exponential backoff and jitter, or dead (a permanent refusal, or `maxAttempts` reached). A
 * monitor that dies between the send and the mark leaves the lease to expire and the delivery is
 * sent again with the same idempotency key `<alert id>:<action>:<delivery id>` (at-least-once;
 * the receiver dedupes, F-09).
 *
 * @example
 * const queue = new DeliveryQueue({ connection, sinks: new Map([[sink.name, sink]]), onEvent: (e) => log.info(e) });
 * queue.start(1000);
 * // …
 * await queue.close(); // finishes the sends in flight
 */
export class DeliveryQueue {
  readonly #o: DeliveryQueueOptions;
  readonly #clock: () => number;
  #client: pg.Client | null = null;
  #chain: Promise<unknown> = Promise.resolve();
  // Outcomes of parallel sends are recorded one statement at a time on the one connection.
  #serial: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #depth = 0;
  readonly #stats = { delivered: 0, failed: 0, dead: 0 };

  constructor(options: DeliveryQueueOptions) {
    this.#o = options;
    this.#clock = options.clock ?? Date.now;
  }

  /** Totals since the queue was created. */
  get stats(): Readonly<{ delivered: number; failed: number; dead: number }> {
    return { ...this.#stats };
  }

  /** Pending deliveries (due or waiting for a retry) as of the last pass: for the metrics gauge. */
  depth(): number {
    return this.#depth;
  }

  #emit(event: DeliveryEvent): void {
    try {
      this.#o.onEvent?.(event);
    } catch {
      // an observer's failure must not stop deliveries
    }
  }

  async #connection(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    const client = await connect({
      ...this.#o.connection,
      application_name: this.#o.applicationName ?? 'pgwarden-monitor-queue',
    });
    client.on('error', () => {
      if (this.#client === client) this.#client = null;
    });
    this.#client = client;
    return client;
  }

  #query<R extends pg.QueryResultRow>(client: pg.Client, text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    const run = this.#serial.then(() => client.query<R>(text, values));
    this.#serial = run.catch(() => undefined);
    return run;
  }

  #drop(): void {
    const client = this.#client;
    this.#client = null;
    client?.end().catch(() => undefined);
  }

  /**
   * One pass: takes up to `batchSize` due deliveries, sends them in parallel and records each
   * outcome. Throws (PW110/PW119) when the database cannot be reached or an outcome could not be
   * recorded; those deliveries are sent again once their lease ends.
   *
   * @example
   * const { delivered, failed, dead } = await queue.runOnce();
   */
  runOnce(): Promise<DeliveryPassResult> {
    const pass = this.#chain.then(() => this.#pass());
    this.#chain = pass.catch(() => undefined);
    return pass;
  }

  async #pass(): Promise<DeliveryPassResult> {
    const result: DeliveryPassResult = { claimed: 0, delivered: 0, failed: 0, dead: 0 };
    let client: pg.Client;
    let rows: Claimed[];
    try {
      client = await this.#connection();
      const now = this.#clock();
      const claim = await client.query<Claimed>(CLAIM, [
        [...this.#o.sinks.keys()],
        new Date(now),
        this.#o.batchSize ?? 20,
        new Date(now + (this.#o.leaseMs ?? 120_000)),
      ]);
      rows = claim.rows.map((r) => ({ ...r, id: String(r.id), alert_id: String(r.alert_id) }));
    } catch (err) {
      this.#drop();
      throw wrapPgError(err, 'delivery queue');
    }
    result.claimed = rows.length;
    const unrecorded: unknown[] = [];
    await Promise.all(
      rows.map(async (row) => {
        const outcome = await this.#send(row);
        try {
          await this.#record(client, row, outcome, result);
        } catch (err) {
          unrecorded.push(err);
        }
      }),
    );
    if (unrecorded.length > 0) {
      this.#drop();
      throw wrapPgError(
        unrecorded[0],
        `delivery queue: ${unrecorded.length} outcome(s) not recorded; sent again after the lease`,
      );
    }
    await this.#refreshDepth(client).catch(() => this.#drop());
    return result;
  }

  async #send(row: Claimed): Promise<Outcome> {
    const sink = this.#o.sinks.get(row.sink)!;
    try {
      await sink.send({
        action: row.action,
        payload: row.payload,
        idempotencyKey: idempotencyKey(row.alert_id, row.action, row.id),
      });
      return { ok: true };
    } catch (err) {
      if (err instanceof SinkFailedError) return { ok: false, error: err };
      const message = err instanceof Error ? err.message : String(err);
      return { ok: false, error: new SinkFailedError(row.sink, message, { cause: err }) };
    }
  }

  async #record(client: pg.Client, row: Claimed, outcome: Outcome, result: DeliveryPassResult): Promise<void> {
    const base = {
      deliveryId: row.id,
      alertId: row.alert_id,
      sink: row.sink,
      action: row.action,
      attempt: row.attempts,
    };
    const now = this.#clock();
    if (outcome.ok) {
      await this.#query(
        client,
        `update monitor.deliveries set state = 'delivered', delivered_at = $2, last_error = null
         where id = $1 and state <> 'delivered'`,
        [row.id, new Date(now)],
      );
      result.delivered += 1;
      this.#stats.delivered += 1;
      return this.#emit({ kind: 'delivery-sent', ...base });
    }
    const error = redactText(outcome.error.message).slice(0, 1000);
    const dead = outcome.error.permanent || row.attempts >= (this.#o.maxAttempts ?? 12);
    const retryAt = now + backoffDelay(row.attempts, this.#o.backoff, this.#o.random, outcome.error.retryAfterMs);
    // Fenced by the attempt count: if the lease ran out and another monitor took the row, its
    // outcome is the one that counts.
    await this.#query(
      client,
      `update monitor.deliveries set state = $3, next_attempt_at = $4, last_error = $5
       where id = $1 and attempts = $2 and state = 'pending'`,
      [row.id, row.attempts, dead ? 'dead' : 'pending', new Date(dead ? now : retryAt), error],
    );
    if (dead) {
      result.dead += 1;
      this.#stats.dead += 1;
      this.#emit({ kind: 'delivery-dead', ...base, error });
    } else {
      result.failed += 1;
      this.#stats.failed += 1;
      this.#emit({ kind: 'delivery-retry', ...base, error, retryAt });
    }
  }

  async #refreshDepth(client: pg.Client): Promise<void> {
    const { rows } = await this.#query<{ n: string }>(
      client,
      `select pg_catalog.count(*) as n from monitor.deliveries where state = 'pending'`,
      [],
    );
    this.#depth = Number(rows[0]?.n ?? 0);
  }

  /**
   * Runs a pass now and then every `intervalMs` (at once again while passes come back full).
   * Failures are reported as `delivery-queue-error` events and retried on the next tick. The
   * timer does not keep the process alive by itself.
   *
   * @example
   * queue.start(1000);
   */
  start(intervalMs: number): void {
    if (this.#timer !== undefined || this.#closed) return;
    const tick = async () => {
      let full = false;
      try {
        const r = await this.runOnce();
        full = r.claimed > 0 && r.claimed >= (this.#o.batchSize ?? 20);
      } catch (err) {
        const e: PgwardenError | undefined = isPgwardenError(err) ? err : undefined;
        this.#emit({
          kind: 'delivery-queue-error',
          code: e?.code ?? 'PW000',
          error: redactText(err instanceof Error ? err.message : String(err)).slice(0, 500),
        });
      }
      if (!this.#closed) this.#timer = setTimeout(tick, full ? 0 : intervalMs).unref();
    };
    this.#timer = setTimeout(tick, 0).unref();
  }

  /**
   * Stops the timer, waits for the pass in flight (its sends finish and are recorded) and closes
   * the connection.
   *
   * @example
   * await queue.close();
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#chain;
    this.#drop();
  }
}

/**
 * The security-event source: pgwarden's own events (logs.notification_log) as they commit.
 *
 * A trigger sends NOTIFY pgwarden_monitor on every insert, but a notification only means
 * "something new": they are folded, lost while disconnected, and carry nothing we trust. The
 * rows are always read by id, so the order on every (re)connect is LISTEN first, then catch up
 * by id: a row committed in between is either read by the catch-up or announced afterwards. A
 * poll every `pollIntervalMs` is the safety net, and a ping every `keepAliveMs` (with a deadline)
 * notices a connection that died silently. Ids that commit out of order are handled by
 * {@link IdCursor}: ids still missing after the gap window are re-read on a slow schedule, and the
 * batches carry `monitor.events_late` / `monitor.events_skipped` when such ids are delivered late or
 * given up. The position is saved after `onEvents` resolves, so a clean close and restart
 * repeats nothing, and a crash in between repeats (never loses) the last batch.
 */
import type pg from 'pg';
import { ErrorCodes, PgwardenError, toPgwardenError } from '../../errors/index.js';
import type { PositionStore, UntimedEvent } from '../event.js';
import { connectPrimary, type PrimaryConnectionOptions } from './connect-primary.js';
import { closeClient, connectionLost, timedQuery, WakeSignal } from './db-session.js';
import { type GapPolicy, type IdCursor } from './id-cursor.js';
import { IdReader } from './id-reader.js';
import { SECURITY_EVENT_COLUMNS, type SecurityEventRow, securityEventFromRow } from './security-event-row.js';
import type { SourceStateListener, SourceStatus } from './source-state.js';

/**
 * The channel monitor 0001's trigger notifies (payload: the highest new id, a hint only).
 *
 * @example
 * await client.query(`listen ${MONITOR_CHANNEL}`);
 */
export const MONITOR_CHANNEL = 'pgwarden_monitor';

/** Options of {@link SecurityEventSource}. */
export interface SecurityEventSourceOptions {
  /** Where to read; several hosts and `targetSessionAttrs: 'read-write'` follow a failover. */
  connection: PrimaryConnectionOptions;
  positions: PositionStore;
  /** Key in the position store (default 'security-events'). */
  sourceName?: string;
  /** Receives each batch in id order; the position is saved once it resolves. */
  onEvents: (events: UntimedEvent[]) => Promise<void>;
  onState?: SourceStateListener;
  /** Rows per read (default 500). */
  batchSize?: number;
  /** Safety-net poll (default 5 000 ms). */
  pollIntervalMs?: number;
  /** Ping when idle this long (default 10 000 ms). */
  keepAliveMs?: number;
  /** A ping unanswered this long drops the connection (default 5 000 ms). */
  keepAliveTimeoutMs?: number;
  /** Any other query unanswered this long drops the connection (default 30 000 ms). */
  queryTimeoutMs?: number;
  /** Reconnect backoff, doubling from `initialMs` up to `maxMs` (default 250 → 30 000 ms). */
  reconnect?: { initialMs?: number; maxMs?: number };
  /** How long ids below the position are awaited (see IdCursor). */
  gaps?: Partial<GapPolicy>;
  /** pg_notification_queue_usage() above this raises monitor.notify_queue_pressure (default 0.5). */
  queuePressureThreshold?: number;
  /** The monitor's clock (ms), for gap timing and the pressure event's id. */
  clock?: () => number;
  /** Where a first run starts: 'end' (default, the newest id now) or 'beginning'. */
  startAt?: 'end' | 'beginning';
}

/**
 * Follows logs.notification_log. `start()` resolves once the first connection attempt is done
 * (rejecting only on what retrying cannot fix: a standby (PW603), a refused login, no pgwarden
 * schema); after that it reconnects on its own, reporting through `onState`.
 *
 * @example
 * const source = new SecurityEventSource({ connection, positions: new DbPositionStore(pool),
 *   onEvents: async (events) => pipeline.push(events), onState: (s) => log.info(s) });
 * await source.start();
 * // … on shutdown:
 * await source.close();
 */
export class SecurityEventSource {
  readonly #o: SecurityEventSourceOptions;
  readonly #name: string;
  readonly #signal = new WakeSignal();
  readonly #reader: IdReader<SecurityEventRow>;
  #status: SourceStatus = 'starting';
  #closing = false;
  #loop: Promise<void> | undefined;
  #pressured = false;
  #client: pg.Client | undefined;

  constructor(options: SecurityEventSourceOptions) {
    this.#o = options;
    this.#name = options.sourceName ?? 'security-events';
    this.#reader = new IdReader<SecurityEventRow>({
      source: this.#name,
      table: 'logs.notification_log',
      columns: SECURITY_EVENT_COLUMNS,
      positions: options.positions,
      batchSize: options.batchSize ?? 500,
      gaps: options.gaps,
      clock: options.clock ?? Date.now,
      startAt: options.startAt ?? 'end',
      queryTimeoutMs: options.queryTimeoutMs ?? 30_000,
      onState: (s) => options.onState?.(s),
      extraSnapshotColumns: 'pg_catalog.pg_notification_queue_usage() as queue_usage',
    });
  }

  /** 'starting', 'running', 'disconnected', 'failed' or 'closed'. */
  get status(): SourceStatus {
    return this.#status;
  }

  /** The read position (highest id delivered and the open gaps), undefined before the first connect. */
  get cursor(): IdCursor | undefined {
    return this.#reader.cursor;
  }

  /** The backend pid of the listening connection, while connected (for diagnostics and tests). */
  get backendPid(): number | undefined {
    return (this.#client as (pg.Client & { processID?: number }) | undefined)?.processID;
  }

  /** Connects, listens and catches up; see the class comment for when it rejects. */
  async start(): Promise<void> {
    if (this.#loop) throw new PgwardenError(ErrorCodes.INTERNAL, 'the source was started already');
    let first!: { resolve: () => void; reject: (e: unknown) => void };
    const started = new Promise<void>((resolve, reject) => (first = { resolve, reject }));
    this.#loop = this.#run(first);
    await started;
  }

  /** Reads now rather than at the next notification or poll. */
  poke(): void {
    this.#signal.wake();
  }

  /** Finishes the batch in hand (handler and position save), then closes the connection. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#signal.wake();
    await this.#loop;
    this.#status = 'closed';
  }

  async #run(first: { resolve: () => void; reject: (e: unknown) => void }): Promise<void> {
    const initialMs = this.#o.reconnect?.initialMs ?? 250;
    const maxMs = this.#o.reconnect?.maxMs ?? 30_000;
    let delay = initialMs;
    let downSince: number | undefined;
    let everConnected = false;
    while (!this.#closing) {
      let client: pg.Client | undefined;
      let failure: PgwardenError | undefined;
      try {
        client = await connectPrimary({ application_name: 'pgwarden-monitor', ...this.#o.connection });
        this.#client = client;
        const lost = connectionLost(client);
        client.on('notification', (n) => {
          if (n.channel === MONITOR_CHANNEL) this.#signal.wake();
        });
        await this.#listen(client);
        const where = { source: this.#name, host: String(client.host), port: Number(client.port) };
        this.#o.onState?.(
          downSince === undefined
            ? { kind: 'connected', ...where }
            : { kind: 'reconnected', ...where, downMs: Date.now() - downSince },
        );
        this.#status = 'running';
        downSince = undefined;
        delay = initialMs;
        // Everything committed before LISTEN took effect is read here; later commits notify.
        // Not raced against `lost`: its queries fail on their own when the connection goes,
        // and a pass still in its handler must finish before another session reads.
        await this.#catchUp(client);
        everConnected = true;
        first.resolve();
        await this.#follow(client, lost);
      } catch (err) {
        failure = toPgwardenError(err);
      } finally {
        this.#client = undefined;
        if (client) await closeClient(client);
      }
      if (failure === undefined) continue;
      if (!everConnected && isPermanent(failure)) {
        this.#status = 'failed';
        first.reject(failure);
        return;
      }
      downSince ??= Date.now();
      this.#status = 'disconnected';
      this.#o.onState?.({ kind: 'disconnected', source: this.#name, error: failure, retryInMs: delay });
      first.resolve();
      // A notification pending from the lost session must not skip the backoff: the catch-up
      // after reconnecting reads whatever it announced.
      this.#signal.pending = false;
      if (!this.#closing) await this.#signal.wait(delay);
      delay = Math.min(delay * 2, maxMs);
    }
  }

  /** Waits for a notification, the poll interval or the ping interval, and acts; returns on close. */
  async #follow(client: pg.Client, lost: Promise<never>): Promise<void> {
    const pollMs = this.#o.pollIntervalMs ?? 5_000;
    const keepAliveMs = this.#o.keepAliveMs ?? 10_000;
    let nextPoll = Date.now() + pollMs;
    let nextPing = Date.now() + keepAliveMs;
    for (;;) {
      await Promise.race([this.#signal.wait(Math.min(nextPoll, nextPing) - Date.now()), lost]);
      if (this.#closing) return;
      const now = Date.now();
      if (this.#signal.pending || now >= nextPoll) {
        this.#signal.pending = false;
        await this.#catchUp(client);
        nextPoll = Date.now() + pollMs;
        nextPing = Date.now() + keepAliveMs;
      } else if (now >= nextPing) {
        await timedQuery(client, 'select 1', [], this.#o.keepAliveTimeoutMs ?? 5_000);
        nextPing = Date.now() + keepAliveMs;
      }
    }
  }

  async #listen(client: pg.Client): Promise<void> {
    try {
      await timedQuery(client, `listen ${MONITOR_CHANNEL}`, [], this.#o.queryTimeoutMs ?? 30_000);
    } catch (err) {
      const e = toPgwardenError(err);
      if (e.sqlState !== '25006') throw e;
      throw new PgwardenError(
        ErrorCodes.MONITOR_SOURCE_FAILED,
        `Cannot follow security events on ${String(client.host)}:${String(client.port)}: the server is a standby (${e.message})`,
        {
          sqlState: e.sqlState,
          cause: err,
          hint: 'point the monitor at the primary, or list every server with targetSessionAttrs read-write',
        },
      );
    }
  }

  /** Reads until nothing new is left, handing each batch to onEvents. */
  async #catchUp(client: pg.Client): Promise<void> {
    for (;;) {
      const pass = await this.#reader.read(client);
      const events = [...pass.monitorEvents, ...pass.rows.map(securityEventFromRow)];
      const usage = Number(pass.snapshot.extra.queue_usage ?? 0);
      const pressure = this.#pressureEvent(usage, pass.snapshot.at);
      if (pressure) events.unshift(pressure);
      if (events.length > 0) {
        try {
          await this.#o.onEvents(events);
        } catch (err) {
          this.#o.onState?.({ kind: 'handler-failed', source: this.#name, error: toPgwardenError(err) });
          return;
        }
      }
      if (pressure) this.#pressured = true;
      await this.#reader.commit(pass);
      if (!pass.more || this.#closing) return;
    }
  }

  /**
   * monitor.notify_queue_pressure once per crossing of the threshold. It re-arms only once the
   * usage falls below 80 % of the threshold, so a queue hovering at the line alerts once.
   */
  #pressureEvent(usage: number, at: number): UntimedEvent | undefined {
    const threshold = this.#o.queuePressureThreshold ?? 0.5;
    if (this.#pressured && usage < threshold * 0.8) this.#pressured = false;
    if (this.#pressured || !(usage > threshold)) return undefined;
    return {
      id: `monitor:notify_queue_pressure:${at}`,
      source: 'monitor',
      type: 'monitor.notify_queue_pressure',
      severity: 'warning',
      fields: { usage, threshold },
      message: `the NOTIFY queue is ${(usage * 100).toFixed(1)} % full: a listener is not consuming (an idle transaction holding LISTEN?); writers fail once it is full`,
    };
  }
}

/** Errors retrying cannot fix, reported by start() instead of retried for ever. */
function isPermanent(error: PgwardenError): boolean {
  return (
    error.code === ErrorCodes.MONITOR_SOURCE_FAILED ||
    error.code === ErrorCodes.CONNECTION_AUTH_FAILED ||
    error.code === ErrorCodes.CONNECTION_NO_DATABASE ||
    error.sqlState === '42P01' ||
    error.sqlState === '3F000' ||
    error.sqlState === '42501'
  );
}

import pg from 'pg';
import { type ConnectionConfig, withTransaction } from '../../db/client.js';
import { wrapPgError } from '../../db/pg-errors.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import type { AlertSeverity, AlertSignal } from '../alert-signal.js';
import type { AlertPayloadOptions } from './alert-payload.js';
import {
  type AlertChange,
  type AlertRecord,
  type AlertStatus,
  type DeliveryAction,
  toAlertChange,
  toAlertRecord,
} from './alert-record.js';
import { cleanSignal, enqueueDeliveries, recordSignal, type RecordResult } from './record-signal.js';
import { currentSilences, insertSilence, type SilenceInput, type SilenceRecord } from './silences.js';

/** Options of {@link AlertStore}. */
export interface AlertStoreOptions extends AlertPayloadOptions {
  /** A pool to share (not ended by `close`), or settings for a pool of the store's own. */
  connection: ConnectionConfig | pg.Pool;
  /**
   * Now, in ms since the epoch: suppression windows, silences, and when queued deliveries fall due
   * (the DeliveryQueue compares with its own clock; both default to Date.now).
   */
  clock?: () => number;
  /**
   * Sinks told about acknowledge and resolve (those with `supportsLifecycle`, e.g. PagerDuty);
   * each hears only of alerts it was sent.
   */
  lifecycleSinks?: readonly string[];
}

/** Filters of {@link AlertStore.list}. */
export interface AlertListQuery {
  status?: AlertStatus | readonly AlertStatus[];
  severity?: AlertSeverity | readonly AlertSeverity[];
  /** At most this many, newest first (default 50, at most 1000). */
  limit?: number;
  /** Only alerts with an id below this one (the next page). */
  before?: string;
}

/** One delivery of an alert, as `AlertStore.get` lists them. */
export interface AlertDelivery {
  id: string;
  sink: string;
  action: DeliveryAction;
  state: 'pending' | 'delivered' | 'dead';
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

/** An alert with its lifecycle history and deliveries. */
export interface AlertDetail extends AlertRecord {
  changes: AlertChange[];
  deliveries: AlertDelivery[];
}

const SINK_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
const RULE_ID = /^[a-z0-9][a-z0-9_.-]{0,99}$/;
const asList = <T>(v: T | readonly T[] | undefined): T[] | null =>
  v === undefined ? null : Array.isArray(v) ? [...(v as readonly T[])] : [v as T];

/**
 * The monitor's alerts in monitor.alerts: one row per incident with a counter (M-12), silences,
 * the suppression window, the open → acknowledged → resolved lifecycle, and the delivery outbox
 * (monitor.deliveries rows written in the alert's own transaction, sent by the DeliveryQueue).
 *
 * @example
 * const store = new AlertStore({ connection, lifecycleSinks: ['pagerduty'] });
 * const r = await store.record(signal, ['ops-webhook', 'pagerduty']);
 * await store.setStatus(r.alert.id, 'acknowledged', 'alice@example.com', 'looking');
 * await store.close();
 */
export class AlertStore {
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;
  readonly #clock: () => number;
  readonly #options: AlertStoreOptions;

  constructor(options: AlertStoreOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    if (options.connection instanceof pg.Pool) {
      this.#pool = options.connection;
      this.#ownsPool = false;
    } else {
      this.#pool = new pg.Pool({ application_name: 'pgwarden-monitor', max: 4, ...options.connection });
      this.#pool.on('error', () => undefined); // an idle client lost; the next query reconnects
      this.#ownsPool = true;
    }
  }

  async #tx<T>(fn: (tx: pg.ClientBase) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (err) {
      throw wrapPgError(err, 'alert store');
    }
    // A server gone mid-transaction makes a checked-out client emit 'error'; without a listener
    // that is an uncaught exception. The client is then destroyed instead of going back to the pool.
    let lost: Error | undefined;
    const onError = (e: Error) => {
      lost = e;
    };
    client.on('error', onError);
    try {
      return await withTransaction(client, fn);
    } catch (err) {
      throw wrapPgError(err);
    } finally {
      client.off('error', onError);
      client.release(lost);
    }
  }

  /**
   * Records a detection in one transaction: a new alert for a new incident (a 'trigger' delivery
   * per sink unless silenced), or more of a live one merged into its row (occurrences, event
   * count, evidence capped at 200, an 'update' delivery only once the rule's suppression window
   * since the last notification has passed). Every string is redacted before it is stored.
   *
   * @example
   * const { alert, action } = await store.record(signal, ['ops-webhook']);
   */
  async record(signal: AlertSignal, sinks: readonly string[]): Promise<RecordResult> {
    for (const sink of sinks) {
      if (!SINK_NAME.test(sink)) {
        throw new PgwardenError(ErrorCodes.MONITOR_SINK_INVALID, `sink name ${JSON.stringify(sink)} is not valid`, {
          hint: 'sink names are 1-64 characters: lower case letters, digits, ".", "_" and "-"',
        });
      }
    }
    if (!RULE_ID.test(signal.rule.id)) {
      throw new PgwardenError(
        ErrorCodes.MONITOR_RULE_INVALID,
        `rule id ${JSON.stringify(signal.rule.id)} is not valid`,
      );
    }
    const clean = cleanSignal(signal);
    return this.#tx((tx) => recordSignal(tx, clean, { ...this.#options, now: this.#clock(), sinks }));
  }

  /**
   * Records several signals in order, each in its own transaction (the pipeline's `onSignals`).
   *
   * @example
   * await store.recordAll(signals, ['ops-webhook']);
   */
  async recordAll(signals: readonly AlertSignal[], sinks: readonly string[]): Promise<RecordResult[]> {
    const out: RecordResult[] = [];
    for (const s of signals) out.push(await this.record(s, sinks));
    return out;
  }

  /**
   * Moves an alert along its lifecycle through monitor.set_alert_status() (which records the
   * change and a security event) and queues 'acknowledge' / 'resolve' deliveries for the
   * lifecycle sinks that were sent the alert. Throws PW600 (MONITOR_ALERT_TRANSITION) for a move
   * backwards and PW601 (MONITOR_ALERT_NOT_FOUND) for an unknown alert.
   *
   * @example
   * await store.setStatus('42', 'resolved', 'alice@example.com', 'password reset, IP blocked');
   */
  async setStatus(
    alertId: string,
    status: 'acknowledged' | 'resolved',
    actor: string,
    note?: string,
  ): Promise<AlertRecord> {
    if (!/^[1-9][0-9]{0,18}$/.test(alertId)) {
      throw new PgwardenError(ErrorCodes.MONITOR_ALERT_NOT_FOUND, `alert ${JSON.stringify(alertId)} does not exist`);
    }
    return this.#tx(async (tx) => {
      const { rows } = await tx.query('select * from monitor.set_alert_status($1::bigint, $2, $3, $4)', [
        alertId,
        status,
        actor,
        note ?? null,
      ]);
      const alert = toAlertRecord(rows[0]!);
      const lifecycle = this.#options.lifecycleSinks ?? [];
      if (lifecycle.length > 0) {
        const sent = await tx.query<{ sink: string }>(
          `select distinct d.sink from monitor.deliveries d
           where d.alert_id = $1 and d.action in ('trigger', 'update') and d.sink = any($2::text[])`,
          [alertId, [...lifecycle]],
        );
        const action: DeliveryAction = status === 'acknowledged' ? 'acknowledge' : 'resolve';
        const sinks = sent.rows.map((r) => r.sink).sort();
        await enqueueDeliveries(tx, alert, action, sinks, { ...this.#options, now: this.#clock() });
      }
      return alert;
    });
  }

  /**
   * Alerts, newest first, optionally by status and severity; page with `before`.
   *
   * @example
   * const live = await store.list({ status: ['open', 'acknowledged'], limit: 20 });
   * const next = await store.list({ status: ['open', 'acknowledged'], limit: 20, before: live.at(-1)?.id });
   */
  async list(query: AlertListQuery = {}): Promise<AlertRecord[]> {
    const limit = Math.min(Math.max(Math.trunc(query.limit ?? 50), 1), 1000);
    const before = query.before !== undefined && /^[0-9]{1,19}$/.test(query.before) ? query.before : null;
    try {
      const { rows } = await this.#pool.query(
        `select * from monitor.alerts
         where ($1::text[] is null or status = any($1)) and ($2::text[] is null or severity = any($2))
           and ($3::bigint is null or id < $3)
         order by id desc limit $4`,
        [asList(query.status), asList(query.severity), before, limit],
      );
      return rows.map(toAlertRecord);
    } catch (err) {
      throw wrapPgError(err, 'listing alerts');
    }
  }

  /**
   * One alert with its lifecycle changes and deliveries, or undefined.
   *
   * @example
   * const alert = await store.get('42');
   * alert?.changes; // [{ actor: 'alice', oldStatus: 'open', newStatus: 'acknowledged', … }]
   */
  async get(alertId: string): Promise<AlertDetail | undefined> {
    if (!/^[0-9]{1,19}$/.test(alertId)) return undefined;
    try {
      const a = await this.#pool.query('select * from monitor.alerts where id = $1', [alertId]);
      if (!a.rows[0]) return undefined;
      const c = await this.#pool.query('select * from monitor.alert_changes where alert_id = $1 order by id', [
        alertId,
      ]);
      const d = await this.#pool.query('select * from monitor.deliveries where alert_id = $1 order by id', [alertId]);
      return {
        ...toAlertRecord(a.rows[0]),
        changes: c.rows.map(toAlertChange),
        deliveries: d.rows.map((r: Record<string, unknown>) => ({
          id: String(r.id),
          sink: String(r.sink),
          action: r.action as DeliveryAction,
          state: r.state as AlertDelivery['state'],
          attempts: Number(r.attempts),
          lastError: (r.last_error as string | null) ?? null,
          createdAt: new Date(r.created_at as Date),
          deliveredAt: r.delivered_at ? new Date(r.delivered_at as Date) : null,
        })),
      };
    } catch (err) {
      throw wrapPgError(err, 'reading an alert');
    }
  }

  /**
   * Silences matching alerts until `endsAt`: they are still stored and counted, not sent.
   *
   * @example
   * await store.silence({ ruleId: 'pg-brute-force', matchers: { addr: '10.0.0.5' },
   *   endsAt: new Date(Date.now() + 3_600_000), reason: 'pentest window', createdBy: 'alice' });
   */
  async silence(input: SilenceInput): Promise<SilenceRecord> {
    return this.#tx((tx) => insertSilence(tx, input, new Date(this.#clock())));
  }

  /**
   * Silences that have not ended yet.
   *
   * @example
   * const silences = await store.silences();
   */
  async silences(): Promise<SilenceRecord[]> {
    return this.#tx((tx) => currentSilences(tx, new Date(this.#clock())));
  }

  /** Ends the store's own pool (a shared pool is left open). */
  async close(): Promise<void> {
    if (this.#ownsPool) await this.#pool.end();
  }
}

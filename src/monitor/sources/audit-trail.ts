/**
 * The audit-trail source: row changes (audit.row_changes) as `audit.rows_changed` events, one per
 * actor, table and operation per poll, so a bulk update of 50 000 rows is one event with
 * `rows: 50000`, not 50 000 events.
 *
 * It polls by id: the audit write path is on every audited statement and must stay cheap, so no
 * trigger or NOTIFY was added there. Ids that commit out of order are handled as for the security
 * events ({@link IdCursor}): rows of a writing transaction running longer than the gap window
 * (`gaps.maxAgeMs`, 10 minutes by default) are re-read on the slow schedule and delivered late
 * with `monitor.events_late`; past the slow window they are given up with `monitor.events_skipped`.
 * When the audit module is not installed the source reports 'unavailable' and checks again on
 * each poll.
 */
import type pg from 'pg';
import { toPgwardenError } from '../../errors/index.js';
import { addressBlock, type PositionStore, type UntimedEvent } from '../event.js';
import type { PrimaryConnectionOptions } from './connect-primary.js';
import { timedQuery } from './db-session.js';
import type { GapPolicy, IdCursor } from './id-cursor.js';
import { IdReader } from './id-reader.js';
import { PollingLoop } from './polling-loop.js';
import type { SourceStateListener, SourceStatus } from './source-state.js';

/** Options of {@link AuditTrailSource}. */
export interface AuditTrailSourceOptions {
  /** Where to read (a standby is fine: the source only reads). */
  connection: PrimaryConnectionOptions;
  positions: PositionStore;
  /** Key in the position store (default 'audit-trail'). */
  sourceName?: string;
  /** Receives each poll's aggregated events; the position is saved once it resolves. */
  onEvents: (events: UntimedEvent[]) => Promise<void>;
  onState?: SourceStateListener;
  /** Poll interval (default 5 000 ms). */
  pollIntervalMs?: number;
  /** Rows read per query (default 5 000). */
  batchSize?: number;
  /** Query deadline (default 30 000 ms). */
  queryTimeoutMs?: number;
  gaps?: Partial<GapPolicy>;
  clock?: () => number;
  /** Where a first run starts: 'end' (default) or 'beginning'. */
  startAt?: 'end' | 'beginning';
}

interface AuditRow {
  id: string;
  schema_name: string;
  table_name: string;
  op: string;
  principal: string | null;
  actor_tenant: string | null;
  db_role: string | null;
  addr: string | null;
  application_name: string | null;
  recorded_at: Date;
  database: string;
}

const AUDIT_COLUMNS = `n.id, n.schema_name, n.table_name, n.op,
  coalesce(n.actor_sub, n.db_role, n.session_user_name) as principal, n.actor_tenant, n.db_role,
  pg_catalog.host(n.client_addr) as addr, n.application_name, n.recorded_at, pg_catalog.current_database() as database`;

/**
 * Rows of one poll grouped per (principal, tenant, address, table, operation), in order of their
 * first id. The event id `audit:<first id>-<last id>:<principal>` is unique: an id belongs to one group.
 *
 * @example
 * aggregateAuditRows(rows); // [{ type: 'audit.rows_changed', user: 'alice', fields: { table: 'public.t', op: 'UPDATE', rows: 3 } }]
 */
export function aggregateAuditRows(rows: readonly AuditRow[]): UntimedEvent[] {
  const groups = new Map<string, AuditRow[]>();
  for (const row of rows) {
    const key = JSON.stringify([row.principal, row.actor_tenant, row.addr, row.schema_name, row.table_name, row.op]);
    const group = groups.get(key);
    if (group) group.push(row);
    else groups.set(key, [row]);
  }
  return [...groups.values()].map((group) => {
    const first = group[0]!;
    const last = group[group.length - 1]!;
    const table = `${first.schema_name}.${first.table_name}`;
    const user = first.principal ?? undefined;
    const event: UntimedEvent = {
      id: `audit:${first.id}-${last.id}:${user ?? ''}`,
      source: 'audit',
      type: 'audit.rows_changed',
      severity: 'info',
      occurredAt: first.recorded_at.getTime(),
      database: first.database,
      fields: { table, op: first.op, rows: group.length },
      message: `${user ?? 'unknown'}: ${first.op} of ${group.length} row${group.length === 1 ? '' : 's'} in ${table}`,
    };
    if (user !== undefined) event.user = user;
    if (first.db_role !== null) event.dbUser = first.db_role;
    if (first.actor_tenant !== null) event.tenant = first.actor_tenant;
    if (first.addr !== null) {
      event.addr = first.addr;
      const block = addressBlock(first.addr);
      if (block !== undefined) event.addrBlock = block;
    }
    if (first.application_name) event.application = first.application_name;
    return event;
  });
}

/**
 * Polls audit.row_changes.
 *
 * @example
 * const audit = new AuditTrailSource({ connection, positions, onEvents: async (e) => pipeline.push(e) });
 * await audit.start();
 * await audit.close();
 */
export class AuditTrailSource {
  readonly #o: AuditTrailSourceOptions;
  readonly #name: string;
  readonly #reader: IdReader<AuditRow>;
  readonly #loop: PollingLoop;
  #available: boolean | undefined;
  #closed = false;

  constructor(options: AuditTrailSourceOptions) {
    this.#o = options;
    this.#name = options.sourceName ?? 'audit-trail';
    const onState: SourceStateListener = (s) => options.onState?.(s);
    const queryTimeoutMs = options.queryTimeoutMs ?? 30_000;
    this.#reader = new IdReader<AuditRow>({
      source: this.#name,
      table: 'audit.row_changes',
      columns: AUDIT_COLUMNS,
      positions: options.positions,
      batchSize: options.batchSize ?? 5_000,
      gaps: options.gaps,
      clock: options.clock ?? Date.now,
      startAt: options.startAt ?? 'end',
      queryTimeoutMs,
      onState,
    });
    this.#loop = new PollingLoop({
      source: this.#name,
      connection: options.connection,
      applicationName: 'pgwarden-monitor-audit',
      intervalMs: options.pollIntervalMs ?? 5_000,
      onState,
      pass: (client) => this.#pass(client, queryTimeoutMs),
    });
  }

  /** 'unavailable' while the audit module is not installed. */
  get status(): SourceStatus {
    if (this.#closed) return 'closed';
    if (this.#available === false) return 'unavailable';
    if (this.#available === undefined) return 'starting';
    return this.#loop.healthy ? 'running' : 'disconnected';
  }

  /** The read position, once loaded. */
  get cursor(): IdCursor | undefined {
    return this.#reader.cursor;
  }

  /** Runs the first poll and keeps polling. */
  start(): Promise<void> {
    return this.#loop.start();
  }

  /** Polls now and waits for it. */
  pollNow(): Promise<void> {
    return this.#loop.runNow();
  }

  /** Finishes the poll in hand and closes the connection. */
  async close(): Promise<void> {
    await this.#loop.close();
    this.#closed = true;
  }

  async #pass(client: pg.Client, timeoutMs: number): Promise<void> {
    const { rows } = await timedQuery<{ ok: boolean }>(
      client,
      `select pg_catalog.to_regclass('audit.row_changes') is not null as ok`,
      [],
      timeoutMs,
    );
    const available = rows[0]?.ok === true;
    if (available !== this.#available) {
      if (!available) {
        this.#o.onState?.({ kind: 'unavailable', source: this.#name, reason: 'the audit module is not installed' });
      } else if (this.#available === false) this.#o.onState?.({ kind: 'available', source: this.#name });
      this.#available = available;
    }
    if (!available) return;
    for (;;) {
      const pass = await this.#reader.read(client);
      const events = [...pass.monitorEvents, ...aggregateAuditRows(pass.rows)];
      if (events.length > 0) {
        try {
          await this.#o.onEvents(events);
        } catch (err) {
          this.#o.onState?.({ kind: 'handler-failed', source: this.#name, error: toPgwardenError(err) });
          return;
        }
      }
      await this.#reader.commit(pass);
      if (!pass.more) return;
    }
  }
}

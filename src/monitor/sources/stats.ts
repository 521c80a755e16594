/**
 * The statistics source: every `intervalMs` it samples the server's own statistics and reports
 * what changed since the last sample:
 * - `pg.activity`: a backend that was not there before (who, from where, superuser or not);
 * - `pg.rows_read` / `pg.rows_written`: per user and database, the rows returned by reading
 *   statements (select, with, table, values, fetch) and affected by writing ones (insert,
 *   update, delete, merge), from pg_stat_statements deltas, only where that extension is
 *   installed ('unavailable' otherwise, not an error);
 * - `pg.table_read`: per table of the connected database, rows read (seq_tup_read +
 *   idx_tup_fetch), from pg_stat_user_tables deltas.
 * The first sample only sets the baseline. When `onEvents` throws, the baseline is kept, so the
 * next sample reports the same changes again (with more). The monitor's role needs
 * pg_read_all_stats to see other roles' backends and statements in full.
 */
import type pg from 'pg';
import { toPgwardenError } from '../../errors/index.js';
import { addressBlock, type UntimedEvent } from '../event.js';
import type { PrimaryConnectionOptions } from './connect-primary.js';
import { PollingLoop } from './polling-loop.js';
import type { SourceStateListener, SourceStatus } from './source-state.js';
import {
  type BackendRow,
  counterDelta,
  findStatementsView,
  readBackends,
  readStatements,
  readStatementsReset,
  readTables,
  type StatementRow,
  statementDelta,
  type TableRow,
} from './stats-queries.js';

/** Options of {@link StatsSource}. */
export interface StatsSourceOptions {
  connection: PrimaryConnectionOptions;
  onEvents: (events: UntimedEvent[]) => Promise<void>;
  onState?: SourceStateListener;
  /** Sample interval (default 10 000 ms). */
  intervalMs?: number;
  /** Query deadline (default 30 000 ms). */
  queryTimeoutMs?: number;
  /** The monitor's clock (ms), for the sample's event ids. */
  clock?: () => number;
  /** Source name in state events (default 'stats'). */
  sourceName?: string;
}

/** Status of each of the three statistics. */
export interface StatsParts {
  activity: SourceStatus;
  statements: SourceStatus;
  tables: SourceStatus;
}

const READ_VERBS = new Set(['select', 'with', 'table', 'values', 'fetch']);
const WRITE_VERBS = new Set(['insert', 'update', 'delete', 'merge']);

interface Statements {
  /** pg_stat_statements_info.stats_reset: a change means every entry starts from zero. */
  reset: string;
  entries: Map<string, StatementRow>;
}

interface Sample {
  backends: Map<string, BackendRow>;
  statements: Statements | undefined;
  tables: Map<string, TableRow>;
}

const backendKey = (b: BackendRow) => `${b.pid}:${b.backend_start?.getTime() ?? ''}`;

/**
 * Samples pg_stat_activity, pg_stat_statements and pg_stat_user_tables.
 *
 * @example
 * const stats = new StatsSource({ connection, intervalMs: 10_000, onEvents: async (e) => pipeline.push(e) });
 * await stats.start();
 * stats.parts.statements; // 'unavailable' without pg_stat_statements
 * await stats.close();
 */
export class StatsSource {
  readonly #o: StatsSourceOptions;
  readonly #name: string;
  readonly #loop: PollingLoop;
  #baseline: Sample | undefined;
  #statements: SourceStatus = 'starting';
  #closed = false;

  constructor(options: StatsSourceOptions) {
    this.#o = options;
    this.#name = options.sourceName ?? 'stats';
    this.#loop = new PollingLoop({
      source: this.#name,
      connection: options.connection,
      applicationName: 'pgwarden-monitor-stats',
      intervalMs: options.intervalMs ?? 10_000,
      onState: (s) => options.onState?.(s),
      pass: (client) => this.#sample(client),
    });
  }

  get status(): SourceStatus {
    if (this.#closed) return 'closed';
    if (this.#baseline === undefined) return 'starting';
    return this.#loop.healthy ? 'running' : 'disconnected';
  }

  /** Per statistic: pg_stat_statements is 'unavailable' where the extension is not installed. */
  get parts(): StatsParts {
    const status = this.status;
    return { activity: status, statements: status === 'running' ? this.#statements : status, tables: status };
  }

  /** Takes the first sample (the baseline) and keeps sampling. */
  start(): Promise<void> {
    return this.#loop.start();
  }

  /** Samples now and waits for it. */
  sampleNow(): Promise<void> {
    return this.#loop.runNow();
  }

  async close(): Promise<void> {
    await this.#loop.close();
    this.#closed = true;
  }

  async #sample(client: pg.Client): Promise<void> {
    const ms = this.#o.queryTimeoutMs ?? 30_000;
    const at = (this.#o.clock ?? Date.now)();
    const sample: Sample = {
      backends: new Map((await readBackends(client, ms)).map((b) => [backendKey(b), b])),
      statements: await this.#readStatements(client, ms),
      tables: new Map((await readTables(client, ms)).map((t) => [t.relid, t])),
    };
    const before = this.#baseline;
    if (before !== undefined) {
      const events = [
        ...activityEvents(sample, before, at),
        ...(sample.statements && before.statements ? statementEvents(sample.statements, before.statements, at) : []),
        ...tableEvents(sample.tables, before.tables, at, String(client.database)),
      ];
      if (events.length > 0) {
        try {
          await this.#o.onEvents(events);
        } catch (err) {
          this.#o.onState?.({ kind: 'handler-failed', source: this.#name, error: toPgwardenError(err) });
          return;
        }
      }
    }
    // A statistic that was unavailable starts from its first reading, without reporting it all.
    this.#baseline = sample;
  }

  async #readStatements(client: pg.Client, ms: number): Promise<Statements | undefined> {
    const view = await findStatementsView(client, ms);
    let reason: string | undefined;
    let rows: StatementRow[] = [];
    let reset = '';
    if (!view) reason = 'pg_stat_statements is not installed in this database';
    else {
      try {
        reset = await readStatementsReset(client, view, ms);
        rows = await readStatements(client, view, ms);
      } catch (err) {
        const e = toPgwardenError(err);
        if (e.sqlState !== '55000') throw e;
        reason = 'pg_stat_statements is not in shared_preload_libraries';
      }
    }
    const next: SourceStatus = reason === undefined ? 'running' : 'unavailable';
    if (next !== this.#statements) {
      if (reason !== undefined) this.#o.onState?.({ kind: 'unavailable', source: `${this.#name}.statements`, reason });
      else if (this.#statements === 'unavailable')
        this.#o.onState?.({ kind: 'available', source: `${this.#name}.statements` });
      this.#statements = next;
    }
    return reason === undefined ? { reset, entries: new Map(rows.map((r) => [r.key, r])) } : undefined;
  }
}

function activityEvents(now: Sample, before: Sample, at: number): UntimedEvent[] {
  const events: UntimedEvent[] = [];
  for (const [key, b] of now.backends) {
    if (before.backends.has(key)) continue;
    const event: UntimedEvent = {
      id: `stats:activity:${at}:${b.pid}`,
      source: 'stats',
      type: 'pg.activity',
      severity: 'info',
      user: b.usename,
      dbUser: b.usename,
      fields: { superuser: b.superuser, backendType: b.backend_type, pid: b.pid },
      message: `new ${b.backend_type} of ${b.usename}${b.superuser ? ' (superuser)' : ''}${b.addr ? ` from ${b.addr}` : ''}`,
    };
    if (b.datname !== null) event.database = b.datname;
    if (b.backend_start !== null) event.occurredAt = b.backend_start.getTime();
    if (b.addr !== null) {
      event.addr = b.addr;
      const block = addressBlock(b.addr);
      if (block !== undefined) event.addrBlock = block;
    }
    if (b.application_name) event.application = b.application_name;
    events.push(event);
  }
  return events;
}

interface Volume {
  user: StatementRow;
  readRows: number;
  readCalls: number;
  writeRows: number;
  writeCalls: number;
}

function statementEvents(now: Statements, before: Statements, at: number): UntimedEvent[] {
  const perUser = new Map<string, Volume>();
  const wholeReset = now.reset !== before.reset;
  for (const [key, row] of now.entries) {
    const verb = row.verb ?? '';
    const reading = READ_VERBS.has(verb);
    if (!reading && !WRITE_VERBS.has(verb)) continue;
    const { calls, rows } = statementDelta(row, wholeReset ? undefined : before.entries.get(key));
    if (calls === 0 && rows === 0) continue;
    const id = `${row.userid}:${row.dbid}`;
    const v = perUser.get(id) ?? { user: row, readRows: 0, readCalls: 0, writeRows: 0, writeCalls: 0 };
    if (reading) {
      v.readRows += rows;
      v.readCalls += calls;
    } else {
      v.writeRows += rows;
      v.writeCalls += calls;
    }
    perUser.set(id, v);
  }
  const events: UntimedEvent[] = [];
  for (const v of perUser.values()) {
    const u = v.user;
    const user = u.rolname ?? `oid:${u.userid}`;
    const base = { source: 'stats' as const, severity: 'info' as const, user, dbUser: user };
    const where = u.datname === null ? {} : { database: u.datname };
    if (v.readRows > 0) {
      events.push({
        ...base,
        ...where,
        id: `stats:rows_read:${at}:${u.userid}:${u.dbid}`,
        type: 'pg.rows_read',
        fields: { rows: v.readRows, calls: v.readCalls, superuser: u.superuser },
        message: `${user} read ${v.readRows} rows in ${v.readCalls} statements`,
      });
    }
    if (v.writeRows > 0) {
      events.push({
        ...base,
        ...where,
        id: `stats:rows_written:${at}:${u.userid}:${u.dbid}`,
        type: 'pg.rows_written',
        fields: { rows: v.writeRows, calls: v.writeCalls, superuser: u.superuser },
        message: `${user} wrote ${v.writeRows} rows in ${v.writeCalls} statements`,
      });
    }
  }
  return events;
}

function tableEvents(
  now: Map<string, TableRow>,
  before: Map<string, TableRow>,
  at: number,
  database: string,
): UntimedEvent[] {
  const events: UntimedEvent[] = [];
  for (const [relid, t] of now) {
    const prev = before.get(relid);
    const rows = counterDelta(t.read, prev?.read);
    if (rows === 0) continue;
    events.push({
      id: `stats:table_read:${at}:${relid}`,
      source: 'stats',
      type: 'pg.table_read',
      severity: 'info',
      database,
      fields: {
        table: t.table,
        rows,
        inserted: counterDelta(t.inserted, prev?.inserted),
        updated: counterDelta(t.updated, prev?.updated),
        deleted: counterDelta(t.deleted, prev?.deleted),
      },
      message: `${rows} rows read from ${t.table}`,
    });
  }
  return events;
}

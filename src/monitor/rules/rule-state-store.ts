import { Buffer } from 'node:buffer';
import type pg from 'pg';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import type { RuleEngineSnapshot } from './engine-snapshot.js';

/** Anything that runs a query: a pg.Pool (recommended) or a pg.Client. */
export interface RuleStateDb {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** A state as {@link RuleStateStore.load} returns it: check it with RuleEngine.restore, never trust it. */
export interface SavedRuleState {
  /** When it was written (the database's clock). */
  savedAt: Date;
  state: unknown;
}

/** Options of {@link RuleStateStore}. */
export interface RuleStateStoreOptions {
  /**
   * The largest state written, in bytes of its JSON text (default 4 MiB, RuleEngine.snapshot's
   * default bound). A larger one is refused with PW603 rather than written.
   */
  maxBytes?: number;
}

/**
 * The rule engine's state in monitor.rule_state: one row per monitor instance, written at a
 * graceful shutdown and read at the next start (security_admin may select, insert, update and
 * delete there). Errors are PW603.
 *
 * @example
 * const store = new RuleStateStore(pool);
 * await store.save('monitor-1', engine.snapshot());
 * const saved = await store.load('monitor-1');
 * if (saved) engine.restore(saved.state);
 */
export class RuleStateStore {
  readonly #db: RuleStateDb;
  readonly #maxBytes: number;

  constructor(db: RuleStateDb, options: RuleStateStoreOptions = {}) {
    this.#db = db;
    this.#maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
  }

  /** Writes `snapshot` as the state of `instance` (replacing the last one); returns its size in bytes. */
  async save(instance: string, snapshot: RuleEngineSnapshot): Promise<{ bytes: number }> {
    checkInstance(instance);
    // jsonb refuses U+0000, which a value read from a log line could hold: one odd value must not
    // cost the whole state (the group it names is then not found again, and ages out).
    const text = JSON.stringify(snapshot, (_key, v: unknown) =>
      typeof v === 'string' && v.includes('\u0000') ? v.replaceAll('\u0000', '\ufffd') : v,
    );
    const bytes = Buffer.byteLength(text);
    if (bytes > this.#maxBytes) {
      throw new PgwardenError(
        ErrorCodes.MONITOR_SOURCE_FAILED,
        `the rule engine's state of monitor ${JSON.stringify(instance)} is ${bytes} bytes, over the bound of ${this.#maxBytes}`,
        { hint: 'take the snapshot with a maxBytes no larger than the store bound (RuleEngine.snapshot)' },
      );
    }
    try {
      await this.#db.query(
        `insert into monitor.rule_state as s (instance, saved_at, state)
         values ($1, pg_catalog.clock_timestamp(), $2::jsonb)
         on conflict (instance) do update set saved_at = excluded.saved_at, state = excluded.state`,
        [instance, text],
      );
      return { bytes };
    } catch (err) {
      throw failed(err, `saving the rule engine's state of monitor ${JSON.stringify(instance)}`);
    }
  }

  /** The last state saved by `instance`, or undefined when there is none. */
  async load(instance: string): Promise<SavedRuleState | undefined> {
    checkInstance(instance);
    try {
      const { rows } = await this.#db.query<{ saved_at: Date; state: unknown }>(
        'select s.saved_at, s.state from monitor.rule_state s where s.instance = $1',
        [instance],
      );
      const row = rows[0];
      return row ? { savedAt: row.saved_at, state: row.state } : undefined;
    } catch (err) {
      throw failed(err, `loading the rule engine's state of monitor ${JSON.stringify(instance)}`);
    }
  }
}

function checkInstance(instance: string): void {
  if (instance.length >= 1 && instance.length <= 200) return;
  throw new PgwardenError(ErrorCodes.MONITOR_SOURCE_FAILED, 'a monitor instance name must be 1 to 200 characters', {
    hint: 'name the monitor instance with 1 to 200 characters',
  });
}

function failed(err: unknown, context: string): PgwardenError {
  const e = (err ?? {}) as { message?: string; code?: string; detail?: string; hint?: string };
  return new PgwardenError(ErrorCodes.MONITOR_SOURCE_FAILED, `${context}: ${e.message ?? String(err)}`, {
    detail: e.detail,
    hint: e.hint ?? 'check that the monitor module is installed and the login holds security_admin',
    sqlState: e.code,
    cause: err,
  });
}

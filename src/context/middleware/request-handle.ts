// The request-scoped database handle the adapters attach. `ContextPool.run(identity, fn)` holds a
// connection for exactly as long as `fn` runs; a request's lifetime is set by the framework
// instead. The handle bridges the two: the first statement starts `pool.run` with a callback
// that hands out its `ContextDb` and then waits on a gate; the adapter opens the gate when the
// response is decided (commit) or the request fails or the client goes away (rollback), and
// `pool.run` then commits or rolls back and releases the connection as it always does.
import type { ContextIdentity } from '../context-seal.js';
import type { StatementResult } from '../pipeline.js';
import type { ContextDb, ContextPool, RunOptions } from '../request-context.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';

/**
 * What a handler gets as `req.pgwarden` (Express), `request.pgwarden` (Fastify) or
 * `c.get('pgwarden')` (Hono). Nothing touches the database until the first statement.
 *
 * @example
 * app.post('/notes', async (req, res) => {
 *   await req.pgwarden.db.query('insert into notes (tenant, body) values (auth.tenant_id(), $1)', [req.body.text]);
 *   res.status(201).json({ ok: true }); // the transaction commits before this response is sent
 * });
 */
export interface ContextHandle {
  /** The identity the request runs as (role, sub, tenant, roles …). */
  readonly identity: ContextIdentity;
  /** True for GET, HEAD and OPTIONS: every statement runs in its own read-only transaction. */
  readonly readOnly: boolean;
  /**
   * Statements of the request. Read-write requests: one transaction, opened by the first
   * statement, committed when the handler answers below 500, rolled back when it throws, answers
   * 5xx or the client disconnects. Read-only requests: each statement takes a connection for
   * itself and gives it back.
   */
  readonly db: ContextDb;
  /**
   * Runs `fn` in the request's transaction and commits when `fn` resolves (rolls back when it
   * throws), so a failed commit is the handler's error, before it answers. Later statements
   * start a new transaction.
   */
  run<T>(fn: (db: ContextDb) => Promise<T>): Promise<T>;
  /** Rolls back the request's open transaction now (for a handler that answers 4xx after a write). */
  rollback(): Promise<void>;
}

/** How a handle reports what it does. */
export interface HandleHooks {
  /** Turns a database-side refusal (PW331 …) into the error the handler sees, reporting it once. */
  translate(err: unknown): unknown;
  observe(event: 'opened' | 'committed' | 'rolled_back' | 'statement'): void;
}

const ROLLBACK = Symbol('rollback');

const closed = () =>
  new PgwardenError(ErrorCodes.CONTEXT_CLOSED, 'the request has finished; its database handle is closed', {
    hint: 'run every statement before the handler answers',
  });

/** One `pool.run` held open across a request. */
interface Transaction {
  db: Promise<ContextDb>;
  /** Opens the gate; resolves once the connection is released. Rejects only when a commit fails. */
  end(commit: boolean): Promise<void>;
}

function openTransaction(pool: ContextPool, identity: ContextIdentity, options: RunOptions): Transaction {
  let settle: (commit: boolean) => void = () => undefined;
  const gate = new Promise<void>((resolve, reject) => {
    settle = (commit) => (commit ? resolve() : reject(ROLLBACK));
  });
  // The gate is awaited only once a connection was taken; a failed connect leaves it unobserved.
  gate.catch(() => undefined);
  let ready: (db: ContextDb) => void = () => undefined;
  const opened = new Promise<ContextDb>((resolve) => {
    ready = resolve;
  });
  const run = pool.run(
    identity,
    async (db) => {
      ready(db);
      await gate;
    },
    options,
  );
  // Never rejects: the error of the run (connect failed, commit failed), or undefined.
  const outcome = run.then(
    () => undefined,
    (err: unknown) => (err === ROLLBACK ? undefined : err),
  );
  const db = Promise.race([
    opened,
    outcome.then((err) => {
      throw err ?? closed();
    }),
  ]);
  db.catch(() => undefined);
  return {
    db,
    async end(commit) {
      settle(commit);
      const err = await outcome;
      if (err !== undefined && commit) throw err;
    },
  };
}

/** The handle behind `ContextHandle`, with the lifetime calls the adapters make. */
export class RequestContextHandle implements ContextHandle {
  readonly db: ContextDb;
  #tx: Transaction | undefined;
  #ended = false;
  #failed = false;

  constructor(
    private readonly pool: ContextPool,
    readonly identity: ContextIdentity,
    readonly readOnly: boolean,
    private readonly isolation: RunOptions['isolation'],
    private readonly hooks: HandleHooks,
  ) {
    this.db = {
      identity,
      query: <R extends Record<string, unknown> = Record<string, unknown>>(text: string, values?: readonly unknown[]) =>
        this.#query<R>(text, values),
    };
  }

  /** True while a read-write transaction holds a connection. */
  get inTransaction(): boolean {
    return this.#tx !== undefined;
  }

  /** True once the adapter ended the request. */
  get ended(): boolean {
    return this.#ended;
  }

  async #query<R extends Record<string, unknown>>(
    text: string,
    values: readonly unknown[] | undefined,
  ): Promise<StatementResult<R>> {
    if (this.#ended) throw closed();
    this.hooks.observe('statement');
    try {
      if (this.readOnly) {
        return await this.pool.run(this.identity, (db) => db.query<R>(text, values), { readOnly: true });
      }
      const tx = this.#tx ?? this.#open();
      const db = await tx.db;
      // The request may have ended, or `run`/`rollback` ended this transaction, while it opened.
      if (this.#ended || this.#tx !== tx) throw closed();
      return await db.query<R>(text, values);
    } catch (err) {
      throw this.hooks.translate(err);
    }
  }

  #open(): Transaction {
    const options: RunOptions = this.isolation === undefined ? {} : { isolation: this.isolation };
    this.#tx = openTransaction(this.pool, this.identity, options);
    this.hooks.observe('opened');
    return this.#tx;
  }

  async run<T>(fn: (db: ContextDb) => Promise<T>): Promise<T> {
    if (this.#ended) throw closed();
    if (this.readOnly) return fn(this.db);
    let result: T;
    try {
      result = await fn(this.db);
    } catch (err) {
      await this.#finish(false);
      throw err;
    }
    await this.#finish(true);
    return result;
  }

  async rollback(): Promise<void> {
    await this.#finish(false);
  }

  /** Marks the request failed: its transaction rolls back when it ends (a thrown error). */
  fail(): void {
    this.#failed = true;
  }

  /**
   * Ends the request: commits (when `commit` and nothing failed) or rolls back, and resolves
   * once the connection is released. Idempotent; later statements throw PW337. Rejects only
   * when the commit fails.
   */
  async end(commit: boolean): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    await this.#finish(commit && !this.#failed);
  }

  async #finish(commit: boolean): Promise<void> {
    const tx = this.#tx;
    this.#tx = undefined;
    if (tx === undefined) return;
    try {
      await tx.end(commit);
    } catch (err) {
      this.hooks.observe('rolled_back');
      throw err;
    }
    this.hooks.observe(commit ? 'committed' : 'rolled_back');
  }
}

// A node-postgres "submittable" that sends several extended-protocol statements and one Sync in
// a single write, so the request set-up and the first statement share one network round trip.
// node-postgres supports custom submittables (pg-cursor and pg-query-stream are built on them);
// this one relies only on that documented surface: submit(connection) and the handle* callbacks.
import pg from 'pg';

/** One statement of a pipeline. `rows` asks for a RowDescription and collects the rows. */
export interface PipelineStep {
  text: string;
  values: unknown[];
  rows: boolean;
}

/** The result of a statement, shaped like node-postgres' `QueryResult`. */
export interface StatementResult<R = Record<string, unknown>> {
  command: string;
  rowCount: number | null;
  rows: R[];
  fields: pg.FieldDef[];
}

/** The error of a pipeline, with the index of the statement that failed. */
export interface PipelineFailure {
  error: Error;
  step: number;
  /** The server asked for COPY data; the connection must not be reused. */
  copyAttempted: boolean;
}

/** What a pipeline returns: one result per step, and the transaction status after its Sync. */
export interface PipelineOutcome {
  results: StatementResult[];
  /** ReadyForQuery status: 'I' idle, 'T' in a transaction block, 'E' in a failed block. */
  status: string;
}

interface ProtocolConnection {
  parse(msg: { text: string; name?: string }): void;
  bind(msg: { values: unknown[]; valueMapper?: (v: unknown) => unknown }): void;
  describe(msg: { type: 'P'; name: string }): void;
  execute(msg: Record<string, never>): void;
  sync(): void;
  stream: { cork?: () => void; uncork?: () => void };
}

interface PgResult {
  command: string;
  rowCount: number | null;
  rows: Record<string, unknown>[];
  fields: pg.FieldDef[];
  addFields(fields: unknown[]): void;
  parseRow(fields: unknown[]): Record<string, unknown>;
  addRow(row: Record<string, unknown>): void;
  addCommandComplete(msg: unknown): void;
}
type ResultConstructor = new () => PgResult;
const { Result } = pg as unknown as { Result: ResultConstructor };
const { prepareValue } = (pg as unknown as { utils: { prepareValue: (v: unknown) => unknown } }).utils;

/**
 * Converts parameter values the way node-postgres does, before anything is written, so a bad
 * value (a circular object, say) fails the call without touching the connection.
 */
export function prepareValues(values: readonly unknown[]): unknown[] {
  return values.map((v) => prepareValue(v));
}

/** Runs `steps` in one round trip. Resolves with one result per step; rejects at the first error. */
export class Pipeline {
  readonly promise: Promise<StatementResult[]>;
  #resolve!: (results: StatementResult[]) => void;
  #reject!: (failure: PipelineFailure) => void;
  #step = 0;
  #failed = false;
  #copyAttempted = false;
  readonly #results: PgResult[];

  constructor(readonly steps: readonly PipelineStep[]) {
    this.#results = steps.map(() => new Result());
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A failure is reported through the promise; callers always await it.
    this.promise.catch(() => undefined);
  }

  submit(connection: ProtocolConnection): null {
    connection.stream.cork?.();
    try {
      for (const step of this.steps) {
        connection.parse({ text: step.text });
        connection.bind({ values: step.values });
        if (step.rows) connection.describe({ type: 'P', name: '' });
        connection.execute({});
      }
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  handleRowDescription(msg: { fields: unknown[] }): void {
    this.#results[this.#step]?.addFields(msg.fields);
  }

  handleDataRow(msg: { fields: unknown[] }): void {
    const step = this.steps[this.#step];
    const result = this.#results[this.#step];
    if (step?.rows && result) result.addRow(result.parseRow(msg.fields));
  }

  handleCommandComplete(msg: unknown): void {
    this.#results[this.#step]?.addCommandComplete(msg);
    this.#step += 1;
  }

  handleEmptyQuery(): void {
    this.#step += 1;
  }

  handleError(error: Error): void {
    this.#failed = true;
    this.#reject({ error, step: this.#step, copyAttempted: this.#copyAttempted });
  }

  handleReadyForQuery(): void {
    if (this.#failed) return;
    this.#resolve(
      this.#results.map((r) => ({ command: r.command, rowCount: r.rowCount, rows: r.rows, fields: r.fields })),
    );
  }

  handlePortalSuspended(): void {}

  // The Sync sent with the pipeline was consumed while the server waited for COPY data, so a
  // new Sync must follow the CopyFail or the connection waits forever. The session then fails
  // the request and discards the connection.
  handleCopyInResponse(connection: { sendCopyFail(msg: string): void; sync(): void }): void {
    this.#copyAttempted = true;
    connection.sendCopyFail('COPY FROM STDIN is not supported inside a request context');
    connection.sync();
  }

  handleCopyData(): void {}
}

/** The transaction status of the client's last ReadyForQuery ('I', 'T' or 'E'). */
export const transactionStatus = (client: pg.ClientBase): string =>
  (client as pg.ClientBase & { getTransactionStatus(): string | null }).getTransactionStatus() ?? '';

/** Sends a pipeline on a checked-out client and waits for it; rejects with a PipelineFailure. */
export async function runPipeline(client: pg.ClientBase, steps: readonly PipelineStep[]): Promise<PipelineOutcome> {
  const pipeline = new Pipeline(steps);
  void client.query(pipeline as unknown as pg.QueryConfig);
  const results = await pipeline.promise;
  return { results, status: transactionStatus(client) };
}

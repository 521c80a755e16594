/**
 * Helpers for the sources' dedicated connections: queries with a deadline (a silently dead
 * connection must not hang a source), a promise that rejects when the connection goes away, and
 * a close that never waits on a dead peer.
 */
import type pg from 'pg';
import { wrapPgError } from '../../db/pg-errors.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';

/**
 * Runs one query, destroying the connection when no answer comes within `timeoutMs`: a socket
 * whose peer vanished without a reset (a cut cable, a dropped firewall state) would otherwise
 * wait for ever. Errors become PgwardenErrors keeping their SQLSTATE.
 *
 * @example
 * const { rows } = await timedQuery(client, 'select 1 as one', [], 5_000);
 */
export async function timedQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  client: pg.Client,
  text: string,
  values: readonly unknown[],
  timeoutMs: number,
): Promise<pg.QueryResult<R>> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      destroyClient(client);
      reject(
        new PgwardenError(ErrorCodes.CONNECTION_TIMEOUT, `the database did not answer within ${timeoutMs} ms`, {
          hint: 'the connection was dropped and is opened again; check the network path to the server',
        }),
      );
    }, timeoutMs);
  });
  deadline.catch(() => undefined);
  try {
    return await Promise.race([client.query<R>(text, values as unknown[]), deadline]);
  } catch (err) {
    throw wrapPgError(err);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A promise that rejects (with PW110) once the connection errors or ends. It is pre-caught: it
 * never becomes an unhandled rejection when nobody waits on it.
 *
 * @example
 * const lost = connectionLost(client);
 * await Promise.race([work(client), lost]);
 */
export function connectionLost(client: pg.Client): Promise<never> {
  const lost = new Promise<never>((_, reject) => {
    const fail = (cause?: unknown) =>
      reject(
        new PgwardenError(ErrorCodes.CONNECTION_FAILED, 'the connection to the database was lost', {
          detail: cause instanceof Error ? cause.message : undefined,
          cause,
        }),
      );
    client.once('error', fail);
    client.once('end', () => fail());
  });
  lost.catch(() => undefined);
  return lost;
}

/** Drops the socket at once (no goodbye to a peer that may be gone). */
export function destroyClient(client: pg.Client): void {
  client.connection.stream.destroy();
}

/**
 * Ends a connection politely, or drops it when the goodbye is not acknowledged within `timeoutMs`.
 *
 * @example
 * await closeClient(client, 2_000);
 */
export async function closeClient(client: pg.Client, timeoutMs = 2_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.end().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        destroyClient(client);
        resolve();
      }, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
}

/**
 * Waits `ms`, or less when `wake()` is called; the sources' idle loop (a notification or a close
 * ends the wait early).
 *
 * @example
 * const signal = new WakeSignal();
 * setTimeout(() => signal.wake(), 10);
 * await signal.wait(5_000); // returns after about 10 ms
 */
export class WakeSignal {
  /** Set by wake(), cleared by the waiter once it acted on it. */
  pending = false;
  #resolve: (() => void) | undefined;

  wake(): void {
    this.pending = true;
    this.#resolve?.();
  }

  async wait(ms: number): Promise<void> {
    if (this.pending) return;
    let timer: NodeJS.Timeout | undefined;
    let done!: () => void;
    await new Promise<void>((resolve) => {
      done = resolve;
      this.#resolve = resolve;
      timer = setTimeout(resolve, Math.max(0, ms));
      // Like every timer of the monitor's parts: it never keeps the process alive by itself.
      timer.unref();
    });
    clearTimeout(timer);
    // A wait abandoned by its caller (raced against a lost connection) ends later; it must not
    // unhook the wait that replaced it.
    if (this.#resolve === done) this.#resolve = undefined;
  }
}

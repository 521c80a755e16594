import type { PrimaryConnectionOptions } from '../connect-primary.js';
import { fileMatcher } from './local-log-files.js';
import { type LogSourceOptions, LogSourceRunner } from './log-source.js';
import { logFileExtension } from './parsers.js';
import { SqlLogFiles } from './sql-log-files.js';

/**
 * RemoteLogReader's options.
 *
 * @example
 * const options: RemoteLogReaderOptions = { connection: { host: 'db', user: 'pgw_monitor', database: 'postgres' },
 *   format: 'jsonlog', positions, onEvents: async () => undefined };
 */
export interface RemoteLogReaderOptions extends LogSourceOptions {
  /** A login that may read the log: superuser, or pg_monitor plus EXECUTE on pg_read_binary_file. */
  connection: PrimaryConnectionOptions;
  /** Limit per query (listing, one read of up to 1 MiB); default 30 000 ms. */
  queryTimeoutMs?: number;
}

/**
 * Follows the server log over SQL, for when the log is not on this host: `pg_current_logfile()`
 * checks the format is written, `pg_ls_logdir()` lists log_directory, `pg_read_binary_file(path,
 * offset, length, true)` reads it (the binary variant, since an offset may fall inside a UTF-8
 * character, which pg_read_file would refuse). Same position and handler contract as
 * ServerLogTailer; files are known by name (event ids `log:<file name>:<offset>`), truncation is
 * noticed by size and by re-reading the byte before the offset.
 *
 * The login needs superuser, or pg_monitor (pg_ls_logdir, pg_current_logfile) plus EXECUTE on
 * `pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)`; `start()` and `checkAccess()`
 * refuse with PW603 and a hint otherwise, and when the server does not write the format.
 *
 * Managed services (Amazon RDS/Aurora, Cloud SQL, Azure) give neither the files nor these
 * functions: they export the log to CloudWatch Logs / Cloud Logging / Azure Monitor. Export it
 * from there into files in a directory and point a ServerLogTailer at that directory (csvlog or
 * jsonlog where the service offers it), or run `pgwarden monitor replay <file>` on an export.
 *
 * @example
 * const reader = new RemoteLogReader({ connection: { host: 'db', user: 'postgres', database: 'postgres' },
 *   format: 'csvlog', positions, onEvents: async (events) => pipeline.push(events) });
 * await reader.start();
 */
export class RemoteLogReader {
  readonly #files: SqlLogFiles;
  readonly #runner: LogSourceRunner;
  #host = '';
  #port = 0;

  constructor(options: RemoteLogReaderOptions) {
    const match = fileMatcher(options.match ?? `*${logFileExtension[options.format]}`);
    let connected = false;
    this.#files = new SqlLogFiles(options.connection, options.format, match, options.queryTimeoutMs ?? 30_000, (c) => {
      this.#host = String(c.host);
      this.#port = Number(c.port);
      if (connected) return;
      connected = true;
      options.onState?.({ kind: 'connected', source: 'server-log', host: this.#host, port: this.#port });
    });
    this.#runner = new LogSourceRunner(options, this.#files, 1024 * 1024, {
      failed: (error, retryInMs) => ({ kind: 'disconnected', source: 'server-log', error, retryInMs }),
      recovered: (downMs) => ({
        kind: 'reconnected',
        source: 'server-log',
        host: this.#host,
        port: this.#port,
        downMs,
      }),
    });
  }

  /**
   * Checks the login may read the log (PW603 when not: rejects), then runs a first pass and
   * keeps polling. A server that cannot be reached is reported and retried, not thrown.
   */
  async start(): Promise<void> {
    try {
      await this.#files.session();
    } catch {
      if (this.#files.refusal) throw this.#files.refusal;
    }
    await this.#runner.start();
  }

  /**
   * Connects and checks privileges and format; PW603 with a hint when the login may not read
   * the log or the server does not write the format.
   *
   * @example
   * await new RemoteLogReader({ connection, format: 'jsonlog', positions, onEvents }).checkAccess();
   */
  async checkAccess(): Promise<void> {
    await this.#files.session();
  }

  /** One pass now; resolves to the number of records handled, rejects when reading or the handler failed. */
  poll(): Promise<number> {
    return this.#runner.follower.poll();
  }

  /** Stops polling, waits for the pass in progress and closes the connection. */
  async close(): Promise<void> {
    await this.#runner.close();
    await this.#files.close();
  }

  /** Bytes written to the log and not read yet (as of the last pass). */
  lagBytes(): number {
    return this.#runner.follower.lagBytes();
  }

  /** When bytes were last read, ms since the epoch. */
  get lastReadAt(): number | undefined {
    return this.#runner.follower.lastReadAt;
  }
}

import type pg from 'pg';
import { ErrorCodes, PgwardenError } from '../../../errors/index.js';
import { connectPrimary, type PrimaryConnectionOptions } from '../connect-primary.js';
import { closeClient, timedQuery } from '../db-session.js';
import type { LogFile, LogFileAccess } from './log-follower.js';
import type { LogFormat } from './log-record.js';

const READ_FUNCTION = 'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)';
const ACCESS_HINT =
  'connect as a superuser, or grant the login pg_monitor (pg_ls_logdir, pg_current_logfile) and ' +
  `execute on ${READ_FUNCTION}; on a managed service (RDS, Cloud SQL) export the log instead (see RemoteLogReader)`;

interface AccessRow {
  can_list: boolean;
  can_read: boolean;
  can_current: boolean;
  directory: string;
}

/**
 * The server's log directory read over SQL: `pg_ls_logdir()` lists it, `pg_read_binary_file()`
 * reads it (bytes, not text: an offset may fall inside a multi-byte character), file name = key.
 */
export class SqlLogFiles implements LogFileAccess {
  readonly #connection: PrimaryConnectionOptions;
  readonly #format: LogFormat;
  readonly #matches: (name: string) => boolean;
  readonly #timeoutMs: number;
  readonly #onConnected: (client: pg.Client) => void;
  #client: pg.Client | undefined;
  #directory = '';
  /** Set when the login lacks the privileges or the server does not write the format. */
  refusal: PgwardenError | undefined;

  constructor(
    connection: PrimaryConnectionOptions,
    format: LogFormat,
    matches: (name: string) => boolean,
    timeoutMs: number,
    onConnected: (client: pg.Client) => void,
  ) {
    this.#connection = connection;
    this.#format = format;
    this.#matches = matches;
    this.#timeoutMs = timeoutMs;
    this.#onConnected = onConnected;
  }

  /** Connects (if needed) and checks privileges and format; PW603 when refused. */
  async session(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    const client = await connectPrimary({ application_name: 'pgwarden-monitor-log', ...this.#connection });
    try {
      this.#directory = await this.#check(client);
    } catch (err) {
      await closeClient(client);
      throw err;
    }
    this.#client = client;
    this.#onConnected(client);
    return client;
  }

  async #check(client: pg.Client): Promise<string> {
    const { rows } = await timedQuery<AccessRow>(
      client,
      `select pg_catalog.has_function_privilege('pg_catalog.pg_ls_logdir()', 'execute') as can_list,
              pg_catalog.has_function_privilege($1, 'execute') as can_read,
              pg_catalog.has_function_privilege('pg_catalog.pg_current_logfile(text)', 'execute') as can_current,
              pg_catalog.current_setting('log_directory') as directory`,
      [READ_FUNCTION],
      this.#timeoutMs,
    );
    const row = rows[0];
    if (!row?.can_list || !row.can_read) {
      const user = String(this.#connection.user ?? 'this login');
      this.refusal = new PgwardenError(
        ErrorCodes.MONITOR_SOURCE_FAILED,
        `${user} may not read the server log over SQL`,
        {
          detail: `missing: ${[row?.can_list ? '' : 'pg_ls_logdir()', row?.can_read ? '' : READ_FUNCTION].filter(Boolean).join(', ')}`,
          hint: ACCESS_HINT,
        },
      );
      throw this.refusal;
    }
    if (row.can_current) {
      const current = await timedQuery<{ file: string | null }>(
        client,
        'select pg_catalog.pg_current_logfile($1) as file',
        [this.#format],
        this.#timeoutMs,
      );
      if (current.rows[0]?.file == null) {
        this.refusal = new PgwardenError(
          ErrorCodes.MONITOR_SOURCE_FAILED,
          `The server does not write ${this.#format}`,
          {
            detail: 'pg_current_logfile() knows no such file',
            hint: `add ${this.#format} to log_destination and turn logging_collector on (a restart), or choose the format it writes`,
          },
        );
        throw this.refusal;
      }
    }
    this.refusal = undefined;
    return row.directory;
  }

  async list(): Promise<LogFile[]> {
    const { rows } = await this.#query<{ name: string; size: string; modification: Date }>(
      'select name, size, modification from pg_catalog.pg_ls_logdir()',
      [],
    );
    const files: LogFile[] = [];
    for (const r of rows) {
      if (!this.#matches(r.name)) continue;
      // A file name as key: ':' would split event ids.
      const key = r.name.replaceAll(':', '_');
      files.push({ key, path: r.name, size: Number(r.size), mtimeMs: r.modification.getTime(), listed: true });
    }
    return files;
  }

  async read(file: LogFile, offset: number, length: number): Promise<Buffer | undefined> {
    const path = this.#directory.endsWith('/') ? this.#directory + file.path : `${this.#directory}/${file.path}`;
    const { rows } = await this.#query<{ data: Buffer | null }>(
      `select pg_catalog.pg_read_binary_file($1, $2, $3, true) as data`,
      [path, offset, length],
    );
    return rows[0]?.data ?? undefined;
  }

  async release(): Promise<void> {}

  async close(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    if (client) await closeClient(client);
  }

  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<pg.QueryResult<R>> {
    const client = await this.session();
    try {
      return await timedQuery<R>(client, text, values, this.#timeoutMs);
    } catch (err) {
      // A failed query leaves the session suspect: the next pass connects afresh.
      await this.close();
      throw err;
    }
  }
}

import {
  carryOf,
  EMPTY,
  joinCarry,
  type LogParser,
  type LogParserOptions,
  type LogRecord,
  LogTimestampParser,
  presentValue,
  skipNul,
} from './log-record.js';

type JsonLine = Record<string, unknown>;

const text = (value: unknown): string | undefined => (typeof value === 'string' ? presentValue(value) : undefined);
const int = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined);

/**
 * Parses PostgreSQL's `jsonlog` (PostgreSQL 15+): one JSON object per line with the keys
 * `timestamp`, `user`, `dbname`, `pid`, `remote_host`, `session_id`, `line_num`,
 * `error_severity`, `state_code`, `message`, `detail`, `hint`, `context`, `statement`,
 * `application_name`, `backend_type` … Incremental: a line without its newline yet stays in
 * `carry` until the rest arrives.
 *
 * @example
 * const parser = new JsonLogParser();
 * parser.push('{"timestamp":"2024-05-01 10:00:00.123 UTC","error_severity":"LOG","message":"hi"}\n');
 * // [{ offset: 0, time: 1714557600123, errorSeverity: 'LOG', message: 'hi' }]
 */
export class JsonLogParser implements LogParser {
  #carry: Buffer = EMPTY;
  #base: number;
  readonly #time = new LogTimestampParser();
  readonly #onMalformed: LogParserOptions['onMalformed'];

  constructor(options: LogParserOptions = {}) {
    this.#base = options.startOffset ?? 0;
    this.#onMalformed = options.onMalformed;
  }

  get carry(): Buffer {
    return this.#carry;
  }

  get carryOffset(): number {
    return this.#base;
  }

  push(chunk: Uint8Array | string): LogRecord[] {
    const data = joinCarry(this.#carry, chunk);
    const out: LogRecord[] = [];
    let start = 0;
    for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
      const from = skipNul(data, start, nl);
      const end = nl > from && data[nl - 1] === 13 ? nl - 1 : nl;
      if (end > from) {
        const record = this.#parseLine(data.toString('utf8', from, end), this.#base + from);
        if (record) out.push(record);
      }
      start = nl + 1;
    }
    this.#carry = carryOf(data, start);
    this.#base += start;
    return out;
  }

  flush(): LogRecord[] {
    return [];
  }

  #parseLine(line: string, offset: number): LogRecord | undefined {
    let o: JsonLine;
    try {
      o = JSON.parse(line) as JsonLine;
    } catch {
      this.#onMalformed?.(offset, 'not a JSON object');
      return undefined;
    }
    if (typeof o !== 'object' || o === null || typeof o.message !== 'string') {
      this.#onMalformed?.(offset, 'a JSON line without "message"');
      return undefined;
    }
    const record: LogRecord = {
      offset,
      errorSeverity: typeof o.error_severity === 'string' ? o.error_severity : 'LOG',
      message: o.message,
    };
    const time = typeof o.timestamp === 'string' ? this.#time.parse(o.timestamp) : undefined;
    if (time !== undefined) record.time = time;
    const user = text(o.user);
    if (user !== undefined) record.user = user;
    const database = text(o.dbname);
    if (database !== undefined) record.database = database;
    const host = text(o.remote_host);
    if (host !== undefined) record.remoteHost = host;
    const pid = int(o.pid);
    if (pid !== undefined) record.pid = pid;
    const session = text(o.session_id);
    if (session !== undefined) record.sessionId = session;
    const line_num = int(o.line_num);
    if (line_num !== undefined) record.lineNumber = line_num;
    const state = text(o.state_code);
    if (state !== undefined && state !== '00000') record.sqlstate = state;
    const detail = text(o.detail);
    if (detail !== undefined) record.detail = detail;
    const hint = text(o.hint);
    if (hint !== undefined) record.hint = hint;
    const context = text(o.context);
    if (context !== undefined) record.context = context;
    const statement = text(o.statement);
    if (statement !== undefined) record.statement = statement;
    const application = text(o.application_name);
    if (application !== undefined) record.application = application;
    const backend = text(o.backend_type);
    if (backend !== undefined) record.backendType = backend;
    return record;
  }
}

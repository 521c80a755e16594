import {
  carryOf,
  EMPTY,
  hostWithoutPort,
  joinCarry,
  type LogParser,
  type LogParserOptions,
  type LogRecord,
  LogTimestampParser,
  presentValue,
  skipNul,
} from './log-record.js';

/**
 * csvlog's columns in PostgreSQL 14–17 (0-based). Columns after `backend_type` (leader_pid,
 * query_id) are not used; a record needs at least `MIN_COLUMNS` of them.
 */
const COL = {
  time: 0,
  user: 1,
  database: 2,
  pid: 3,
  connectionFrom: 4,
  sessionId: 5,
  lineNumber: 6,
  severity: 11,
  sqlstate: 12,
  message: 13,
  detail: 14,
  hint: 15,
  context: 18,
  query: 19,
  application: 22,
  backendType: 23,
} as const;
const MIN_COLUMNS = 23;
const LAST_USED = COL.backendType;

/**
 * Parses PostgreSQL's `csvlog` (the fixed column list of PostgreSQL 14–17: log_time, user_name,
 * database_name, process_id, connection_from, session_id, session_line_num, command_tag,
 * session_start_time, virtual_transaction_id, transaction_id, error_severity, sql_state_code,
 * message, detail, hint, internal_query, internal_query_pos, context, query, query_pos, location,
 * application_name, backend_type, leader_pid, query_id). Quoted fields may hold newlines and
 * doubled quotes, so a record ends at a newline outside quotes; a record not complete yet stays
 * in `carry`. Scanning is linear in the bytes pushed, however the record is split.
 *
 * @example
 * const parser = new CsvLogParser();
 * parser.push('2024-05-01 10:00:00.123 UTC,"alice","app",42,"10.0.0.1:5000",s.1,1,,,,,ERROR,42601,"syntax');
 * parser.push(' error",,,,,,"selec 1",,,"psql","client backend",,0\n'); // one record
 */
export class CsvLogParser implements LogParser {
  #carry: Buffer = EMPTY;
  #base: number;
  /** Bytes of `carry` already scanned for quotes, and whether an odd number of quotes was seen. */
  #scanned = 0;
  #inQuotes = false;
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
    let recordStart = 0;
    let pos = this.#scanned;
    let inQuotes = this.#inQuotes;
    // The next quote at or after `pos`, kept across lines so a long quoted field is scanned once.
    let quote = data.indexOf(34, pos);
    for (;;) {
      const nl = data.indexOf(10, pos);
      const stop = nl === -1 ? data.length : nl;
      while (quote !== -1 && quote < stop) {
        inQuotes = !inQuotes;
        quote = data.indexOf(34, quote + 1);
      }
      if (nl === -1) break;
      pos = nl + 1;
      if (inQuotes) continue;
      const from = skipNul(data, recordStart, nl);
      const end = nl > from && data[nl - 1] === 13 ? nl - 1 : nl;
      if (end > from) {
        const record = this.#parseRecord(data.toString('utf8', from, end), this.#base + from);
        if (record) out.push(record);
      }
      recordStart = pos;
    }
    this.#carry = carryOf(data, recordStart);
    this.#base += recordStart;
    this.#scanned = data.length - recordStart;
    this.#inQuotes = inQuotes;
    return out;
  }

  flush(): LogRecord[] {
    return [];
  }

  #parseRecord(line: string, offset: number): LogRecord | undefined {
    const record: LogRecord = { offset, errorSeverity: 'LOG', message: '' };
    let i = 0;
    let column = 0;
    const n = line.length;
    for (; column <= LAST_USED && i <= n; column++) {
      let value: string;
      if (line.charCodeAt(i) === 34) {
        let close = line.indexOf('"', i + 1);
        let escaped = false;
        while (close !== -1 && line.charCodeAt(close + 1) === 34) {
          escaped = true;
          close = line.indexOf('"', close + 2);
        }
        if (close === -1) break;
        value = line.slice(i + 1, close);
        if (escaped) value = value.replaceAll('""', '"');
        i = close + 2;
      } else {
        let comma = line.indexOf(',', i);
        if (comma === -1) comma = n;
        value = line.slice(i, comma);
        i = comma + 1;
      }
      this.#assign(record, column, value);
    }
    if (column < MIN_COLUMNS) {
      this.#onMalformed?.(offset, `a csvlog record with ${column} columns`);
      return undefined;
    }
    return record;
  }

  #assign(record: LogRecord, column: number, raw: string): void {
    if (raw === '') return;
    switch (column) {
      case COL.time: {
        const time = this.#time.parse(raw);
        if (time !== undefined) record.time = time;
        return;
      }
      case COL.user:
        if (presentValue(raw)) record.user = raw;
        return;
      case COL.database:
        if (presentValue(raw)) record.database = raw;
        return;
      case COL.pid:
        record.pid = Number(raw);
        return;
      case COL.connectionFrom: {
        const host = hostWithoutPort(raw);
        if (host !== undefined) record.remoteHost = host;
        return;
      }
      case COL.sessionId:
        record.sessionId = raw;
        return;
      case COL.lineNumber:
        record.lineNumber = Number(raw);
        return;
      case COL.severity:
        record.errorSeverity = raw;
        return;
      case COL.sqlstate:
        if (raw !== '00000') record.sqlstate = raw;
        return;
      case COL.message:
        record.message = raw;
        return;
      case COL.detail:
        record.detail = raw;
        return;
      case COL.hint:
        record.hint = raw;
        return;
      case COL.context:
        record.context = raw;
        return;
      case COL.query:
        record.statement = raw;
        return;
      case COL.application:
        record.application = raw;
        return;
      case COL.backendType:
        record.backendType = raw;
        return;
      default:
        return;
    }
  }
}

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

/**
 * The `log_line_prefix` the stderr parser understands. Set it on the server with
 * `alter system set log_line_prefix = '%m [%p] %e %q[%c:%l] %h u=%u d=%d a=%a [%c] '`.
 *
 * Why this shape: the fields the server controls (time, pid, SQLSTATE, session id, line number,
 * client address) come first, and the client-supplied ones (user, database and application name,
 * which a failed login sets to anything it likes) come after them and are closed by the session
 * id again. A client cannot therefore forge the address, nor end the prefix early to smuggle in a
 * fake severity and message, without guessing its own session id (start time and pid in hex).
 * `%q` ends the prefix for background processes (`… [4242] 00000 LOG:  checkpoint starting`).
 *
 * @example
 * // 2024-05-01 10:00:00.123 UTC [4242] 28P01 [6632a1b0.1092:2] 203.0.113.9 u=alice d=app a=psql [6632a1b0.1092] FATAL:  password authentication failed for user "alice"
 * recommendedLogLinePrefix; // '%m [%p] %e %q[%c:%l] %h u=%u d=%d a=%a [%c] '
 */
export const recommendedLogLinePrefix = '%m [%p] %e %q[%c:%l] %h u=%u d=%d a=%a [%c] ';

type TextField = 'message' | 'detail' | 'hint' | 'context' | 'statement';

/** Continuation lines PostgreSQL writes after a message, and where they go. */
const CONTINUATION: ReadonlyMap<string, TextField | undefined> = new Map([
  ['DETAIL', 'detail'],
  ['HINT', 'hint'],
  ['CONTEXT', 'context'],
  ['STATEMENT', 'statement'],
  ['QUERY', undefined],
  ['LOCATION', undefined],
]);
const SEVERITIES: ReadonlySet<string> = new Set([
  'LOG',
  'ERROR',
  'FATAL',
  'PANIC',
  'WARNING',
  'NOTICE',
  'INFO',
  'DEBUG',
  'DEBUG1',
  'DEBUG2',
  'DEBUG3',
  'DEBUG4',
  'DEBUG5',
]);

const isDigit = (c: number) => c >= 48 && c <= 57;
const isUpperOrDigit = (c: number) => (c >= 65 && c <= 90) || isDigit(c);

/** `… at character 12`: stderr appends the cursor position that csvlog/jsonlog keep apart. */
function withoutCursor(message: string): string {
  const at = message.lastIndexOf(' at character ');
  if (at === -1 || at + 14 >= message.length) return message;
  for (let i = at + 14; i < message.length; i++) if (!isDigit(message.charCodeAt(i))) return message;
  return message.slice(0, at);
}

/**
 * Parses PostgreSQL's `stderr` log written with {@link recommendedLogLinePrefix} (English
 * messages: `lc_messages = 'C'` or an `en` locale). A record is its first line plus the
 * continuation lines after it (DETAIL:, HINT:, CONTEXT:, STATEMENT:, each with the prefix, and
 * tab-indented lines continuing a multi-line text), so a record is complete only when the next
 * one starts: `push` holds the last record back, `flush` releases it (the tailers call it once
 * the file has been quiet for a poll). A line in another shape becomes a record with only its
 * message, and is reported to `onMalformed`.
 *
 * @example
 * const parser = new StderrLogParser();
 * parser.push('2024-05-01 10:00:00.123 UTC [42] 00000 LOG:  checkpoint starting: time\n'); // [] (held)
 * parser.flush(); // [{ errorSeverity: 'LOG', message: 'checkpoint starting: time', pid: 42, … }]
 */
export class StderrLogParser implements LogParser {
  #carry: Buffer = EMPTY;
  #base: number;
  /** Bytes of `carry` that are complete lines of the pending record. */
  #scanned = 0;
  #pending: LogRecord | undefined;
  #lastField: TextField | undefined;
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
    for (let nl = data.indexOf(10, pos); nl !== -1; nl = data.indexOf(10, pos)) {
      const from = skipNul(data, pos, nl);
      const end = nl > from && data[nl - 1] === 13 ? nl - 1 : nl;
      if (end > from && this.#line(data.toString('utf8', from, end), this.#base + from, out)) recordStart = from;
      pos = nl + 1;
    }
    if (this.#pending === undefined) recordStart = pos;
    this.#carry = carryOf(data, recordStart);
    this.#base += recordStart;
    this.#scanned = pos - recordStart;
    return out;
  }

  flush(): LogRecord[] {
    const pending = this.#pending;
    if (pending === undefined) return [];
    this.#pending = undefined;
    this.#carry = carryOf(this.#carry, this.#scanned);
    this.#base += this.#scanned;
    this.#scanned = 0;
    return [finish(pending)];
  }

  /** Handles one line; true when it starts a new (pending) record. */
  #line(line: string, offset: number, out: LogRecord[]): boolean {
    if (line.charCodeAt(0) === 9) {
      this.#append(this.#lastField, line.slice(1));
      return false;
    }
    const record: LogRecord = { offset, errorSeverity: 'LOG', message: '' };
    // Without a prefix of ours the line may still be bare (`log_line_prefix = ''`).
    const prefixEnd = this.#prefix(line, record);
    const at = prefixEnd === -1 ? 0 : prefixEnd;
    const severity = severityAt(line, at);
    if (severity === undefined) {
      this.#onMalformed?.(offset, 'a line not in the recommended log_line_prefix format');
      return this.#start({ offset, errorSeverity: 'LOG', message: line }, out, undefined);
    }
    const text = line.slice(at + severity.length + 3);
    if (CONTINUATION.has(severity)) {
      const pending = this.#pending;
      // A continuation follows its message in the same write; another process's is an orphan.
      if (pending === undefined || (record.pid !== undefined && pending.pid !== record.pid)) return false;
      const field = CONTINUATION.get(severity);
      this.#lastField = field;
      if (field !== undefined) pending[field] = pending[field] === undefined ? text : `${pending[field]}\n${text}`;
      return false;
    }
    if (!SEVERITIES.has(severity)) {
      this.#onMalformed?.(offset, `unknown severity ${severity}`);
      return this.#start({ offset, errorSeverity: 'LOG', message: line }, out, undefined);
    }
    record.errorSeverity = severity;
    record.message = text;
    return this.#start(record, out, 'message');
  }

  #start(record: LogRecord, out: LogRecord[], field: TextField | undefined): boolean {
    if (this.#pending !== undefined) out.push(finish(this.#pending));
    this.#pending = record;
    this.#lastField = field;
    return true;
  }

  #append(field: TextField | undefined, text: string): void {
    const pending = this.#pending;
    if (pending === undefined || field === undefined) return;
    pending[field] = `${pending[field] ?? ''}\n${text}`;
  }

  /**
   * Reads the prefix into `record`; returns where the severity starts, or -1. Layout:
   * `<time> [<pid>] <sqlstate> ` then, for session processes,
   * `[<session>:<line>] <host> u=<user> d=<db> a=<app> [<session>] `.
   */
  #prefix(line: string, record: LogRecord): number {
    if (!isDigit(line.charCodeAt(0)) || line.charCodeAt(4) !== 45) return -1;
    const timeEnd = line.indexOf(' [', 19);
    if (timeEnd === -1) return -1;
    const pidEnd = line.indexOf('] ', timeEnd + 2);
    if (pidEnd === -1) return -1;
    const pid = Number(line.slice(timeEnd + 2, pidEnd));
    if (!Number.isInteger(pid)) return -1;
    const stateAt = pidEnd + 2;
    if (line.charCodeAt(stateAt + 5) !== 32) return -1;
    for (let i = stateAt; i < stateAt + 5; i++) if (!isUpperOrDigit(line.charCodeAt(i))) return -1;
    const time = this.#time.parse(line.slice(0, timeEnd));
    if (time !== undefined) record.time = time;
    record.pid = pid;
    const state = line.slice(stateAt, stateAt + 5);
    if (state !== '00000') record.sqlstate = state;
    const rest = stateAt + 6;
    if (line.charCodeAt(rest) !== 91) return rest;
    return this.#sessionPart(line, rest, record);
  }

  #sessionPart(line: string, at: number, record: LogRecord): number {
    const colon = line.indexOf(':', at + 1);
    const close = colon === -1 ? -1 : line.indexOf('] ', colon);
    if (close === -1) return -1;
    const session = line.slice(at + 1, colon);
    const hostAt = close + 2;
    const hostEnd = line.indexOf(' u=', hostAt);
    if (hostEnd === -1) return -1;
    // The client-supplied part ends at the first " [<session>] ": the session id is the server's.
    const marker = ` [${session}] `;
    const fieldsAt = hostEnd + 3;
    const markerAt = line.indexOf(marker, fieldsAt);
    if (markerAt === -1) return -1;
    record.sessionId = session;
    const lineNumber = Number(line.slice(colon + 1, close));
    if (Number.isInteger(lineNumber)) record.lineNumber = lineNumber;
    const host = line.slice(hostAt, hostEnd);
    if (host !== '') record.remoteHost = host;
    const dbAt = line.indexOf(' d=', fieldsAt);
    const appAt = dbAt === -1 || dbAt > markerAt ? -1 : line.indexOf(' a=', dbAt + 3);
    if (appAt !== -1 && appAt < markerAt) {
      const user = presentValue(line.slice(fieldsAt, dbAt));
      if (user !== undefined) record.user = user;
      const database = presentValue(line.slice(dbAt + 3, appAt));
      if (database !== undefined) record.database = database;
      const application = presentValue(line.slice(appAt + 3, markerAt));
      if (application !== undefined) record.application = application;
    }
    return markerAt + marker.length;
  }
}

/** The severity word at `at` when it is followed by ":  ", else undefined. */
function severityAt(line: string, at: number): string | undefined {
  let i = at;
  while (i < line.length && i - at < 10 && isUpperOrDigit(line.charCodeAt(i))) i++;
  if (i === at || line.charCodeAt(i) !== 58 || line.charCodeAt(i + 1) !== 32 || line.charCodeAt(i + 2) !== 32) {
    return undefined;
  }
  return line.slice(at, i);
}

function finish(record: LogRecord): LogRecord {
  record.message = withoutCursor(record.message);
  return record;
}

import {
  carryOf,
  EMPTY,
  joinCarry,
  type LogInjectionReason,
  type LogParser,
  type LogParserOptions,
  type LogRecord,
  LogTimestampParser,
  skipNul,
} from './log-record.js';
import {
  CONTINUATION,
  isRecordWord,
  NO_PREFIX,
  OPEN_PREFIX,
  readPrefix,
  SEVERITIES,
  severityAt,
  type TextField,
} from './stderr-prefix.js';

export { recommendedLogLinePrefix } from './stderr-prefix.js';

/**
 * How far a prefix may run past its first line. The server cuts user and database names to 63
 * bytes (NAMEDATALEN - 1) and the application name to 63 printable characters (escaped as up to
 * 4 bytes each from PostgreSQL 16), so the client-supplied part is under 420 bytes and holds at
 * most 126 line breaks; a prefix still open after this is not the server's.
 */
const MAX_SPAN_BYTES = 512;
const MAX_SPAN_LINES = 128;

const isDigit = (c: number) => c >= 48 && c <= 57;

/** `… at character 12`: stderr appends the cursor position that csvlog/jsonlog keep apart. */
function withoutCursor(message: string): string {
  const at = message.lastIndexOf(' at character ');
  if (at === -1 || at + 14 >= message.length) return message;
  for (let i = at + 14; i < message.length; i++) if (!isDigit(message.charCodeAt(i))) return message;
  return message.slice(0, at);
}

/** End of the line ending with the newline at `nl` (a CR before it is not part of the line). */
const lineEnd = (data: Buffer, from: number, nl: number) => (nl > from && data[nl - 1] === 13 ? nl - 1 : nl);

/** What one step of the parser consumed. */
interface Step {
  /** Start of the first line consumed. */
  from: number;
  /** Where the next step starts. */
  next: number;
  /** Whether a new pending record starts at `from`. */
  started: boolean;
}

/** A prefix span: its text ends at `end`, the next line starts at `next`; `open` when never closed. */
type Span = { end: number; next: number; open: boolean } | 'wait';

/**
 * Parses PostgreSQL's `stderr` log written with {@link recommendedLogLinePrefix} (English
 * messages: `lc_messages = 'C'` or an `en` locale). A record is its first line plus the
 * continuation lines after it (DETAIL:, HINT:, CONTEXT:, STATEMENT:, each with the prefix, and
 * tab-indented lines continuing a multi-line text), so a record is complete only when the next
 * one starts: `push` holds the last record back, `flush` releases it (the tailers call it once
 * the file has been quiet for a poll). A line in another shape becomes a record with only its
 * message, and is reported to `onMalformed`.
 *
 * A record begins only where the server began one. A user or database name with a line break
 * splits the prefix over several lines: they are read as one prefix up to the closing session id
 * (at most 512 bytes, 128 lines), whatever they look like, and a `line_break_in_name` record
 * follows the real one. Text that looks forged is reported as a record with `injection` set
 * (`pg.log_injection` once classified), never read as the record it pretends to be.
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
  /** Records that follow the pending one (injection reports about it). */
  #after: LogRecord[] = [];
  #lastField: TextField | undefined;
  /** Whether lines carry the prefix: set by the option, or by the first prefixed line. */
  #prefixed: boolean;
  /** The session id of the last prefixed line. */
  #lastSession: string | undefined;
  /** No expectPrefix given: the first prefixed line decides. */
  readonly #detect: boolean;
  readonly #bareAllowed: boolean;
  readonly #time = new LogTimestampParser();
  readonly #onMalformed: LogParserOptions['onMalformed'];

  constructor(options: LogParserOptions = {}) {
    this.#base = options.startOffset ?? 0;
    this.#onMalformed = options.onMalformed;
    this.#prefixed = options.expectPrefix === true;
    this.#detect = options.expectPrefix === undefined;
    this.#bareAllowed = options.expectPrefix !== true;
  }

  get carry(): Buffer {
    return this.#carry;
  }

  get carryOffset(): number {
    return this.#base;
  }

  push(chunk: Uint8Array | string): LogRecord[] {
    return this.#run(joinCarry(this.#carry, chunk), false);
  }

  flush(): LogRecord[] {
    return this.#run(this.#carry, true);
  }

  /** Parses the complete lines of `data`; `final` when no more bytes are coming for now. */
  #run(data: Buffer, final: boolean): LogRecord[] {
    const out: LogRecord[] = [];
    let recordStart = 0;
    let pos = this.#scanned;
    for (let step = this.#step(data, pos, final, out); step; step = this.#step(data, pos, final, out)) {
      if (step.started) recordStart = step.from;
      pos = step.next;
    }
    if (final) this.#release(out);
    if (this.#pending === undefined) recordStart = pos;
    this.#carry = carryOf(data, recordStart);
    this.#base += recordStart;
    this.#scanned = pos - recordStart;
    return out;
  }

  /** Handles the line at `pos` (and the lines of its prefix); undefined when it must wait for more. */
  #step(data: Buffer, pos: number, final: boolean, out: LogRecord[]): Step | undefined {
    const nl = data.indexOf(10, pos);
    if (nl === -1) return undefined;
    const from = skipNul(data, pos, nl);
    const end = lineEnd(data, from, nl);
    if (end <= from) return { from, next: nl + 1, started: false };
    let text = data.toString('utf8', from, end);
    if (text.charCodeAt(0) === 9) {
      this.#append(this.#lastField, text.slice(1));
      return { from, next: nl + 1, started: false };
    }
    const offset = this.#base + from;
    let record: LogRecord = { offset, errorSeverity: 'LOG', message: '' };
    let at = readPrefix(text, record, this.#time);
    let next = nl + 1;
    let split = false;
    if (at === OPEN_PREFIX) {
      const span = this.#span(data, nl + 1, ` [${record.sessionId ?? ''}] `, final);
      if (span === 'wait') return undefined;
      next = span.next;
      if (span.open) {
        // Also what a log_line_prefix other than the recommended one looks like: say so once.
        this.#onMalformed?.(offset, 'a log line prefix without its closing session id');
        return this.#report(record, 'unterminated_prefix', out, from, next);
      }
      text = data.toString('utf8', from, span.end);
      record = { offset, errorSeverity: 'LOG', message: '' };
      at = readPrefix(text, record, this.#time);
      split = true;
    }
    if (at === NO_PREFIX) return this.#bare(text, offset, out, from, next);
    if (this.#detect) this.#prefixed = true;
    this.#lastSession = record.sessionId;
    const started = this.#line(text, at, record, out);
    if (started) this.#companions(record, text, at, split ? this.#base + nl + 1 : undefined, this.#base + next - 1);
    return { from, next, started };
  }

  /**
   * Finds the line holding `marker` among the lines from `start`, within the bound: that line
   * ends the prefix. 'wait' when the lines seen so far are all there is yet.
   */
  #span(data: Buffer, start: number, marker: string, final: boolean): Span {
    let cursor = start;
    for (let lines = 1; lines < MAX_SPAN_LINES; lines++) {
      const nl = data.indexOf(10, cursor);
      // The server writes a record in one go: once the file is quiet, a missing end never comes.
      if (nl === -1) return final && cursor >= data.length ? { end: cursor, next: cursor, open: true } : 'wait';
      const end = lineEnd(data, cursor, nl);
      if (end - start > MAX_SPAN_BYTES) break;
      if (data.subarray(cursor, end).includes(marker)) return { end, next: nl + 1, open: false };
      cursor = nl + 1;
    }
    return { end: cursor, next: cursor, open: true };
  }

  /** Reads a line whose prefix was parsed (severity at `at`); true when it starts a record. */
  #line(text: string, at: number, record: LogRecord, out: LogRecord[]): boolean {
    const severity = severityAt(text, at);
    if (severity === undefined) {
      this.#onMalformed?.(record.offset, 'a line not in the recommended log_line_prefix format');
      return this.#start({ offset: record.offset, errorSeverity: 'LOG', message: text }, out, undefined);
    }
    const body = text.slice(at + severity.length + 3);
    if (CONTINUATION.has(severity)) {
      const pending = this.#pending;
      // A continuation follows its message in the same write; another process's is an orphan.
      if (pending === undefined || (record.pid !== undefined && pending.pid !== record.pid)) return false;
      const field = CONTINUATION.get(severity);
      this.#lastField = field;
      if (field !== undefined) pending[field] = pending[field] === undefined ? body : `${pending[field]}\n${body}`;
      return false;
    }
    if (!SEVERITIES.has(severity)) {
      this.#onMalformed?.(record.offset, `unknown severity ${severity}`);
      return this.#start({ offset: record.offset, errorSeverity: 'LOG', message: text }, out, undefined);
    }
    record.errorSeverity = severity;
    record.message = body;
    return this.#start(record, out, 'message');
  }

  /**
   * Queues the injection reports about a record that just started: a prefix split by a line break
   * (at `splitAt`), and the session's closing marker written again after the prefix, which only a
   * client that guessed its session id can do.
   */
  #companions(record: LogRecord, text: string, from: number, splitAt: number | undefined, lastByte: number): void {
    if (splitAt !== undefined) this.#after.push(this.#injection(record, splitAt, 'line_break_in_name'));
    if (record.sessionId === undefined) return;
    const marker = ` [${record.sessionId}] `;
    for (let again = text.indexOf(marker, from); again !== -1; again = text.indexOf(marker, again + 1)) {
      if (!isRecordWord(severityAt(text, again + marker.length))) continue;
      // A byte inside the record's lines, where no record starts: a unique offset for the report.
      const offset = Math.min(record.offset + Buffer.byteLength(text.slice(0, again)), lastByte);
      this.#after.push(this.#injection(record, offset, 'repeated_session_marker'));
      return;
    }
  }

  /** A line without our prefix: a bare record, or a forgery where lines carry the prefix. */
  #bare(text: string, offset: number, out: LogRecord[], from: number, next: number): Step {
    const word = severityAt(text, 0);
    if (this.#prefixed && isRecordWord(word)) {
      return this.#report({ offset, errorSeverity: 'LOG', message: '' }, 'unprefixed_line', out, from, next);
    }
    // The rest of a prefix cut short by a session id the client guessed and wrote into its name.
    if (this.#prefixed && this.#lastSession !== undefined) {
      const marker = ` [${this.#lastSession}] `;
      const at = text.indexOf(marker);
      if (at !== -1 && isRecordWord(severityAt(text, at + marker.length))) {
        const head: LogRecord = { offset, errorSeverity: 'LOG', message: '', sessionId: this.#lastSession };
        return this.#report(head, 'repeated_session_marker', out, from, next);
      }
    }
    if (word === undefined || !this.#bareAllowed) {
      this.#onMalformed?.(offset, 'a line not in the recommended log_line_prefix format');
      return { from, next, started: this.#start({ offset, errorSeverity: 'LOG', message: text }, out, undefined) };
    }
    const record: LogRecord = { offset, errorSeverity: 'LOG', message: '' };
    return { from, next, started: this.#line(text, 0, record, out) };
  }

  /** Starts a record reporting `reason` in place of the line(s) from `from` to `next`. */
  #report(head: LogRecord, reason: LogInjectionReason, out: LogRecord[], from: number, next: number): Step {
    this.#start(this.#injection(head, head.offset, reason), out, undefined);
    return { from, next, started: true };
  }

  /** An injection report carrying only what the server wrote of `head`. */
  #injection(head: LogRecord, offset: number, reason: LogInjectionReason): LogRecord {
    const r: LogRecord = { offset, errorSeverity: 'LOG', message: '', injection: reason };
    if (head.time !== undefined) r.time = head.time;
    if (head.pid !== undefined) r.pid = head.pid;
    if (head.sessionId !== undefined) r.sessionId = head.sessionId;
    if (head.remoteHost !== undefined) r.remoteHost = head.remoteHost;
    return r;
  }

  #start(record: LogRecord, out: LogRecord[], field: TextField | undefined): boolean {
    this.#release(out);
    this.#pending = record;
    this.#lastField = field;
    return true;
  }

  /** Emits the pending record and the reports that follow it. */
  #release(out: LogRecord[]): void {
    if (this.#pending !== undefined) out.push(finish(this.#pending));
    this.#pending = undefined;
    if (this.#after.length > 0) out.push(...this.#after);
    this.#after = [];
  }

  #append(field: TextField | undefined, text: string): void {
    const pending = this.#pending;
    if (pending === undefined || field === undefined) return;
    pending[field] = `${pending[field] ?? ''}\n${text}`;
  }
}

function finish(record: LogRecord): LogRecord {
  record.message = withoutCursor(record.message);
  return record;
}

/**
 * The server-log record every parser produces, whatever the log format, and the small pieces of
 * parsing the formats share (timestamps, addresses, empty values).
 */

/**
 * The log formats PostgreSQL writes (`log_destination`).
 *
 * @example
 * const format: LogFormat = 'jsonlog';
 */
export type LogFormat = 'jsonlog' | 'csvlog' | 'stderr';

/**
 * One PostgreSQL server-log record, normalised. A field is absent when the format or the record
 * did not carry it (pre-authentication lines have no user; background processes no session).
 *
 * @example
 * const r: LogRecord = {
 *   offset: 0, time: Date.parse('2024-05-01T10:00:00.123Z'), user: 'alice', database: 'app',
 *   remoteHost: '203.0.113.9', pid: 4242, errorSeverity: 'FATAL', sqlstate: '28P01',
 *   message: 'password authentication failed for user "alice"',
 * };
 */
export interface LogRecord {
  /** Byte offset of the record's first byte in the stream its parser read (the log file). */
  offset: number;
  /** The record's timestamp, ms since the epoch; absent when the time zone was not understood. */
  time?: number;
  user?: string;
  database?: string;
  /** Client address or host name without the port, or `[local]` for a Unix-socket client. */
  remoteHost?: string;
  pid?: number;
  sessionId?: string;
  lineNumber?: number;
  /** 'LOG', 'ERROR', 'FATAL', 'PANIC', 'WARNING', 'NOTICE', 'INFO', 'DEBUG1' … */
  errorSeverity: string;
  /** SQLSTATE; absent for successful completion (00000). */
  sqlstate?: string;
  message: string;
  detail?: string;
  hint?: string;
  context?: string;
  /** The statement the record is about (the log's `statement` / `query` field, or STATEMENT line). */
  statement?: string;
  application?: string;
  backendType?: string;
  /**
   * Set on a record the stderr parser made to report text that looks forged rather than written
   * by the server as a record (see {@link LogInjectionReason}); its other fields are the server's.
   */
  injection?: LogInjectionReason;
}

/**
 * Why the stderr parser reports a log forgery attempt (the `pg.log_injection` event's fields.reason):
 * - `line_break_in_name`: a client-supplied user or database name in the prefix holds a line break
 *   (the record itself is still read, as one record);
 * - `unterminated_prefix`: a prefix whose closing ` [<session>] ` never came; the lines after it,
 *   up to the bound, are not read as records;
 * - `unprefixed_line`: a `SEVERITY:  ` line without the prefix in a log written with one;
 * - `repeated_session_marker`: the session's closing marker appears again after the prefix, as a
 *   client that guessed its session id would write it.
 *
 * @example
 * const reason: LogInjectionReason = 'line_break_in_name';
 */
export type LogInjectionReason =
  'line_break_in_name' | 'unterminated_prefix' | 'unprefixed_line' | 'repeated_session_marker';

/**
 * An incremental parser of one log stream: `push` bytes as they arrive, get the records that are
 * complete; the rest stays in `carry` (persisted by the tailers so a restart resumes mid-record).
 *
 * @example
 * const parser = new JsonLogParser();
 * const records = parser.push(chunk); // complete lines only
 */
export interface LogParser {
  /** Adds bytes (or text, taken as UTF-8) and returns the records completed by them. */
  push(chunk: Uint8Array | string): LogRecord[];
  /**
   * Returns a record that is complete but held back because a continuation line might still
   * follow (stderr only); a partial last line stays in `carry`.
   */
  flush(): LogRecord[];
  /** Bytes read but not yet returned as records. */
  readonly carry: Buffer;
  /** Stream offset of `carry`'s first byte. */
  readonly carryOffset: number;
}

/**
 * What every parser constructor takes.
 *
 * @example
 * new CsvLogParser({ startOffset: 4096, onMalformed: (offset, reason) => log.warn({ offset }, reason) });
 */
export interface LogParserOptions {
  /** Stream offset of the first byte pushed (record offsets count from it); default 0. */
  startOffset?: number;
  /** Called for a record that cannot be parsed (it is skipped). */
  onMalformed?: (offset: number, reason: string) => void;
  /**
   * stderr only: whether every line carries recommendedLogLinePrefix. `true`: a line without it
   * never starts a record (a `SEVERITY:  ` one is reported as a forgery); `false`: lines may be
   * bare (`log_line_prefix = ''`). Default: bare lines are read until the first prefixed line, then
   * as with `true`.
   */
  expectPrefix?: boolean;
}

/** Abbreviations PostgreSQL may print for log_timezone, in minutes east of UTC. */
const ZONE_MINUTES: ReadonlyMap<string, number> = new Map([
  ['UTC', 0],
  ['GMT', 0],
  ['UCT', 0],
  ['Z', 0],
  ['WET', 0],
  ['WEST', 60],
  ['BST', 60],
  ['CET', 60],
  ['CEST', 120],
  ['MET', 60],
  ['MEST', 120],
  ['EET', 120],
  ['EEST', 180],
  ['MSK', 180],
  ['EST', -300],
  ['EDT', -240],
  ['CST', -360],
  ['CDT', -300],
  ['MST', -420],
  ['MDT', -360],
  ['PST', -480],
  ['PDT', -420],
  ['AKST', -540],
  ['AKDT', -480],
  ['HST', -600],
  ['JST', 540],
  ['KST', 540],
  ['AEST', 600],
  ['AEDT', 660],
  ['ACST', 570],
  ['ACDT', 630],
  ['AWST', 480],
  ['NZST', 720],
  ['NZDT', 780],
]);

/** Minutes east of UTC for `+05`, `-0330`, `+05:30`, or a known abbreviation. */
function zoneMinutes(zone: string): number | undefined {
  const sign = zone.charCodeAt(0);
  if (sign !== 43 && sign !== 45) return ZONE_MINUTES.get(zone);
  const digits = zone.length === 6 && zone[3] === ':' ? zone.slice(1, 3) + zone.slice(4) : zone.slice(1);
  if (!/^\d{2}(\d{2})?$/.test(digits)) return undefined;
  const minutes = Number(digits.slice(0, 2)) * 60 + (digits.length === 4 ? Number(digits.slice(2)) : 0);
  return sign === 45 ? -minutes : minutes;
}

/** The value of `n` ASCII digits at `at`, or -1. */
function digitsAt(text: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * Parses PostgreSQL's log timestamps (`2024-05-01 10:00:00.123 UTC`, `%m` and the csvlog/jsonlog
 * `timestamp`) into ms since the epoch. Consecutive records share their minute, so the last
 * minute's value is cached per instance. Ambiguous zone abbreviations (IST …) give undefined:
 * run the server with `log_timezone = 'UTC'`.
 *
 * @example
 * new LogTimestampParser().parse('2024-05-01 10:00:00.123 UTC'); // 1714557600123
 */
export class LogTimestampParser {
  #minutePrefix = '';
  #zoneSuffix = '';
  #minuteMs = 0;

  parse(text: string): number | undefined {
    if (text.length < 21 || text.charCodeAt(16) !== 58) return undefined;
    let base: number;
    if (this.#minutePrefix !== '' && text.startsWith(this.#minutePrefix) && text.endsWith(this.#zoneSuffix)) {
      base = this.#minuteMs;
    } else {
      const space = text.lastIndexOf(' ');
      if (space < 19) return undefined;
      const zone = zoneMinutes(text.slice(space + 1));
      const y = digitsAt(text, 0, 4);
      const mo = digitsAt(text, 5, 2);
      const d = digitsAt(text, 8, 2);
      const h = digitsAt(text, 11, 2);
      const mi = digitsAt(text, 14, 2);
      if (zone === undefined || y < 0 || mo < 1 || d < 1 || h < 0 || mi < 0) return undefined;
      base = Date.UTC(y, mo - 1, d, h, mi) - zone * 60_000;
      this.#minutePrefix = text.slice(0, 17);
      this.#zoneSuffix = text.slice(space);
      this.#minuteMs = base;
    }
    const s = digitsAt(text, 17, 2);
    if (s < 0) return undefined;
    let ms = 0;
    if (text.charCodeAt(19) === 46) {
      // Fractions of %m are milliseconds; take up to three digits whatever the precision.
      let scale = 100;
      for (let i = 20; i < text.length && scale >= 1; i++, scale /= 10) {
        const c = text.charCodeAt(i) - 48;
        if (c < 0 || c > 9) break;
        ms += c * scale;
      }
    }
    return base + s * 1000 + ms;
  }
}

/**
 * A value PostgreSQL writes for "none": empty, or `[unknown]` (stderr's %u/%d/%a before login).
 * Returns undefined for those, the value otherwise.
 */
export function presentValue(value: string | undefined): string | undefined {
  return value === undefined || value === '' || value === '[unknown]' ? undefined : value;
}

/**
 * The host part of csvlog's `connection_from` (`127.0.0.1:5432`, `::1:5432`, `[local]`).
 *
 * @example
 * hostWithoutPort('203.0.113.9:50412'); // '203.0.113.9'
 */
export function hostWithoutPort(connectionFrom: string): string | undefined {
  if (connectionFrom === '') return undefined;
  if (connectionFrom.charCodeAt(0) === 91) return connectionFrom; // [local]
  const colon = connectionFrom.lastIndexOf(':');
  if (colon <= 0) return connectionFrom;
  for (let i = colon + 1; i < connectionFrom.length; i++) {
    const c = connectionFrom.charCodeAt(i);
    if (c < 48 || c > 57) return connectionFrom;
  }
  return connectionFrom.slice(0, colon);
}

/** The shared empty buffer. */
export const EMPTY: Buffer = Buffer.alloc(0);

/** A parser's carry after `consumed` bytes of `data`: a copy, so a large chunk can be freed. */
export function carryOf(data: Buffer, consumed: number): Buffer {
  return consumed >= data.length ? EMPTY : Buffer.from(data.subarray(consumed));
}

/** `chunk` as a Buffer, prefixed by `carry` when there is one. */
export function joinCarry(carry: Buffer, chunk: Uint8Array | string): Buffer {
  const bytes =
    typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
  return carry.length === 0 ? bytes : Buffer.concat([carry, bytes]);
}

/** Start of the next line at or after `from` that is not NUL padding (copytruncate leaves some). */
export function skipNul(data: Buffer, from: number, end: number): number {
  let i = from;
  while (i < end && data[i] === 0) i++;
  return i;
}

import { type LogRecord, type LogTimestampParser, presentValue } from './log-record.js';

/**
 * The `log_line_prefix` the stderr parser understands. Set it on the server with
 * `alter system set log_line_prefix = '%m [%p] %e %q[%c:%l] %h u=%u d=%d a=%a [%c] '`.
 *
 * Why this shape: the fields the server controls (time, pid, SQLSTATE, session id, line number,
 * client address) come first, and the client-supplied ones (user, database and application name,
 * which a failed login sets to anything it likes) come after them and are closed by the session
 * id again. A client cannot therefore forge the address, nor end the prefix early to smuggle in a
 * fake severity and message, without guessing its own session id (start time and pid in hex).
 * The server writes user and database names unescaped, line breaks included: the parser reads the
 * lines up to the closing session id as one prefix, so text after such a line break is never taken
 * for a record of its own. `%q` ends the prefix for background processes
 * (`… [4242] 00000 LOG:  checkpoint starting`).
 *
 * @example
 * // 2024-05-01 10:00:00.123 UTC [4242] 28P01 [6632a1b0.1092:2] 203.0.113.9 u=alice d=app a=psql [6632a1b0.1092] FATAL:  password authentication failed for user "alice"
 * recommendedLogLinePrefix; // '%m [%p] %e %q[%c:%l] %h u=%u d=%d a=%a [%c] '
 */
export const recommendedLogLinePrefix = '%m [%p] %e %q[%c:%l] %h u=%u d=%d a=%a [%c] ';

/** The record fields continuation lines add to. */
export type TextField = 'message' | 'detail' | 'hint' | 'context' | 'statement';

/** Continuation lines PostgreSQL writes after a message, and where they go. */
export const CONTINUATION: ReadonlyMap<string, TextField | undefined> = new Map([
  ['DETAIL', 'detail'],
  ['HINT', 'hint'],
  ['CONTEXT', 'context'],
  ['STATEMENT', 'statement'],
  ['QUERY', undefined],
  ['LOCATION', undefined],
]);
/** The severities that start a record. */
export const SEVERITIES: ReadonlySet<string> = new Set([
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
/** Whether `word` is a severity or a continuation word (`DETAIL` …). */
export const isRecordWord = (word: string | undefined) =>
  word !== undefined && (SEVERITIES.has(word) || CONTINUATION.has(word));

/** {@link readPrefix}: the text does not start with a prefix of ours. */
export const NO_PREFIX = -1;
/** {@link readPrefix}: a session line's head parsed, but its closing ` [<session>] ` is not in the text. */
export const OPEN_PREFIX = -2;

const isDigit = (c: number) => c >= 48 && c <= 57;
const isHex = (c: number) => isDigit(c) || (c >= 97 && c <= 102);
export const isUpperOrDigit = (c: number) => (c >= 65 && c <= 90) || isDigit(c);

/** `%c` as the server prints it: start time and pid in lower-case hex, `6632a1b0.1092`. */
function isSessionId(text: string): boolean {
  const dot = text.indexOf('.');
  if (dot <= 0 || dot === text.length - 1 || text.length > 24) return false;
  for (let i = 0; i < text.length; i++) if (i !== dot && !isHex(text.charCodeAt(i))) return false;
  return true;
}

/**
 * Reads the prefix of `text` into `record`; returns where the severity starts, NO_PREFIX or
 * OPEN_PREFIX. Layout: `<time> [<pid>] <sqlstate> ` then, for session processes,
 * `[<session>:<line>] <host> u=<user> d=<db> a=<app> [<session>] `.
 *
 * @example
 * const record: LogRecord = { offset: 0, errorSeverity: 'LOG', message: '' };
 * readPrefix('2024-05-01 10:00:00.123 UTC [42] 00000 LOG:  x', record, new LogTimestampParser()); // 39
 */
export function readPrefix(text: string, record: LogRecord, time: LogTimestampParser): number {
  if (!isDigit(text.charCodeAt(0)) || text.charCodeAt(4) !== 45) return NO_PREFIX;
  const timeEnd = text.indexOf(' [', 19);
  if (timeEnd === -1) return NO_PREFIX;
  const pidEnd = text.indexOf('] ', timeEnd + 2);
  if (pidEnd === -1 || pidEnd === timeEnd + 2 || pidEnd > timeEnd + 12) return NO_PREFIX;
  for (let i = timeEnd + 2; i < pidEnd; i++) if (!isDigit(text.charCodeAt(i))) return NO_PREFIX;
  const stateAt = pidEnd + 2;
  if (text.charCodeAt(stateAt + 5) !== 32) return NO_PREFIX;
  for (let i = stateAt; i < stateAt + 5; i++) if (!isUpperOrDigit(text.charCodeAt(i))) return NO_PREFIX;
  const t = time.parse(text.slice(0, timeEnd));
  if (t !== undefined) record.time = t;
  record.pid = Number(text.slice(timeEnd + 2, pidEnd));
  const state = text.slice(stateAt, stateAt + 5);
  if (state !== '00000') record.sqlstate = state;
  const rest = stateAt + 6;
  if (text.charCodeAt(rest) !== 91) return rest;
  return sessionPart(text, rest, record);
}

function sessionPart(text: string, at: number, record: LogRecord): number {
  const colon = text.indexOf(':', at + 1);
  const close = colon === -1 ? -1 : text.indexOf('] ', colon);
  if (close === -1) return NO_PREFIX;
  const session = text.slice(at + 1, colon);
  if (!isSessionId(session)) return NO_PREFIX;
  const hostAt = close + 2;
  const hostEnd = text.indexOf(' u=', hostAt);
  if (hostEnd === -1) return NO_PREFIX;
  record.sessionId = session;
  const lineNumber = Number(text.slice(colon + 1, close));
  if (Number.isInteger(lineNumber)) record.lineNumber = lineNumber;
  const host = text.slice(hostAt, hostEnd);
  if (host !== '') record.remoteHost = host;
  // The client-supplied part ends at " [<session>] ": the session id is the server's. A client
  // that guessed it may write it into its user name too; the server's comes after " d=" and " a=".
  const marker = ` [${session}] `;
  const fieldsAt = hostEnd + 3;
  const first = text.indexOf(marker, fieldsAt);
  if (first === -1) return OPEN_PREFIX;
  const dbAt = text.indexOf(' d=', fieldsAt);
  const appAt = dbAt === -1 ? -1 : text.indexOf(' a=', dbAt + 3);
  const markerAt = appAt === -1 || appAt < first ? first : text.indexOf(marker, appAt);
  if (markerAt === -1) return first + marker.length;
  if (appAt !== -1 && appAt < markerAt) {
    const user = presentValue(text.slice(fieldsAt, dbAt));
    if (user !== undefined) record.user = user;
    const database = presentValue(text.slice(dbAt + 3, appAt));
    if (database !== undefined) record.database = database;
    const application = presentValue(text.slice(appAt + 3, markerAt));
    if (application !== undefined) record.application = application;
  }
  return markerAt + marker.length;
}

/**
 * The severity word at `at` when it is followed by ":  ", else undefined.
 *
 * @example
 * severityAt('x FATAL:  boom', 2); // 'FATAL'
 */
export function severityAt(line: string, at: number): string | undefined {
  let i = at;
  while (i < line.length && i - at < 10 && isUpperOrDigit(line.charCodeAt(i))) i++;
  if (i === at || line.charCodeAt(i) !== 58 || line.charCodeAt(i + 1) !== 32 || line.charCodeAt(i + 2) !== 32) {
    return undefined;
  }
  return line.slice(at, i);
}

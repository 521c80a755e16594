import { isIP } from 'node:net';
import { addressBlock, type EventSeverity, type UntimedEvent } from '../../event.js';
import { logCategory } from './categories.js';
import type { LogInjectionReason, LogRecord } from './log-record.js';
import { maskSecrets, maskVerifiers, scrubSecrets } from './mask-secrets.js';
import { parsePgauditMessage } from './pgaudit.js';
import { withoutSqlComments } from './sql-lexer.js';

type Fields = UntimedEvent['fields'];

const LEVELS: ReadonlyMap<string, EventSeverity> = new Map([
  ['PANIC', 'critical'],
  ['FATAL', 'error'],
  ['ERROR', 'error'],
  ['WARNING', 'warning'],
  ['NOTICE', 'notice'],
  ['INFO', 'info'],
  ['LOG', 'info'],
]);
const isErrorLevel = (s: string) => s === 'ERROR' || s === 'FATAL' || s === 'PANIC';
/** Parameters whose logged value may be a secret (`primary_conninfo`, `ssl_passphrase_command` …). */
const SECRET_PARAMETER = /conninfo|passw|passphrase|secret|key|token/;

/** The message of a pg.log_injection event: fixed text, never the forged text itself. */
const INJECTION_MESSAGES: Readonly<Record<LogInjectionReason, string>> = {
  line_break_in_name: 'a client-supplied user or database name in the log line prefix contains a line break',
  unterminated_prefix: 'a log line prefix never reached its closing session id; the lines after it were not read',
  unprefixed_line: 'a log line without the log_line_prefix, in a log written with one, was not read as a record',
  repeated_session_marker: 'the closing session id of the log line prefix appears again after it',
};

/** What the message-specific part of classification decided. */
interface Shape {
  type: string;
  user?: string | undefined;
  /** The statement the record is about, unmasked. */
  statement?: string | undefined;
  /** Rebuilds the event message around the masked statement (when the message embeds it). */
  message?: ((masked: string) => string) | undefined;
  auditClass?: string | undefined;
  parameter?: string | undefined;
}

/** The text between `"` after `marker` and the last `"` of `message` (names may contain quotes). */
function quotedAfter(message: string, marker: string): string | undefined {
  const at = message.indexOf(marker);
  if (at === -1) return undefined;
  const close = message.lastIndexOf('"');
  const start = at + marker.length;
  return close > start ? message.slice(start, close) : undefined;
}

/** `key=value` in a `connection authorized: user=… database=…` style message. */
function keyValue(message: string, key: string, until = ' '): string | undefined {
  const at = message.indexOf(` ${key}=`);
  if (at === -1) return undefined;
  const start = at + key.length + 2;
  const end = message.indexOf(until, start);
  return message.slice(start, end === -1 ? message.length : end);
}

function authFailed(record: LogRecord, fields: Fields): Shape {
  const m = record.message;
  const method = m.indexOf(' authentication failed for user "');
  fields.reason = method > 0 ? m.slice(0, method).toLowerCase() : 'password';
  const d = record.detail ?? '';
  if (d.startsWith('Role "') && d.includes('" does not exist')) fields.reason = 'unknown_role';
  else if (d.includes('has no password assigned')) fields.reason = 'no_password';
  else if (d.includes('has an expired password')) fields.reason = 'expired_password';
  else if (d.startsWith('Password does not match')) fields.reason = 'wrong_password';
  return { type: 'pg.auth_failed', user: quotedAfter(m, 'for user "') ?? record.user };
}

function authRejected(record: LogRecord, fields: Fields): Shape {
  const m = record.message;
  if (m.startsWith('no pg_hba.conf entry')) fields.reason = 'no_hba_entry';
  else if (m.startsWith('pg_hba.conf rejects')) fields.reason = 'hba_reject';
  else if (m.endsWith('does not exist')) fields.reason = 'unknown_role';
  else if (m.endsWith('is not permitted to log in')) fields.reason = 'login_not_permitted';
  else fields.reason = 'rejected';
  const named = m.startsWith('role "') ? m.slice(6, m.indexOf('"', 6)) : undefined;
  return { type: 'pg.auth_rejected', user: record.user ?? named };
}

function login(record: LogRecord, fields: Fields): Shape {
  const m = record.message;
  fields.ssl = m.includes(' SSL enabled (');
  if (m.startsWith('replication ')) fields.replication = true;
  const application = keyValue(m, 'application_name', fields.ssl ? ' SSL enabled (' : ' GSS (');
  if (application !== undefined) fields.application = application;
  return { type: 'pg.login', user: record.user ?? keyValue(m, 'user') };
}

/** `statement: …`, `execute <name>: …`, `duration: 1.2 ms  statement: …` (log_statement, log_duration). */
function statementLine(record: LogRecord, fields: Fields): Shape | undefined {
  const m = record.message;
  let rest = m;
  if (m.startsWith('duration: ')) {
    const ms = m.indexOf(' ms', 10);
    if (ms === -1) return undefined;
    fields.durationMs = Number(m.slice(10, ms));
    rest = m.slice(ms + 3).trimStart();
    if (rest === '') return { type: 'pg.statement' };
  }
  const known = ['statement: ', 'execute ', 'parse ', 'bind '].some((p) => rest.startsWith(p));
  const colon = known ? rest.indexOf(': ') : -1;
  if (colon === -1) return rest === m ? undefined : { type: 'pg.statement' };
  const head = m.slice(0, m.length - rest.length + colon + 2);
  return { type: 'pg.statement', statement: rest.slice(colon + 2), message: (masked) => head + masked };
}

function configChanged(record: LogRecord, fields: Fields): Shape | undefined {
  const m = record.message;
  if (m.startsWith('received SIGHUP')) {
    fields.action = 'reload';
    return { type: 'pg.config_changed' };
  }
  if (!m.startsWith('parameter "')) return undefined;
  const close = m.indexOf('"', 11);
  const parameter = m.slice(11, close);
  const tail = m.slice(close + 1);
  if (tail.startsWith(' changed to "')) {
    fields.action = 'changed';
    fields.value = SECRET_PARAMETER.test(parameter) ? '[redacted]' : tail.slice(13, tail.lastIndexOf('"'));
  } else if (tail.startsWith(' removed from configuration file')) fields.action = 'reset';
  else if (tail.startsWith(' cannot be changed without restarting')) fields.action = 'pending_restart';
  else return undefined;
  fields.parameter = parameter;
  const message = SECRET_PARAMETER.test(parameter)
    ? () => `parameter "${parameter}" ${String(fields.action)}`
    : undefined;
  return { type: 'pg.config_changed', parameter, message };
}

function audit(record: LogRecord, fields: Fields): Shape | undefined {
  const parsed = parsePgauditMessage(record.message);
  if (parsed === undefined) return undefined;
  fields.auditType = parsed.auditType;
  fields.auditClass = parsed.auditClass;
  fields.command = parsed.command;
  if (parsed.objectType !== '') fields.objectType = parsed.objectType;
  if (parsed.objectName !== '') fields.objectName = parsed.objectName;
  return {
    type: 'pg.audit',
    statement: parsed.statement,
    message: (masked) => parsed.head + masked,
    auditClass: parsed.auditClass,
  };
}

function shapeOf(record: LogRecord, fields: Fields): Shape {
  const m = record.message;
  const level = record.errorSeverity;
  if (m.startsWith('AUDIT: ')) {
    const shape = audit(record, fields);
    if (shape) return shape;
  }
  if (record.sqlstate === '28P01' || (level === 'FATAL' && m.includes(' authentication failed for user "'))) {
    return authFailed(record, fields);
  }
  if (record.sqlstate === '28000' && level === 'FATAL') return authRejected(record, fields);
  if (isErrorLevel(level) && record.sqlstate !== undefined) return { type: 'pg.error', statement: record.statement };
  if (m.startsWith('connection authorized: ') || m.startsWith('replication connection authorized: ')) {
    return login(record, fields);
  }
  if (m.startsWith('disconnection: ')) return { type: 'pg.disconnect' };
  const shape = statementLine(record, fields) ?? configChanged(record, fields);
  return shape ?? { type: 'pg.log', statement: record.statement };
}

/**
 * Turns a server-log record into a monitor event (source `server-log`): its `pg.*` type, the
 * principal, the client address and its block, `fields.category` for the detection rules, and
 * the statement with secret-looking literals masked (also wherever the message repeats them).
 *
 * @example
 * classifyLogRecord(record, 'log:2049-131:4096');
 * // { id: 'log:2049-131:4096', source: 'server-log', type: 'pg.auth_failed', user: 'alice',
 * //   addr: '203.0.113.9', addrBlock: '203.0.113.0/24', sqlstate: '28P01', fields: { reason: 'wrong_password', … } }
 */
export function classifyLogRecord(record: LogRecord, id: string): UntimedEvent {
  const fields: Fields = { level: record.errorSeverity };
  if (record.pid !== undefined) fields.pid = record.pid;
  if (record.sessionId !== undefined) fields.sessionId = record.sessionId;
  if (record.injection !== undefined) return injectionEvent(record, id, fields, record.injection);
  if (record.backendType !== undefined) fields.backendType = record.backendType;
  if (record.sqlstate !== undefined) fields.sqlstateClass = record.sqlstate.slice(0, 2);
  const shape = shapeOf(record, fields);
  let message = maskVerifiers(record.message);
  let statement: string | undefined;
  if (shape.statement !== undefined) {
    const masked = maskSecrets(shape.statement);
    statement = masked.text;
    message = shape.message ? shape.message(masked.text) : scrubSecrets(message, masked.secrets);
  } else if (shape.message) {
    message = shape.message('');
  }
  const category = logCategory({
    sqlstate: record.sqlstate,
    message,
    // Comments read as a space, as the server reads them: `drop/*x*/policy` is `drop policy`.
    statement: statement === undefined ? '' : withoutSqlComments(statement).toLowerCase(),
    auditClass: shape.auditClass,
    parameter: shape.parameter,
  });
  if (category !== undefined) fields.category = category;
  const isAuth = shape.type === 'pg.auth_failed' || shape.type === 'pg.auth_rejected';
  const event: UntimedEvent = {
    id,
    source: 'server-log',
    type: shape.type,
    severity: isAuth ? 'warning' : (LEVELS.get(record.errorSeverity) ?? 'debug'),
    message,
    fields,
  };
  if (record.time !== undefined) event.occurredAt = record.time;
  const user = shape.user ?? record.user;
  if (user !== undefined) event.user = user;
  if (record.user !== undefined) event.dbUser = record.user;
  if (record.database !== undefined) event.database = record.database;
  setAddress(event, record);
  if (record.application !== undefined) event.application = record.application;
  if (record.sqlstate !== undefined) event.sqlstate = record.sqlstate;
  if (statement !== undefined) event.statement = statement;
  return event;
}

/**
 * `addr` only for an IP address: with log_hostname on the server logs the client's reverse-DNS
 * name, which whoever controls that zone chooses (`10.20.30.40.evil.example`); it goes to
 * fields.host, as does `[local]`.
 */
function setAddress(event: UntimedEvent, record: LogRecord): void {
  const host = record.remoteHost;
  if (host === undefined) return;
  if (isIP(host) === 0) {
    event.fields.host = host;
    return;
  }
  event.addr = host;
  const block = addressBlock(host);
  if (block !== undefined) event.addrBlock = block;
}

function injectionEvent(record: LogRecord, id: string, fields: Fields, reason: LogInjectionReason): UntimedEvent {
  fields.reason = reason;
  const event: UntimedEvent = {
    id,
    source: 'server-log',
    type: 'pg.log_injection',
    severity: 'critical',
    message: INJECTION_MESSAGES[reason],
    fields,
  };
  if (record.time !== undefined) event.occurredAt = record.time;
  setAddress(event, record);
  return event;
}

/**
 * How a row of logs.notification_log becomes a MonitorEvent: the columns map onto the event's
 * named fields, the scalar details onto `fields`, and nothing that looks like a secret is copied.
 */
import { addressBlock, type EventSeverity, type UntimedEvent } from '../event.js';

/** The columns the source selects (see SECURITY_EVENT_COLUMNS). */
export interface SecurityEventRow {
  id: string;
  occurred_at: Date;
  event_type: string;
  severity: string;
  actor: string | null;
  subject: string | null;
  tenant: string | null;
  /** host(coalesce(source_addr, client_addr)) */
  addr: string | null;
  /** host(client_addr), when source_addr is set too */
  db_addr: string | null;
  application_name: string | null;
  db_user: string | null;
  /**
   * For monitor.change_window_opened: the window as monitor.change_windows holds it (null when
   * no open window has the id the details name: a forged or stale event).
   */
  change_window?: { principal: string; starts: number; ends: number } | null;
  details: Record<string, unknown> | null;
  database: string;
}

/**
 * The select list matching {@link SecurityEventRow}, over `logs.notification_log n`.
 *
 * @example
 * await client.query(`select ${SECURITY_EVENT_COLUMNS} from logs.notification_log n where n.id = $1`, [id]);
 */
export const SECURITY_EVENT_COLUMNS = `n.id, n.occurred_at, n.event_type, n.severity, n.actor, n.subject, n.tenant,
  pg_catalog.host(coalesce(n.source_addr, n.client_addr)) as addr,
  case when n.source_addr is not null then pg_catalog.host(n.client_addr) end as db_addr,
  n.application_name, n.db_user, n.details, pg_catalog.current_database() as database,
  case when n.event_type = 'monitor.change_window_opened' and n.details ->> 'window_id' ~ '^[0-9]{1,18}$' then
    (select pg_catalog.jsonb_build_object('principal', w.principal,
       'starts', pg_catalog.floor(pg_catalog.date_part('epoch', w.starts_at) * 1000),
       'ends', pg_catalog.floor(pg_catalog.date_part('epoch', w.ends_at) * 1000))
       from monitor.change_windows w
      where w.id = (n.details ->> 'window_id')::bigint and w.closed_at is null)
  end as change_window`;

/**
 * Detail keys never copied into an event, at any depth: passwords, tokens, secrets, keys,
 * cookies, credentials, hashes, salts, signatures, one-time codes. Matched on the key's words,
 * so `api_key`, `refreshToken` and `password_hash` go, while `account` and `monkey` stay.
 */
const SECRET_WORDS = new Set([
  'password',
  'passwd',
  'passphrase',
  'pass',
  'pwd',
  'secret',
  'token',
  'key',
  'apikey',
  'cookie',
  'credential',
  'credentials',
  'authorization',
  'bearer',
  'jwt',
  'otp',
  'totp',
  'hash',
  'salt',
  'signature',
  'private',
  'recovery',
]);

/**
 * True when a detail key names something secret.
 *
 * @example
 * isSecretKey('refreshToken'); // true
 * isSecretKey('account'); // false
 */
export function isSecretKey(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '');
  return words.some((w) => SECRET_WORDS.has(w) || /password|secret|token/.test(w));
}

/** A value that is a bearer token whatever its key: a JWT. */
const JWT = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;
const NESTED_CAP = 256;
const STRING_CAP = 1_000;

const scrub = (s: string): string => s.replace(JWT, '[redacted]');

/** Copies a JSON value without the secret keys, for a nested detail turned into a string. */
function withoutSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => !isSecretKey(k))
        .map(([k, v]) => [k, withoutSecrets(v)]),
    );
  }
  return value;
}

/**
 * The details as event fields: scalars as they are, nested objects and arrays as JSON text capped
 * at 256 characters, secret-looking keys dropped at any depth, JWT-looking text masked.
 *
 * @example
 * detailFields({ reason: 'password', password: 'x', ctx: { a: 1 } }); // { reason: 'password', ctx: '{"a":1}' }
 */
export function detailFields(details: Record<string, unknown> | null): Record<string, string | number | boolean> {
  const fields: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(details ?? {})) {
    if (isSecretKey(key) || value === null || value === undefined) continue;
    if (typeof value === 'string') fields[key] = scrub(value).slice(0, STRING_CAP);
    else if (typeof value === 'number' || typeof value === 'boolean') fields[key] = value;
    else fields[key] = scrub(JSON.stringify(withoutSecrets(value))).slice(0, NESTED_CAP);
  }
  return fields;
}

const SEVERITIES: ReadonlySet<string> = new Set(['debug', 'info', 'notice', 'warning', 'error', 'critical']);

/**
 * The principal of an event. `actor` is who the writer says acted; when the writer gave none the
 * table defaults it to the database login (db_user), which says nothing about the end user, so
 * the details' `email`, or else `account` (the digest of the submitted account name that
 * pgwarden's login records for unknown users), names the principal instead.
 */
function principalOf(row: SecurityEventRow, fields: Record<string, string | number | boolean>): string | undefined {
  const defaulted = row.actor === null || row.actor === row.db_user;
  if (defaulted) {
    for (const key of ['email', 'account']) {
      const v = fields[key];
      if (typeof v === 'string' && v !== '') return v;
    }
  }
  return row.actor ?? undefined;
}

/**
 * One notification_log row as an event (`sec:<id>`).
 *
 * @example
 * const event = securityEventFromRow(row); // { id: 'sec:42', source: 'security-event', type: 'auth.login_failed', … }
 */
export function securityEventFromRow(row: SecurityEventRow): UntimedEvent {
  const fields = detailFields(row.details);
  if (row.subject !== null) fields.subject = row.subject;
  if (row.db_addr !== null) fields.db_addr = row.db_addr;
  verifiedWindow(row, fields);
  const user = principalOf(row, fields);
  const addr = row.addr ?? undefined;
  const event: UntimedEvent = {
    id: `sec:${row.id}`,
    source: 'security-event',
    type: row.event_type,
    severity: (SEVERITIES.has(row.severity) ? row.severity : 'info') as EventSeverity,
    occurredAt: row.occurred_at.getTime(),
    database: row.database,
    fields,
  };
  if (user !== undefined) event.user = user;
  if (row.db_user !== null) event.dbUser = row.db_user;
  if (addr !== undefined) {
    event.addr = addr;
    const block = addressBlock(addr);
    if (block !== undefined) event.addrBlock = block;
  }
  if (row.application_name) event.application = row.application_name;
  if (row.tenant !== null) event.tenant = row.tenant;
  event.message = summaryOf(event);
  return event;
}

/** The fields a change window is trusted by: only the table says them, never the details. */
const windowFields = ['window_verified', 'window_principal', 'window_starts', 'window_ends'] as const;

/**
 * A change window's opening event can be written by anyone who may call logs.log_event(), so the
 * monitor trusts the window only as monitor.change_windows holds it (written by
 * monitor.open_change_window(), which refuses self-approval and backdating).
 */
function verifiedWindow(row: SecurityEventRow, fields: Record<string, string | number | boolean>): void {
  for (const key of windowFields) delete fields[key];
  const w = row.change_window;
  if (row.event_type !== 'monitor.change_window_opened' || !w) return;
  fields.window_verified = true;
  fields.window_principal = w.principal;
  fields.window_starts = Number(w.starts);
  fields.window_ends = Number(w.ends);
}

/** One short line: type, why, who, from where. */
function summaryOf(event: UntimedEvent): string {
  const parts = [event.type];
  const reason = event.fields.reason;
  if (reason !== undefined) parts.push(`(${String(reason).slice(0, 60)})`);
  if (event.user !== undefined) parts.push(`user ${event.user.slice(0, 100)}`);
  if (event.addr !== undefined) parts.push(`from ${event.addr}`);
  return parts.join(' ');
}

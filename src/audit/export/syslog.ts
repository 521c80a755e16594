import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { encodeHash } from '../merkle/index.js';
import { type ExportRecord, fieldText, summarise } from './export-record.js';

/**
 * Syslog facilities by name (RFC 5424 §6.2.1; `audit` is 13, "log audit").
 *
 * @example
 * SyslogFacilities.local0; // 16
 */
export const SyslogFacilities = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  ntp: 12,
  audit: 13,
  alert: 14,
  clock: 15,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;
export type SyslogFacility = keyof typeof SyslogFacilities;

/**
 * Event severity → syslog severity (RFC 5424 §6.2.1).
 *
 * @example
 * syslogSeverities.warning; // 4
 */
export const syslogSeverities: Readonly<Record<string, number>> = {
  critical: 2,
  error: 3,
  warning: 4,
  notice: 5,
  info: 6,
  debug: 7,
};
/**
 * The severity of row changes: "normal but significant" (notice), since a table is audited
 * because its changes matter.
 *
 * @example
 * syslogSeverities[ROW_CHANGE_SEVERITY]; // 5
 */
export const ROW_CHANGE_SEVERITY = 'notice';

/**
 * The SD-ID of pgwarden's structured data (32473: the example enterprise number of RFC 5612).
 *
 * @example
 * message.includes(`[${SD_ID} position=`); // true
 */
export const SD_ID = 'pgwarden@32473';

/** Options of `formatSyslog`. */
export interface SyslogFormatOptions {
  /** Facility of every message (default `local0`, 16). */
  facility?: SyslogFacility | number;
  /** Facility of security events (default: `facility`); `authpriv` routes them to restricted logs. */
  securityFacility?: SyslogFacility | number;
  /** HOSTNAME field (default `-`, the NILVALUE): the exporting host's name. */
  hostname?: string;
  /** APP-NAME (default `pgwarden`). */
  appName?: string;
  /** The MSG part (default: a one-line summary); `formatCef` here sends CEF over syslog. */
  message?: (record: ExportRecord) => string;
  /** Largest message in bytes: MSG is cut to fit, the header and SD never are (default: no limit). */
  maxBytes?: number;
  /** Start MSG with a UTF-8 byte-order mark, as RFC 5424 asks of UTF-8 MSGs. Default false. */
  bom?: boolean;
}

function exportError(message: string, hint?: string): PgwardenError {
  return new PgwardenError(ErrorCodes.AUDIT_EXPORT, message, { hint });
}

/**
 * Resolves a facility name or number (0–23); throws `PW423` otherwise.
 *
 * @example
 * syslogFacility('authpriv'); // 10
 */
export function syslogFacility(value: SyslogFacility | number | string): number {
  const n =
    typeof value === 'number'
      ? value
      : /^[0-9]{1,2}$/.test(value)
        ? Number(value)
        : SyslogFacilities[value as SyslogFacility];
  if (n === undefined || !Number.isInteger(n) || n < 0 || n > 23) {
    throw exportError(
      `unknown syslog facility ${JSON.stringify(value)}`,
      `use a number 0-23 or one of ${Object.keys(SyslogFacilities).join(', ')}`,
    );
  }
  return n;
}

/**
 * The syslog severity (0–7) of a record: the event's own severity, `notice` for row changes.
 *
 * @example
 * severityOf(record); // 4 for a 'warning' event
 */
export function severityOf(record: ExportRecord): number {
  const name = record.source === 'row_change' ? ROW_CHANGE_SEVERITY : (fieldText(record, 'severity') ?? 'info');
  return syslogSeverities[name] ?? syslogSeverities.info!;
}

// Control characters (a newline most of all) would split a message in a line-based file or
// receiver; they become U+FFFD. The exact values stay in the leaf (JSON lines).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/g;
const oneLine = (s: string) => s.replace(CONTROL, '\uFFFD');

/**
 * Escapes an SD-PARAM value (RFC 5424 §6.3.3): `"`, `\` and `]` get a backslash.
 *
 * @example
 * escapeSdValue('a]b"c\\d'); // 'a\\]b\\"c\\\\d'
 */
export function escapeSdValue(value: string): string {
  return oneLine(value).replace(/["\\\]]/g, (c) => `\\${c}`);
}

function header(name: string, value: string, max: number): string {
  if (!/^[!-~]+$/.test(value) || value.length > max) {
    throw exportError(`syslog ${name} must be 1-${max} printable ASCII characters without spaces`);
  }
  return value;
}

/** The record's time as an RFC 5424 TIMESTAMP (microseconds, UTC), or `-` if it has none. */
function timestamp(record: ExportRecord): string {
  const time = fieldText(record, 'time');
  return time && /^[0-9]{4}-/.test(time) ? time : '-';
}

/** SD parameters: what proves the record (position, leaf hash), then what a SIEM filters on. */
function sdParams(record: ExportRecord): [string, string | null][] {
  const t = (name: string) => fieldText(record, name);
  const common: [string, string | null][] = [
    ['position', String(record.position)],
    ['source', record.source],
    ['id', t('id')],
    ['leaf_hash', encodeHash(record.leafHash, 'leaf hash')],
  ];
  if (record.source === 'row_change') {
    return [
      ...common,
      ['op', t('op')],
      ['table', `${t('schema')}.${t('table')}`],
      ['record_id', t('record_id')],
      ['actor', t('actor')],
      ['tenant', t('tenant')],
      ['db_role', t('db_role')],
    ];
  }
  return [
    ...common,
    ['event_type', t('event_type')],
    ['severity', t('severity')],
    ['actor', t('actor')],
    ['subject', t('subject')],
    ['tenant', t('tenant')],
    ['source_addr', t('source_addr')],
  ];
}

/**
 * Cuts a string to at most `bytes` UTF-8 bytes at a character boundary, never leaving a lone
 * trailing backslash (it would escape what a receiver appends, and breaks CEF).
 */
function cutUtf8(text: string, bytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= bytes) return text;
  let end = Math.max(0, bytes);
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end -= 1;
  let out = buf.subarray(0, end).toString('utf8');
  const slashes = /\\*$/.exec(out)![0].length;
  if (slashes % 2 === 1) out = out.slice(0, -1);
  return out;
}

const ELLIPSIS = '...';

/**
 * Formats one record as an RFC 5424 syslog message (no framing, no trailing newline):
 * `<PRI>1 TIMESTAMP HOSTNAME pgwarden - MSGID [pgwarden@32473 position="…" …] MSG`.
 * TIMESTAMP is the record's own time (microseconds, UTC); MSGID its source (`row_change` or
 * `security_event`); PROCID is `-`. With `maxBytes`, MSG is cut to fit and ends in `...`; the
 * header and structured data are never cut, so a message whose SD alone is too big is sent
 * whole and without MSG.
 *
 * @example
 * formatSyslog(record, { hostname: 'db1', facility: 'local0' });
 * // '<133>1 2025-03-01T09:30:00.123456Z db1 pgwarden - row_change [pgwarden@32473 position="0" …] INSERT public.orders …'
 */
export function formatSyslog(record: ExportRecord, options: SyslogFormatOptions = {}): string {
  const facility = syslogFacility(
    record.source === 'security_event'
      ? (options.securityFacility ?? options.facility ?? 'local0')
      : (options.facility ?? 'local0'),
  );
  const pri = facility * 8 + severityOf(record);
  const host = header('HOSTNAME', options.hostname ?? '-', 255);
  const app = header('APP-NAME', options.appName ?? 'pgwarden', 48);
  const params = sdParams(record)
    .filter((p): p is [string, string] => p[1] !== null)
    .map(([k, v]) => ` ${k}="${escapeSdValue(v)}"`)
    .join('');
  const head = `<${pri}>1 ${timestamp(record)} ${host} ${app} - ${record.source} [${SD_ID}${params}]`;
  const bom = options.bom ? '\uFEFF' : '';
  const msg = oneLine((options.message ?? summarise)(record));
  const full = `${head} ${bom}${msg}`;
  const max = options.maxBytes;
  if (max === undefined || Buffer.byteLength(full, 'utf8') <= max) return full;
  const room = max - Buffer.byteLength(`${head} ${bom}${ELLIPSIS}`, 'utf8');
  if (room <= 0) return head;
  return `${head} ${bom}${cutUtf8(msg, room)}${ELLIPSIS}`;
}

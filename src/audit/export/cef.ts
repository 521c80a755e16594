import { isIPv4, isIPv6 } from 'node:net';
import { encodeHash } from '../merkle/index.js';
import { type ExportRecord, fieldText, summarise } from './export-record.js';
import { ROW_CHANGE_SEVERITY } from './syslog.js';

/**
 * Event severity → CEF severity (0–10).
 *
 * @example
 * cefSeverities.critical; // 10
 */
export const cefSeverities: Readonly<Record<string, number>> = {
  critical: 10,
  error: 8,
  warning: 6,
  notice: 4,
  info: 3,
  debug: 1,
};

/** Options of `formatCef`. */
export interface CefOptions {
  /** Device Version in the header: the pgwarden version that exported the record. */
  productVersion: string;
}

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/g;

/**
 * Escapes a CEF header field: `\` and `|` get a backslash; control characters (newlines are not
 * allowed in the header) become spaces.
 *
 * @example
 * escapeCefHeader('a|b\\c'); // 'a\\|b\\\\c'
 */
export function escapeCefHeader(value: string): string {
  return value.replace(/[\\|]/g, (c) => `\\${c}`).replace(CONTROL, ' ');
}

/**
 * Escapes a CEF extension value: `\` and `=` get a backslash, a newline becomes `\n` and a
 * carriage return `\r`; other control characters become spaces. `|` needs no escape here.
 *
 * @example
 * escapeCefValue('a=b\nc'); // 'a\\=b\\nc'
 */
export function escapeCefValue(value: string): string {
  return value
    .replace(/[\\=]/g, (c) => `\\${c}`)
    .replace(/\r\n|\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(CONTROL, ' ');
}

function addressFields(key: 'src' | 'dst', value: string | null): [string, string | null][] {
  if (value === null) return [];
  const address = value.replace(/\/(32|128)$/, '');
  if (isIPv4(address)) return [[key, address]];
  // CEF's src/dst are IPv4 only; IPv6 goes to the device-custom IPv6 fields.
  if (isIPv6(address))
    return key === 'src'
      ? [
          ['c6a2', address],
          ['c6a2Label', 'sourceIPv6Address'],
        ]
      : [
          ['c6a3', address],
          ['c6a3Label', 'destinationIPv6Address'],
        ];
  return [];
}

/** Extensions, proving ones first (a cut message keeps them): position, leaf hash, source, time. */
function extensions(record: ExportRecord): [string, string | null][] {
  const t = (name: string) => fieldText(record, name);
  const time = t('time');
  // Milliseconds: CEF's rt has no finer unit (the microseconds are in the leaf).
  const ms = time ? Date.parse(`${time.slice(0, 23)}Z`) : NaN;
  const common: [string, string | null][] = [
    ['cn1', String(record.position)],
    ['cn1Label', 'ledgerPosition'],
    ['cs1', encodeHash(record.leafHash, 'leaf hash')],
    ['cs1Label', 'leafHash'],
    ['cs2', record.source],
    ['cs2Label', 'ledgerSource'],
    ['externalId', t('id')],
    ['rt', Number.isFinite(ms) ? String(ms) : null],
  ];
  if (record.source === 'row_change') {
    return [
      ...common,
      ['act', t('op')],
      ['suser', t('actor') ?? t('session_user')],
      ['spriv', t('db_role')],
      ['cs3', `${t('schema')}.${t('table')}`],
      ['cs3Label', 'table'],
      ['cs4', t('record_id')],
      ['cs4Label', 'recordId'],
      ['cs5', t('tenant')],
      ['cs5Label', 'tenant'],
      ['cs6', t('client_addr')],
      ['cs6Label', 'dbClientAddr'],
      ['requestClientApplication', t('application_name')],
    ];
  }
  return [
    ...common,
    ['act', t('event_type')],
    ['suser', t('actor')],
    ['duser', t('subject')],
    ...addressFields('src', t('source_addr')),
    ['cs4', t('db_user')],
    ['cs4Label', 'dbUser'],
    ['cs5', t('tenant')],
    ['cs5Label', 'tenant'],
    ['cs6', t('client_addr')],
    ['cs6Label', 'dbClientAddr'],
    ['requestClientApplication', t('application_name')],
    ['msg', t('details')],
  ];
}

/**
 * Formats one record as an ArcSight CEF event:
 * `CEF:0|pgwarden|pgwarden|<version>|<signature id>|<name>|<severity>|<extensions>`. The
 * signature id is `row.<op>` for a row change and the event type for a security event; the
 * name is the one-line summary; severity maps critical 10, error 8, warning 6, notice 4,
 * info 3, debug 1 (row changes: notice). Extensions carry the ledger position (`cn1`), the
 * leaf hash (`cs1`), the source (`cs2`), the row id (`externalId`) and the time (`rt`, ms).
 * A field whose value is null or empty is left out, with its label.
 *
 * @example
 * formatCef(record, { productVersion: '0.1.0' });
 * // 'CEF:0|pgwarden|pgwarden|0.1.0|row.INSERT|INSERT public.orders …|4|cn1=0 cn1Label=ledgerPosition cs1=… rt=…'
 */
export function formatCef(record: ExportRecord, options: CefOptions): string {
  const signature =
    record.source === 'row_change' ? `row.${fieldText(record, 'op')}` : (fieldText(record, 'event_type') ?? 'event');
  const severityName = record.source === 'row_change' ? ROW_CHANGE_SEVERITY : (fieldText(record, 'severity') ?? 'info');
  const severity = cefSeverities[severityName] ?? cefSeverities.info!;
  const pairs = extensions(record);
  // An absent or empty value is left out, with its label.
  const skip = new Set(pairs.filter(([, v]) => v === null || v === '').map(([k]) => `${k}Label`));
  const ext = pairs
    .filter(([k, v]) => v !== null && v !== '' && !skip.has(k))
    .map(([k, v]) => `${k}=${escapeCefValue(v!)}`)
    .join(' ');
  const head = ['CEF:0', 'pgwarden', 'pgwarden', options.productVersion, signature, summarise(record), String(severity)]
    .map((field, i) => (i === 0 ? field : escapeCefHeader(field)))
    .join('|');
  return `${head}|${ext}`;
}

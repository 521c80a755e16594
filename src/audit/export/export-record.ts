import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { LeafTags, leafColumns, LedgerSource } from '../ledger/encoding.js';
import { JsonNumber, type JsonObject, type JsonValue, parseJsonText, stringifyJsonText } from './json-text.js';

/** The name of a ledger source in exported records. */
export type ExportSourceName = 'row_change' | 'security_event';

/**
 * `LedgerSource` number → its name in exported records.
 *
 * @example
 * exportSourceNames[LedgerSource.securityEvent]; // 'security_event'
 */
export const exportSourceNames: Readonly<Record<LedgerSource, ExportSourceName>> = {
  [LedgerSource.rowChange]: 'row_change',
  [LedgerSource.securityEvent]: 'security_event',
};

/**
 * One sealed ledger entry, ready to format: its position, leaf hash and canonical leaf text, and
 * the readable fields decoded from that leaf. The readable fields are computed from the leaf
 * alone, so they say exactly what was sealed and `checkExportedRecord` can recompute them.
 */
export interface ExportRecord {
  /** The ledger position (leaf index); proven by an inclusion proof against a checkpoint. */
  position: number;
  source: ExportSourceName;
  /** SHA-256(0x00 ‖ leaf): the Merkle leaf hash stored in `ledger.entries`. */
  leafHash: Uint8Array;
  /** The canonical leaf text (see `leafTextSql`). */
  leaf: string;
  /** Readable fields in output order (`id`, `time`, …), values exactly as in the leaf. */
  fields: JsonObject;
}

/** Leaf columns that are renamed in readable output; every other column keeps its name. */
const RENAMED: Readonly<Record<string, string>> = {
  recorded_at: 'time',
  occurred_at: 'time',
  schema_name: 'schema',
  table_name: 'table',
  actor_sub: 'actor',
  actor_tenant: 'tenant',
  session_user_name: 'session_user',
};
const TIME_COLUMNS = new Set(['recorded_at', 'occurred_at']);

/**
 * Keys every exported JSON record has besides its readable fields.
 *
 * @example
 * RECORD_KEYS.includes('leaf_hash'); // true
 */
export const RECORD_KEYS = ['position', 'source', 'leaf_hash', 'leaf'] as const;

/**
 * The readable name of each leaf column of a source, in leaf order.
 *
 * @example
 * readableNames(LedgerSource.rowChange); // [['id','id'], ['recorded_at','time'], …]
 */
export function readableNames(source: LedgerSource): [column: string, name: string][] {
  return leafColumns[source].map((c) => [c, RENAMED[c] ?? c]);
}

/**
 * Integer microseconds since the Unix epoch (the leaf's time form) as ISO-8601 UTC with six
 * fractional digits, e.g. `2025-03-01T09:30:00.123456Z`.
 *
 * @example
 * isoMicros('1740821400123456'); // '2025-03-01T09:30:00.123456Z'
 */
export function isoMicros(micros: string): string {
  if (!/^-?[0-9]{1,19}$/.test(micros)) throw new SyntaxError(`not integer microseconds: ${micros}`);
  const us = BigInt(micros);
  const ms = us / 1000n - (us % 1000n < 0n ? 1n : 0n);
  const rest = us - ms * 1000n;
  const iso = new Date(Number(ms)).toISOString();
  return `${iso.slice(0, -1)}${rest.toString().padStart(3, '0')}Z`;
}

function fail(message: string, detail?: string): PgwardenError {
  return new PgwardenError(ErrorCodes.LEDGER_PROOF_FAILED, message, { detail });
}

/**
 * Decodes a canonical leaf text losslessly into its source and readable fields. Throws
 * `PW434` (LEDGER_PROOF_FAILED) when the text is not a leaf of a known encoding version.
 *
 * @example
 * const { source, fields } = readLeaf(leafText); // fields.get('op') === 'UPDATE'
 */
export function readLeaf(leaf: string): { source: LedgerSource; fields: JsonObject } {
  let value: JsonValue;
  try {
    value = parseJsonText(leaf);
  } catch (err) {
    throw fail('the leaf is not JSON', (err as Error).message);
  }
  if (!Array.isArray(value) || typeof value[0] !== 'string') throw fail('the leaf is not a tagged array');
  const tag = value[0];
  const source = (Object.keys(LeafTags).map(Number) as LedgerSource[]).find((s) => LeafTags[s] === tag);
  if (source === undefined) throw fail(`unknown leaf tag ${JSON.stringify(tag)}`);
  const names = readableNames(source);
  if (value.length !== names.length + 1)
    throw fail(`a ${tag} leaf has ${names.length + 1} elements, not ${value.length}`);
  const fields: JsonObject = new Map();
  names.forEach(([column, name], i) => {
    const v = value[i + 1]!;
    if (TIME_COLUMNS.has(column)) {
      if (!(v instanceof JsonNumber)) throw fail(`the leaf's ${column} is not a number`);
      try {
        fields.set(name, isoMicros(v.text));
      } catch {
        throw fail(`the leaf's ${column} is not integer microseconds`);
      }
    } else {
      fields.set(name, v);
    }
  });
  return { source, fields };
}

/**
 * Builds the exported form of one sealed entry from its position, stored leaf hash and leaf text.
 *
 * @example
 * const record = toExportRecord(12, leafHash, leafText);
 * record.fields.get('time'); // '2025-03-01T09:30:00.123456Z'
 */
export function toExportRecord(position: number, leafHash: Uint8Array, leaf: string): ExportRecord {
  const { source, fields } = readLeaf(leaf);
  return { position, source: exportSourceNames[source], leafHash, leaf, fields };
}

/**
 * A readable field as plain text for syslog and CEF: strings as they are, numbers as written,
 * arrays and objects as compact JSON; null (or absent) as null.
 *
 * @example
 * fieldText(record, 'id'); // '42'
 */
export function fieldText(record: ExportRecord, name: string): string | null {
  const v = record.fields.get(name);
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (v instanceof JsonNumber) return v.text;
  return stringifyJsonText(v);
}

/**
 * A one-line human summary of a record, e.g. `UPDATE shop.items record 3f… by user-1 (pgw_app_user)`
 * or `auth.login_failed (warning) actor=alice subject=alice`.
 *
 * @example
 * summarise(record); // 'INSERT public.orders record 0b9c… by pgw_app_user'
 */
export function summarise(record: ExportRecord): string {
  const t = (name: string) => fieldText(record, name);
  if (record.source === 'row_change') {
    const who = t('actor') ? `${t('actor')} (${t('db_role')})` : (t('db_role') ?? '?');
    const target = t('record_id') ? ` record ${t('record_id')}` : '';
    return `${t('op')} ${t('schema')}.${t('table')}${target} by ${who}`;
  }
  const parts = [`${t('event_type')} (${t('severity')})`];
  for (const name of ['actor', 'subject', 'tenant']) {
    const v = t(name);
    if (v !== null) parts.push(`${name}=${v}`);
  }
  return parts.join(' ');
}

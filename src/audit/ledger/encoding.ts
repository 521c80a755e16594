import { hash } from 'node:crypto';

/**
 * The sources a ledger leaf can come from, as stored in `ledger.entries.source`. The order of
 * the numbers is part of the sealing order: (txid, source, id).
 */
export const LedgerSource = {
  /** A row of `audit.row_changes`. */
  rowChange: 1,
  /** A row of `logs.notification_log`. */
  securityEvent: 2,
} as const;
export type LedgerSource = (typeof LedgerSource)[keyof typeof LedgerSource];

/** First element of a leaf's canonical array: names the source and the encoding version. */
export const LeafTags: Readonly<Record<LedgerSource, string>> = {
  [LedgerSource.rowChange]: 'pgwarden.row/1',
  [LedgerSource.securityEvent]: 'pgwarden.event/1',
};

/** Every column of each source table, in leaf order after the tag. The tests fail when a table gains a column this misses. */
export const leafColumns: Readonly<Record<LedgerSource, readonly string[]>> = {
  [LedgerSource.rowChange]: [
    'id',
    'recorded_at',
    'txid',
    'source_txid',
    'table_oid',
    'schema_name',
    'table_name',
    'op',
    'record_id',
    'old_data',
    'new_data',
    'changed_columns',
    'actor_sub',
    'actor_tenant',
    'db_role',
    'session_user_name',
    'client_addr',
    'application_name',
    'capture',
  ],
  [LedgerSource.securityEvent]: [
    'id',
    'occurred_at',
    'txid',
    'event_type',
    'severity',
    'actor',
    'subject',
    'tenant',
    'client_addr',
    'application_name',
    'session_id',
    'details',
    'db_user',
    'source_addr',
  ],
};

/** The table each source lives in. */
export const sourceTables: Readonly<Record<LedgerSource, string>> = {
  [LedgerSource.rowChange]: 'audit.row_changes',
  [LedgerSource.securityEvent]: 'logs.notification_log',
};

/** The column holding each source's time (the row's partition key for row changes). */
export const sourceTimeColumn: Readonly<Record<LedgerSource, string>> = {
  [LedgerSource.rowChange]: 'recorded_at',
  [LedgerSource.securityEvent]: 'occurred_at',
};

const TIME_COLUMNS = new Set(['recorded_at', 'occurred_at']);

function fieldSql(alias: string, column: string): string {
  const ref = `${alias}.${column}`;
  // Time as integer microseconds since the epoch: independent of TimeZone and DateStyle.
  if (TIME_COLUMNS.has(column)) return `(extract(epoch from ${ref}) * 1000000)::bigint`;
  // xid8 and oid have no JSON form of their own: decimal text, and a number.
  if (column === 'txid' || column === 'source_txid') return `pg_catalog.format('%s', ${ref})`;
  if (column === 'table_oid') return `${ref}::bigint`;
  return ref;
}

/**
 * The SQL expression that gives a source row's canonical leaf text: PostgreSQL's jsonb text form
 * of `[tag, column values…]` in `leafColumns` order. That form is fixed for a stored value: keys
 * in a fixed order, one spelling per number (numeric, never float), strings escaped one way, and
 * times as integer microseconds, so it does not move with TimeZone, DateStyle,
 * extra_float_digits or the server's major version. The expression only calls built-ins
 * and is sent as query text by the sealer and the verifier alike: nothing stored in the database
 * takes part in computing a leaf, so a superuser cannot swap the encoding.
 *
 * Run it with `search_path = pg_catalog, pg_temp` (the sealer and verifier set it).
 *
 * @example
 * await client.query(`select r.id, ${leafTextSql(LedgerSource.rowChange, 'r')} as leaf from audit.row_changes r`);
 */
export function leafTextSql(source: LedgerSource, alias: string): string {
  const fields = leafColumns[source].map((c) => fieldSql(alias, c));
  // format('%s') calls the type's output function directly: unlike a ::text cast, it cannot be
  // redirected by a CREATE CAST (jsonb AS text).
  return `pg_catalog.format('%s', pg_catalog.jsonb_build_array('${LeafTags[source]}', ${fields.join(', ')}))`;
}

/**
 * The Merkle leaf hash of a canonical leaf text: SHA-256(0x00 ‖ UTF-8 bytes) (RFC 6962), the same
 * as `leafHash(utf8(text))` without the intermediate copy.
 *
 * @example
 * const hash = leafHashOfText(row.leaf);
 */
export function leafHashOfText(leafText: string): Uint8Array {
  const input = Buffer.allocUnsafe(1 + Buffer.byteLength(leafText, 'utf8'));
  input[0] = 0x00;
  input.write(leafText, 1, 'utf8');
  return hash('sha256', input, 'buffer');
}

/** A leaf text parsed back into its source and named fields (times as microsecond strings). */
export interface DecodedLeaf {
  source: LedgerSource;
  tag: string;
  fields: Record<string, unknown>;
}

/**
 * Parses a canonical leaf text into named fields, for display and for checking that an exported
 * record says what its leaf says. Returns null for text that is not a leaf of a known version.
 *
 * @example
 * const leaf = decodeLeaf(text); // { source: 1, tag: 'pgwarden.row/1', fields: { id: 7, … } }
 */
export function decodeLeaf(leafText: string): DecodedLeaf | null {
  let value: unknown;
  try {
    value = JSON.parse(leafText);
  } catch {
    return null;
  }
  if (!Array.isArray(value) || typeof value[0] !== 'string') return null;
  const source = (Object.keys(LeafTags) as unknown as string[])
    .map(Number)
    .find((s) => LeafTags[s as LedgerSource] === value[0]) as LedgerSource | undefined;
  if (source === undefined) return null;
  const columns = leafColumns[source];
  if (value.length !== columns.length + 1) return null;
  const fields: Record<string, unknown> = {};
  columns.forEach((c, i) => {
    fields[c] = value[i + 1];
  });
  return { source, tag: value[0], fields };
}

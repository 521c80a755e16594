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

/** The SQL types of the leaf columns, as far as the encoding tells them apart. */
export type LeafFieldType = 'bigint' | 'oid' | 'xid8' | 'timestamptz' | 'text' | 'uuid' | 'inet' | 'jsonb' | 'text[]';

/**
 * The SQL type of every column of `leafColumns`, by name (a name means the same type in both
 * source tables). The type decides how the column is read and written into a leaf; the tests
 * fail when a leaf column is missing here or its type in the database differs.
 */
export const leafFieldTypes: Readonly<Record<string, LeafFieldType>> = {
  id: 'bigint',
  recorded_at: 'timestamptz',
  occurred_at: 'timestamptz',
  txid: 'xid8',
  source_txid: 'xid8',
  table_oid: 'oid',
  schema_name: 'text',
  table_name: 'text',
  op: 'text',
  record_id: 'uuid',
  old_data: 'jsonb',
  new_data: 'jsonb',
  changed_columns: 'text[]',
  actor_sub: 'text',
  actor_tenant: 'text',
  db_role: 'text',
  session_user_name: 'text',
  client_addr: 'inet',
  application_name: 'text',
  capture: 'text',
  event_type: 'text',
  severity: 'text',
  actor: 'text',
  subject: 'text',
  tenant: 'text',
  session_id: 'uuid',
  details: 'jsonb',
  db_user: 'text',
  source_addr: 'inet',
};

function fieldType(column: string): LeafFieldType {
  const type = leafFieldTypes[column];
  if (type === undefined) throw new Error(`leaf column ${column} has no type in leafFieldTypes`);
  return type;
}

function fieldSql(alias: string, column: string): string {
  const ref = `${alias}.${column}`;
  switch (fieldType(column)) {
    // Time as integer microseconds since the epoch: independent of TimeZone and DateStyle.
    case 'timestamptz':
      return `(extract(epoch from ${ref}) * 1000000)::bigint`;
    // xid8 and oid have no JSON form of their own: decimal text, and a number.
    case 'xid8':
      return `pg_catalog.format('%s', ${ref})`;
    case 'oid':
      return `${ref}::bigint`;
    default:
      return ref;
  }
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
 * This is the definition of the encoding; the sealer, the verifier, retention and the export
 * build the same text in Node from `leafFieldsSql` (cheaper), and the tests hold the two equal.
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

// How each type is read for a leaf built in Node: the select-list expression, and whether its
// text goes into the leaf as a JSON string (quoted and escaped) or as it is. A column read as
// it is must print exactly as jsonb_build_array nests it: bigint and oid as the same digits,
// jsonb by the same jsonb_out, a text[] through to_jsonb as jsonb_build_array converts it. No
// cast to text anywhere: the server's output functions make the text (see leafTextSql).
// Each one read as it is goes through its leaf type (a no-op on a column of that type): should
// a superuser turn a jsonb or bigint column into text, its value still prints as one JSON value
// (or fails), never as text that spills into the next fields of the leaf.
const READ: Readonly<Record<LeafFieldType, { sql: (ref: string) => string; quoted: boolean }>> = {
  bigint: { sql: (ref) => `${ref}::bigint`, quoted: false },
  oid: { sql: (ref) => `${ref}::bigint`, quoted: false },
  // operator(pg_catalog.*): the same product whatever the search_path.
  timestamptz: { sql: (ref) => `(extract(epoch from ${ref}) operator(pg_catalog.*) 1000000)::bigint`, quoted: false },
  xid8: { sql: (ref) => ref, quoted: true },
  text: { sql: (ref) => ref, quoted: true },
  uuid: { sql: (ref) => ref, quoted: true },
  inet: { sql: (ref) => ref, quoted: true },
  jsonb: { sql: (ref) => `${ref}::pg_catalog.jsonb`, quoted: false },
  'text[]': { sql: (ref) => `pg_catalog.to_jsonb(${ref})`, quoted: false },
};

/**
 * The select list (comma-separated, one expression per column of `leafColumns`, in leaf order)
 * whose values `leafTextFromFields` turns into the row's canonical leaf text. Read the values
 * as the server's text, unparsed (`rawTextTypes`), with `search_path = pg_catalog, pg_temp`.
 *
 * @example
 * const { rows } = await client.query({
 *   text: `select ${leafFieldsSql(LedgerSource.rowChange, 'r')} from audit.row_changes r`,
 *   rowMode: 'array',
 *   types: rawTextTypes,
 * });
 * const leaf = leafTextFromFields(LedgerSource.rowChange, rows[0]);
 */
export function leafFieldsSql(source: LedgerSource, alias: string): string {
  return leafColumns[source].map((c) => READ[fieldType(c)].sql(`${alias}.${c}`)).join(', ');
}

/**
 * Per field of `leafFieldsSql(source, …)`: true when its text goes into the leaf as a JSON
 * string (quoted and escaped), false when it goes in as it is (already JSON).
 *
 * @example
 * leafFieldQuoting(LedgerSource.securityEvent); // [false, false, true, true, …]
 */
export function leafFieldQuoting(source: LedgerSource): boolean[] {
  return leafColumns[source].map((c) => READ[fieldType(c)].quoted);
}

// Per source: the leaf's opening (`["tag"`) and which fields are JSON strings.
const LEAF_SHAPES: Readonly<Record<LedgerSource, { opening: string; quoted: readonly boolean[] }>> = {
  [LedgerSource.rowChange]: {
    opening: `[${JSON.stringify(LeafTags[LedgerSource.rowChange])}`,
    quoted: leafFieldQuoting(LedgerSource.rowChange),
  },
  [LedgerSource.securityEvent]: {
    opening: `[${JSON.stringify(LeafTags[LedgerSource.securityEvent])}`,
    quoted: leafFieldQuoting(LedgerSource.securityEvent),
  },
};

/**
 * Builds a row's canonical leaf text, the same as `leafTextSql` gives, from the values of
 * `leafFieldsSql` (as unparsed server text, null for SQL NULL) starting at `start`. jsonb prints
 * an array as `[a, b]` and escapes a string as JSON.stringify does for any valid text
 * (`\"`, `\\`, `\b \f \n \r \t`, other controls as `\u00xx`, the rest as it is).
 *
 * @example
 * const leaf = leafTextFromFields(LedgerSource.securityEvent, row, 4); // fields after 4 other columns
 * const hash = leafHashOfText(leaf);
 */
export function leafTextFromFields(
  source: LedgerSource,
  values: ArrayLike<string | null | undefined>,
  start = 0,
): string {
  const { opening, quoted } = LEAF_SHAPES[source];
  if (values.length < start + quoted.length) {
    throw new Error(`a ${LeafTags[source]} leaf needs ${quoted.length} fields from ${start}; got ${values.length}`);
  }
  let text = opening;
  for (let i = 0; i < quoted.length; i++) {
    const value = values[start + i];
    if (value === null || value === undefined) text += ', null';
    else if (quoted[i]) text += `, ${JSON.stringify(value)}`;
    else text += `, ${value}`;
  }
  return `${text}]`;
}

/**
 * Query `types` that leave every value as the server's text: what `leafTextFromFields` needs
 * (node-postgres would otherwise parse jsonb and times into objects).
 *
 * @example
 * await client.query({ text: sql, values, rowMode: 'array', types: rawTextTypes });
 */
export const rawTextTypes = { getTypeParser: () => (value: string) => value };

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

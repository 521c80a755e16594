import { hash } from 'node:crypto';
import type pg from 'pg';
import { leafFieldQuoting, LeafTags, LedgerSource } from './encoding.js';

// The sealer and the verifier read every source row's leaf fields. Read as ordinary query
// results, node-postgres decodes each of the ~20 fields into a JS string, and the leaf is then
// encoded back into UTF-8 to be hashed: most of the verifier's time per row. Read through
// `COPY (query) TO STDOUT`, a row arrives as one buffer, and its leaf is built from the bytes as
// they are (COPY's text format un-escaped, JSON strings escaped) and hashed without any string.

const TAB = 0x09;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const QUOTE = 0x22;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
// JSON's one-letter escapes (escape_json): \b \t \n \f \r; every other control is \u00xx.
const JSON_ESCAPES = new Uint8Array(0x20);
JSON_ESCAPES[0x08] = 0x62;
JSON_ESCAPES[0x09] = 0x74;
JSON_ESCAPES[0x0a] = 0x6e;
JSON_ESCAPES[0x0c] = 0x66;
JSON_ESCAPES[0x0d] = 0x72;
// COPY's text format writes \b \f \n \r \t \v for those controls and \\ for a backslash.
const COPY_ESCAPES = new Uint8Array(0x100);
for (let c = 0; c < 0x100; c++) COPY_ESCAPES[c] = c;
COPY_ESCAPES[0x62] = 0x08;
COPY_ESCAPES[0x66] = 0x0c;
COPY_ESCAPES[0x6e] = 0x0a;
COPY_ESCAPES[0x72] = 0x0d;
COPY_ESCAPES[0x74] = 0x09;
COPY_ESCAPES[0x76] = 0x0b;

function malformed(): Error {
  return new Error('malformed COPY row');
}

/**
 * Reads one row of `COPY … TO STDOUT` text output field by field, and builds the canonical leaf
 * of a source row from the fields `leafFieldsSql` selected, as bytes, straight from the row's
 * bytes. One reader is reused for every row. The rows must be UTF-8 (`client_encoding` UTF8,
 * node-postgres's default; the sealer and the verifier set it for their transactions).
 *
 * @example
 * const reader = new CopyLeafReader();
 * await copyRows(client, `copy (select r.id, ${leafFieldsSql(LedgerSource.rowChange, 'r')} from audit.row_changes r) to stdout`, (row) => {
 *   reader.reset(row);
 *   const id = reader.text();
 *   const hash = reader.leafHash(LedgerSource.rowChange);
 * });
 */
export class CopyLeafReader {
  #row: Buffer = Buffer.alloc(0);
  #at = 0;
  // Per source, a buffer that starts with 0x00 (the leaf-hash prefix) and the leaf's opening.
  readonly #out = new Map<LedgerSource, Buffer>();
  #lastLeaf: { out: Buffer; end: number } | null = null;

  /** Starts on a new row (the buffer is read, never kept past the next reset). */
  reset(row: Buffer): this {
    this.#row = row;
    this.#at = 0;
    this.#lastLeaf = null;
    return this;
  }

  /** True when the next field is NULL. */
  isNull(): boolean {
    // Data never starts with `\N`: COPY writes a backslash of the data as `\\`.
    return this.#row[this.#at] === BACKSLASH && this.#row[this.#at + 1] === 0x4e;
  }

  /** Passes over `count` fields. */
  skip(count = 1): void {
    const row = this.#row;
    let at = this.#at;
    for (let f = 0; f < count; f++) {
      for (;;) {
        if (at >= row.length) throw malformed();
        const c = row[at++];
        if (c === TAB || c === NEWLINE) break;
      }
    }
    this.#at = at;
  }

  /** The next field as text (null for NULL). */
  text(): string | null {
    if (this.isNull()) {
      this.skip();
      return null;
    }
    const row = this.#row;
    const start = this.#at;
    let escaped = false;
    let end = start;
    for (;;) {
      if (end >= row.length) throw malformed();
      const c = row[end];
      if (c === TAB || c === NEWLINE) break;
      if (c === BACKSLASH) {
        escaped = true;
        end += 1;
      }
      end += 1;
    }
    this.#at = end + 1;
    if (!escaped) return row.toString('utf8', start, end);
    const bytes = Buffer.allocUnsafe(end - start);
    let o = 0;
    for (let at = start; at < end; at++) {
      const c = row[at]!;
      bytes[o++] = c === BACKSLASH ? COPY_ESCAPES[row[++at]!]! : c;
    }
    return bytes.toString('utf8', 0, o);
  }

  /** The next field as a safe integer (bigint, integer or smallint output); throws on NULL. */
  integer(): number {
    const row = this.#row;
    let at = this.#at;
    const negative = row[at] === 0x2d;
    if (negative) at += 1;
    let value = 0;
    let digits = 0;
    for (; at < row.length; at++, digits++) {
      const d = row[at]! - 0x30;
      if (d < 0 || d > 9) break;
      value = value * 10 + d;
    }
    const c = row[at];
    if (digits === 0 || (c !== TAB && c !== NEWLINE) || !Number.isSafeInteger(value)) throw malformed();
    this.#at = at + 1;
    return negative ? -value : value;
  }

  /** The next field, lowercase hex (`encode(…, 'hex')`), as bytes; throws on NULL. */
  hexBytes(): Uint8Array {
    const row = this.#row;
    const start = this.#at;
    let end = start;
    while (end < row.length && row[end] !== TAB && row[end] !== NEWLINE) end++;
    if (end >= row.length || (end - start) % 2 !== 0) throw malformed();
    const bytes = new Uint8Array((end - start) / 2);
    for (let i = 0, at = start; at < end; i++, at += 2) bytes[i] = (hexValue(row[at]!) << 4) | hexValue(row[at + 1]!);
    this.#at = end + 1;
    return bytes;
  }

  /**
   * Builds the canonical leaf of a `source` row from the next fields (those of
   * `leafFieldsSql(source, …)`, in order) and returns its leaf hash: the same bytes as
   * `leafTextSql` gives, hashed as `leafHashOfText` does.
   */
  leafHash(source: LedgerSource): Uint8Array {
    const quoted = QUOTING[source];
    const row = this.#row;
    let at = this.#at;
    const out = this.#outFor(source, row.length - at);
    const opening = OPENINGS[source];
    let o = opening.length;
    for (let f = 0; f < quoted.length; f++) {
      out[o++] = 0x2c; // ', '
      out[o++] = 0x20;
      if (row[at] === BACKSLASH && row[at + 1] === 0x4e) {
        out[o++] = 0x6e; // null
        out[o++] = 0x75;
        out[o++] = 0x6c;
        out[o++] = 0x6c;
        at += 3;
        continue;
      }
      const q = quoted[f] === 1;
      if (q) out[o++] = QUOTE;
      for (;;) {
        if (at >= row.length) throw malformed();
        let c = row[at++]!;
        if (c === TAB || c === NEWLINE) break;
        if (c === BACKSLASH) c = COPY_ESCAPES[row[at++]!]!;
        if (q && (c < 0x20 || c === QUOTE || c === BACKSLASH)) {
          out[o++] = BACKSLASH;
          if (c >= 0x20) out[o++] = c;
          else if (JSON_ESCAPES[c] !== 0) out[o++] = JSON_ESCAPES[c]!;
          else {
            out[o++] = 0x75; // u00xx
            out[o++] = 0x30;
            out[o++] = 0x30;
            out[o++] = HEX_DIGITS[c >> 4]!;
            out[o++] = HEX_DIGITS[c & 15]!;
          }
        } else out[o++] = c;
      }
      if (q) out[o++] = QUOTE;
    }
    out[o++] = 0x5d; // ']'
    this.#at = at;
    this.#lastLeaf = { out, end: o };
    return hash('sha256', out.subarray(0, o), 'buffer');
  }

  /** The text of the leaf the last `leafHash` of this row built. */
  leafText(): string {
    if (!this.#lastLeaf) throw new Error('no leaf built for this row');
    return this.#lastLeaf.out.toString('utf8', 1, this.#lastLeaf.end);
  }

  // Room for the opening, 2 + 4 bytes per field and each remaining byte escaped as \u00xx.
  #outFor(source: LedgerSource, remaining: number): Buffer {
    const need = OPENINGS[source].length + 6 * QUOTING[source].length + 6 * remaining + 1;
    let out = this.#out.get(source);
    if (!out || out.length < need) {
      out = Buffer.allocUnsafe(Math.max(need, 64 * 1024));
      OPENINGS[source].copy(out, 0);
      this.#out.set(source, out);
    }
    return out;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  throw malformed();
}

const SOURCES = [LedgerSource.rowChange, LedgerSource.securityEvent] as const;
// 0x00 ‖ `["tag"` per source, and which fields are JSON strings (1) or written as they are (0).
const OPENINGS = Object.fromEntries(
  SOURCES.map((s) => [s, Buffer.from(`\u0000[${JSON.stringify(LeafTags[s])}`, 'utf8')]),
) as Record<LedgerSource, Buffer>;
const QUOTING = Object.fromEntries(
  SOURCES.map((s) => [s, Uint8Array.from(leafFieldQuoting(s), (q) => (q ? 1 : 0))]),
) as Record<LedgerSource, Uint8Array>;

/**
 * Runs `query` (a `COPY (…) TO STDOUT` statement) and calls `onRow` with each row's bytes as it
 * arrives (valid only during the call), while the server goes on producing the next ones.
 * Resolves to the number of rows. COPY takes no bound parameters: build `query` from constants
 * and numbers checked by the caller only. An error thrown by `onRow` rejects the promise once the
 * server is done; later rows are not passed on.
 *
 * @example
 * const n = await copyRows(client, 'copy (select position from ledger.entries) to stdout', (row) => count(row));
 */
export function copyRows(client: pg.ClientBase, query: string, onRow: (row: Buffer) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    client.query(new CopyOut(query, onRow, resolve, reject));
  });
}

// A node-postgres Submittable (as pg-cursor and pg-copy-streams are) for one COPY TO STDOUT.
class CopyOut implements pg.Submittable {
  #rows = 0;
  #failure: unknown = null;
  #settled = false;

  constructor(
    private readonly text: string,
    private readonly onRow: (row: Buffer) => void,
    private readonly resolve: (rows: number) => void,
    private readonly reject: (err: unknown) => void,
  ) {}

  submit(connection: pg.Connection): void {
    connection.query(this.text);
  }

  handleCopyData(msg: { chunk: Buffer }): void {
    if (this.#failure !== null) return;
    try {
      this.onRow(msg.chunk);
      this.#rows += 1;
    } catch (err) {
      this.#failure = err;
    }
  }

  // An error from the server, or the connection's: settled now, as node-postgres's own queries do.
  handleError(err: unknown): void {
    this.#settle(err);
  }

  handleReadyForQuery(): void {
    this.#settle(this.#failure);
  }

  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}

  // Only for a COPY FROM, which this never sends: refuse it rather than hang.
  handleCopyInResponse(connection: pg.Connection): void {
    (connection as unknown as { sendCopyFail(message: string): void }).sendCopyFail('copyRows only reads');
  }

  #settle(err: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    if (err !== null) this.reject(err);
    else this.resolve(this.#rows);
  }
}

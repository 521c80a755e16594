/**
 * A reader for the messages of PostgreSQL's built-in `pgoutput` logical decoding plugin,
 * protocol version 1 (PostgreSQL 10 and later), as `pg_logical_slot_peek_binary_changes` returns
 * them: one message per row. Only what WAL capture needs is decoded; a message of a kind it does
 * not know is an error, never skipped, so no change can pass unseen.
 */

/** A column of a published table, as its Relation message describes it. */
export interface RelationColumn {
  name: string;
  typeOid: number;
  /** Part of the replica identity (the key). */
  key: boolean;
}

/** A published table, as its Relation message describes it. */
export interface Relation {
  id: number;
  schema: string;
  name: string;
  /** 'd' default, 'f' full, 'i' index, 'n' nothing. */
  replicaIdentity: string;
  columns: RelationColumn[];
}

/**
 * A column value in a tuple: its text form, `null` for SQL NULL, or `undefined` for a TOASTed
 * value the change did not touch (the log does not repeat it).
 */
export type TupleValue = string | null | undefined;

export type PgoutputMessage =
  | { kind: 'begin'; finalLsn: bigint; commitTime: bigint; xid: number }
  | { kind: 'commit'; commitLsn: bigint; endLsn: bigint; commitTime: bigint }
  | { kind: 'relation'; relation: Relation }
  | { kind: 'type'; oid: number }
  | { kind: 'origin' }
  | { kind: 'message'; transactional: boolean; prefix: string }
  | { kind: 'insert'; relationId: number; newTuple: TupleValue[] }
  | { kind: 'update'; relationId: number; oldTuple: TupleValue[] | null; oldIsKey: boolean; newTuple: TupleValue[] }
  | { kind: 'delete'; relationId: number; oldTuple: TupleValue[]; oldIsKey: boolean }
  | { kind: 'truncate'; relationIds: number[] };

class Reader {
  #pos = 0;
  constructor(readonly buf: Buffer) {}
  byte(): number {
    this.#need(1);
    return this.buf[this.#pos++] as number;
  }
  int16(): number {
    this.#need(2);
    const v = this.buf.readInt16BE(this.#pos);
    this.#pos += 2;
    return v;
  }
  int32(): number {
    this.#need(4);
    const v = this.buf.readInt32BE(this.#pos);
    this.#pos += 4;
    return v;
  }
  uint32(): number {
    this.#need(4);
    const v = this.buf.readUInt32BE(this.#pos);
    this.#pos += 4;
    return v;
  }
  int64(): bigint {
    this.#need(8);
    const v = this.buf.readBigInt64BE(this.#pos);
    this.#pos += 8;
    return v;
  }
  string(): string {
    const end = this.buf.indexOf(0, this.#pos);
    if (end < 0) throw new SyntaxError('pgoutput: unterminated string');
    const s = this.buf.toString('utf8', this.#pos, end);
    this.#pos = end + 1;
    return s;
  }
  text(length: number): string {
    this.#need(length);
    const s = this.buf.toString('utf8', this.#pos, this.#pos + length);
    this.#pos += length;
    return s;
  }
  skip(length: number): void {
    this.#need(length);
    this.#pos += length;
  }
  #need(n: number): void {
    if (this.#pos + n > this.buf.length) throw new SyntaxError('pgoutput: message ends early');
  }
}

function tuple(r: Reader): TupleValue[] {
  const n = r.int16();
  const out: TupleValue[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const kind = r.byte();
    if (kind === 0x6e /* n */) out[i] = null;
    else if (kind === 0x75 /* u */) out[i] = undefined;
    else if (kind === 0x74 /* t */) out[i] = r.text(r.int32());
    else throw new SyntaxError(`pgoutput: unknown tuple value kind ${kind}`);
  }
  return out;
}

/**
 * Decodes one pgoutput (protocol 1) message.
 *
 * @example
 * const m = parsePgoutput(row.data); // { kind: 'insert', relationId: 16384, newTuple: ['1', 'a'] }
 */
export function parsePgoutput(data: Buffer): PgoutputMessage {
  const r = new Reader(data);
  const tag = String.fromCharCode(r.byte());
  switch (tag) {
    case 'B':
      return { kind: 'begin', finalLsn: r.int64(), commitTime: r.int64(), xid: r.uint32() };
    case 'C': {
      r.byte(); // flags, unused
      return { kind: 'commit', commitLsn: r.int64(), endLsn: r.int64(), commitTime: r.int64() };
    }
    case 'R': {
      const id = r.uint32();
      const schema = r.string();
      const name = r.string();
      const replicaIdentity = String.fromCharCode(r.byte());
      const n = r.int16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < n; i++) {
        const flags = r.byte();
        const colName = r.string();
        const typeOid = r.uint32();
        r.int32(); // typmod: the text form already honours it
        columns.push({ name: colName, typeOid, key: (flags & 1) === 1 });
      }
      return {
        kind: 'relation',
        relation: { id, schema: schema === '' ? 'pg_catalog' : schema, name, replicaIdentity, columns },
      };
    }
    case 'Y': {
      const oid = r.uint32();
      r.string();
      r.string();
      return { kind: 'type', oid };
    }
    case 'O':
      return { kind: 'origin' };
    case 'M': {
      const flags = r.byte();
      r.int64();
      const prefix = r.string();
      r.skip(r.int32());
      return { kind: 'message', transactional: (flags & 1) === 1, prefix };
    }
    case 'I': {
      const relationId = r.uint32();
      if (r.byte() !== 0x4e /* N */) throw new SyntaxError('pgoutput: insert without a new tuple');
      return { kind: 'insert', relationId, newTuple: tuple(r) };
    }
    case 'U': {
      const relationId = r.uint32();
      let marker = r.byte();
      let oldTuple: TupleValue[] | null = null;
      let oldIsKey = false;
      if (marker === 0x4b /* K */ || marker === 0x4f /* O */) {
        oldIsKey = marker === 0x4b;
        oldTuple = tuple(r);
        marker = r.byte();
      }
      if (marker !== 0x4e) throw new SyntaxError('pgoutput: update without a new tuple');
      return { kind: 'update', relationId, oldTuple, oldIsKey, newTuple: tuple(r) };
    }
    case 'D': {
      const relationId = r.uint32();
      const marker = r.byte();
      if (marker !== 0x4b && marker !== 0x4f) throw new SyntaxError('pgoutput: delete without an old tuple');
      return { kind: 'delete', relationId, oldIsKey: marker === 0x4b, oldTuple: tuple(r) };
    }
    case 'T': {
      const n = r.int32();
      r.byte(); // options: CASCADE / RESTART IDENTITY
      const relationIds: number[] = [];
      for (let i = 0; i < n; i++) relationIds.push(r.uint32());
      return { kind: 'truncate', relationIds };
    }
    default:
      throw new SyntaxError(`pgoutput: unknown message type ${JSON.stringify(tag)}`);
  }
}

/** Formats an LSN held as a 64-bit integer the way PostgreSQL prints it: `16/B374D848`. */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** Parses PostgreSQL's `X/Y` LSN text into a 64-bit integer. */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!m) throw new SyntaxError(`not an LSN: ${text}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

import type { LogFormat, LogParser, LogRecord } from './log-record.js';
import { createLogParser } from './parsers.js';

/** Where reading one file stands. */
export interface FileProgress {
  /** `<dev>-<ino>` locally, the file name over SQL. */
  key: string;
  /** Last path seen (a renamed file keeps its key). */
  path: string;
  /** Discovery order: files are read oldest first. */
  seq: number;
  /** Times the file was truncated or replaced in place; part of event ids after the first. */
  gen: number;
  /** Next byte to read. */
  offset: number;
  /**
   * The first bytes of the file and the last ones before `offset`, re-read to prove the file was
   * not truncated and refilled, or replaced, meanwhile (log lines end alike; their starts carry
   * a timestamp).
   */
  head: Buffer;
  tail: Buffer;
}

/** One file in the saved position (JSON): progress plus the parser's unconsumed bytes. */
export interface SavedFile extends Omit<FileProgress, 'head' | 'tail'> {
  /** Base64 of `head` and `tail`. */
  head?: string;
  tail?: string;
  /** Base64 of the bytes read but not yet handled (a partial record, or stderr's held record). */
  carry?: string;
  carryOffset?: number;
}

/**
 * What a server-log source saves under its source name in the PositionStore.
 *
 * @example
 * { v: 1, format: 'jsonlog', nextSeq: 3, files: [{ key: '2049-1311', path: '/var/log/pg/pg.json', seq: 2, gen: 0, offset: 8192, tail: 'fQo=' }] }
 */
export interface SavedLogPosition {
  v: 1;
  format: LogFormat;
  nextSeq: number;
  files: SavedFile[];
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function savedFileOf(value: unknown): SavedFile | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const f = value as Record<string, unknown>;
  if (typeof f.key !== 'string' || typeof f.path !== 'string') return undefined;
  if (!isInt(f.seq) || !isInt(f.gen) || !isInt(f.offset)) return undefined;
  const saved: SavedFile = { key: f.key, path: f.path, seq: f.seq, gen: f.gen, offset: f.offset };
  if (typeof f.head === 'string') saved.head = f.head;
  if (typeof f.tail === 'string') saved.tail = f.tail;
  if (typeof f.carry === 'string' && isInt(f.carryOffset)) {
    const carry = Buffer.from(f.carry, 'base64');
    // A carry that does not end where reading resumes cannot be trusted: resume without it.
    if (f.carryOffset + carry.length === f.offset) {
      saved.carry = f.carry;
      saved.carryOffset = f.carryOffset;
    }
  }
  return saved;
}

/**
 * The saved position if `value` is one for `format`, else undefined (first run, another format,
 * or a shape from another version: the source then starts afresh).
 */
export function savedPositionOf(value: unknown, format: LogFormat): SavedLogPosition | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const p = value as Record<string, unknown>;
  if (p.v !== 1 || p.format !== format || !isInt(p.nextSeq) || !Array.isArray(p.files)) return undefined;
  const files: SavedFile[] = [];
  for (const f of p.files) {
    const saved = savedFileOf(f);
    if (saved) files.push(saved);
  }
  return { v: 1, format, nextSeq: p.nextSeq, files };
}

/** The JSON form of a file's progress; a settled file without its fingerprints. */
export function toSavedFile(state: FileProgress & { parser: LogParser }, settled = false): SavedFile {
  const saved: SavedFile = { key: state.key, path: state.path, seq: state.seq, gen: state.gen, offset: state.offset };
  if (!settled && state.head.length > 0) saved.head = state.head.toString('base64');
  if (!settled && state.tail.length > 0) saved.tail = state.tail.toString('base64');
  const carry = state.parser.carry;
  if (carry.length > 0) {
    saved.carry = carry.toString('base64');
    saved.carryOffset = state.parser.carryOffset;
  }
  return saved;
}

/** A parser in the state `saved` describes (its carry pushed again). */
export function restoreParser(
  format: LogFormat,
  saved: SavedFile,
  onMalformed: (offset: number, reason: string) => void,
  expectPrefix?: boolean,
): { parser: LogParser; records: LogRecord[] } {
  const hasCarry = saved.carry !== undefined && saved.carryOffset !== undefined;
  const parser = createLogParser(format, {
    startOffset: hasCarry ? saved.carryOffset : saved.offset,
    onMalformed,
    ...(expectPrefix === undefined ? {} : { expectPrefix }),
  });
  // The carry held no complete record when it was saved, so this normally returns none.
  const records = hasCarry ? parser.push(Buffer.from(saved.carry ?? '', 'base64')) : [];
  return { parser, records };
}

import type { PositionStore, UntimedEvent } from '../../event.js';
import { classifyLogRecord } from './classify.js';
import { EMPTY, type LogFormat, type LogParser, type LogRecord } from './log-record.js';
import { createLogParser } from './parsers.js';
import { type FileProgress, type SavedFile, restoreParser, savedPositionOf, toSavedFile } from './saved-position.js';

/**
 * One log file as a directory listing sees it.
 *
 * @example
 * const file: LogFile = { key: '2049-1311', path: '/pg/log/pg.json', size: 8192, mtimeMs: Date.now(), listed: true };
 */
export interface LogFile {
  /** Stable identity: `<dev>-<ino>` on this host, the file name over SQL. */
  key: string;
  path: string;
  size: number;
  mtimeMs: number;
  /** False when the name no longer matches (renamed away, deleted) but the file is still readable. */
  listed: boolean;
}

/**
 * How the follower reaches the files: the local file system (LocalLogFiles) or SQL (SqlLogFiles).
 *
 * @example
 * const access: LogFileAccess = new LocalLogFiles('/pg/log', fileMatcher('*.json'));
 */
export interface LogFileAccess {
  /** The files to follow now. `tracked` (key → last path) are files followed so far. */
  list(tracked: ReadonlyMap<string, string>): Promise<LogFile[]>;
  /** Up to `length` bytes at `offset`; undefined when the file is gone. */
  read(file: LogFile, offset: number, length: number): Promise<Buffer | undefined>;
  /** The follower will not read `key` for a while: drop any open descriptor. */
  release(key: string): Promise<void>;
}

/** What a LogFollower needs. */
export interface LogFollowerOptions {
  access: LogFileAccess;
  format: LogFormat;
  /** stderr only: see LogParserOptions.expectPrefix. */
  expectPrefix?: boolean | undefined;
  positions: PositionStore;
  sourceName: string;
  onEvents: (events: UntimedEvent[]) => Promise<void>;
  /** Where to start the first time (no saved position): at the end of every file, or at the start of all. */
  startAt: 'beginning' | 'end';
  maxBytesPerPoll: number;
  /** A file idle this long is released (renamed-away files are then forgotten). */
  releaseAfterMs: number;
  chunkBytes: number;
  clock: () => number;
  onMalformed?: ((file: LogFile, offset: number, reason: string) => void) | undefined;
}

/** Bytes at the start of a file, and before the offset, compared before reading on. */
const HEAD_BYTES = 64;
const TAIL_BYTES = 256;
/** Longest record kept waiting for its end (PostgreSQL logs statements whole). */
const MAX_CARRY_BYTES = 64 * 1024 * 1024;

interface FileState extends FileProgress {
  parser: LogParser;
  /** Records rebuilt from a restored carry that were never handled (rare: see restore). */
  backlog: LogRecord[];
  /** The file's mtime at the last pass; a change makes the next pass verify head and tail. */
  mtimeMs: number;
  size: number;
  listed: boolean;
  lastGrowthAt: number;
}

/**
 * Follows the log files of one directory in the order they were created, the engine under
 * ServerLogTailer and RemoteLogReader. Each file keeps its own offset, truncation generation and
 * parser carry; a file that grows after a newer one appeared is still read to its end. After
 * every batch the handler accepted, the whole position is saved, so a restart neither repeats
 * nor loses a record (at-least-once when saving itself fails). A batch the handler rejects is
 * read again at the next poll.
 */
export class LogFollower {
  readonly #o: LogFollowerOptions;
  readonly #states = new Map<string, FileState>();
  #nextSeq = 0;
  #loaded = false;
  #fresh = true;
  #committed: SavedFile[] = [];
  #dirty = false;
  #exhausted = false;
  #lastReadAt: number | undefined;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(options: LogFollowerOptions) {
    this.#o = options;
  }

  /** When the last bytes were read, ms since the epoch. */
  get lastReadAt(): number | undefined {
    return this.#lastReadAt;
  }

  /** Whether the last poll stopped at maxBytesPerPoll with more to read. */
  get exhausted(): boolean {
    return this.#exhausted;
  }

  /** Bytes written to the followed files and not read yet (as of the last listing). */
  lagBytes(): number {
    let lag = 0;
    for (const s of this.#states.values()) lag += Math.max(0, s.size - s.offset);
    return lag;
  }

  /** One pass over the directory; resolves to the number of records handled. Passes never overlap. */
  poll(): Promise<number> {
    const pass = this.#chain.then(() => this.#pollOnce());
    this.#chain = pass.catch(() => undefined);
    return pass;
  }

  /** Resolves when no pass is in progress. */
  async settled(): Promise<void> {
    await this.#chain;
  }

  async #pollOnce(): Promise<number> {
    if (!this.#loaded) await this.#load();
    try {
      return await this.#pass();
    } catch (err) {
      this.#restore(this.#committed);
      throw err;
    }
  }

  async #load(): Promise<void> {
    const saved = savedPositionOf(await this.#o.positions.load(this.#o.sourceName), this.#o.format);
    this.#loaded = true;
    if (saved === undefined) return;
    this.#fresh = false;
    this.#nextSeq = saved.nextSeq;
    this.#committed = saved.files;
    this.#restore(saved.files);
  }

  #restore(files: readonly SavedFile[]): void {
    const now = this.#o.clock();
    this.#states.clear();
    for (const f of files) {
      const { parser, records } = restoreParser(
        this.#o.format,
        f,
        this.#malformed(f.path, f.key),
        this.#o.expectPrefix,
      );
      this.#states.set(f.key, {
        key: f.key,
        path: f.path,
        seq: f.seq,
        gen: f.gen,
        offset: f.offset,
        head: Buffer.from(f.head ?? '', 'base64'),
        tail: Buffer.from(f.tail ?? '', 'base64'),
        parser,
        backlog: records,
        mtimeMs: -1,
        size: f.offset,
        listed: true,
        lastGrowthAt: now,
      });
    }
  }

  async #pass(): Promise<number> {
    const now = this.#o.clock();
    const tracked = new Map<string, string>();
    for (const [key, s] of this.#states) tracked.set(key, s.path);
    const files = await this.#o.access.list(tracked);
    const byKey = new Map(files.map((f) => [f.key, f]));
    let handled = 0;
    for (const [key, state] of this.#states) {
      if (byKey.has(key)) continue;
      handled += await this.#deliver(state, state.parser.flush());
      this.#states.delete(key);
      this.#dirty = true;
      await this.#o.access.release(key);
    }
    this.#discover(files, now);
    let budget = this.#o.maxBytesPerPoll;
    this.#exhausted = false;
    const ordered = [...this.#states.values()].sort((a, b) => a.seq - b.seq);
    // Once a newer file has news, an older one is finished: its held record goes out first.
    let newerHasNews = 0;
    for (const s of ordered) if ((byKey.get(s.key)?.size ?? 0) > s.offset) newerHasNews = s.seq;
    for (const state of ordered) {
      const file = byKey.get(state.key);
      if (file === undefined) continue;
      if (file.size > state.size) state.lastGrowthAt = now;
      state.size = file.size;
      state.path = file.path;
      state.listed = file.listed;
      if (state.backlog.length > 0) handled += await this.#deliver(state, state.backlog.splice(0));
      const before = budget;
      budget = await this.#readFile(state, file, budget, (n) => (handled += n));
      const quiet = budget === before && state.offset >= file.size;
      if (quiet || (state.offset >= file.size && newerHasNews > state.seq))
        handled += await this.#deliver(state, state.parser.flush());
      if (budget <= 0) {
        this.#exhausted = true;
        break;
      }
    }
    await this.#releaseIdle(now);
    if (this.#dirty) await this.#save();
    return handled;
  }

  #discover(files: readonly LogFile[], now: number): void {
    const fresh = files
      .filter((f) => !this.#states.has(f.key))
      .sort((a, b) => a.mtimeMs - b.mtimeMs || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    for (const f of fresh) {
      // On the very first pass 'end' skips history; files appearing later are read from byte 0.
      const offset = this.#fresh && this.#o.startAt === 'end' ? f.size : 0;
      this.#states.set(f.key, {
        key: f.key,
        path: f.path,
        seq: this.#nextSeq++,
        gen: 0,
        offset,
        head: EMPTY,
        tail: EMPTY,
        parser: createLogParser(this.#o.format, {
          ...this.#prefix(),
          startOffset: offset,
          onMalformed: this.#malformed(f.path, f.key),
        }),
        backlog: [],
        mtimeMs: f.mtimeMs,
        size: f.size,
        listed: f.listed,
        lastGrowthAt: now,
      });
      this.#dirty = true;
    }
  }

  /** Reads `state`'s file from its offset within `budget`; returns the budget left. */
  async #readFile(state: FileState, file: LogFile, budget: number, count: (n: number) => void): Promise<number> {
    let left = budget;
    // A write changes the mtime: a refill to exactly the old size must not pass for "no news".
    const touched = file.mtimeMs !== state.mtimeMs;
    state.mtimeMs = file.mtimeMs;
    if (file.size < state.offset || ((file.size > state.offset || touched) && !(await this.#unchanged(state, file)))) {
      count(await this.#truncated(state));
    }
    while (state.offset < file.size && left > 0) {
      // Re-reading the bytes before the offset proves the file still holds what was read: a
      // copytruncate refilled past the old offset, or a new file on a reused inode, fails it.
      const check = state.offset >= state.tail.length ? state.tail.length : 0;
      const want = Math.min(this.#o.chunkBytes, file.size - state.offset, left);
      const buf = await this.#o.access.read(file, state.offset - check, want + check);
      if (buf === undefined || buf.length <= check) break;
      if (check > 0 && !buf.subarray(0, check).equals(state.tail)) {
        count(await this.#truncated(state));
        continue;
      }
      const data = buf.subarray(check);
      if (state.offset === 0) state.head = Buffer.from(data.subarray(0, HEAD_BYTES));
      state.offset += data.length;
      state.tail = Buffer.from(buf.subarray(Math.max(0, buf.length - TAIL_BYTES)));
      left -= data.length;
      this.#dirty = true;
      this.#lastReadAt = this.#o.clock();
      count(await this.#deliver(state, state.parser.push(data)));
      if (state.parser.carry.length > MAX_CARRY_BYTES) this.#dropCarry(state);
    }
    return left;
  }

  /**
   * Whether the file still starts as it did when first read and, when it did not grow (reading
   * on checks the tail anyway), still holds the bytes before the offset.
   */
  async #unchanged(state: FileState, file: LogFile): Promise<boolean> {
    if (state.head.length > 0) {
      const head = await this.#o.access.read(file, 0, state.head.length);
      if (head !== undefined && !head.equals(state.head)) return false;
    }
    if (file.size !== state.offset || state.tail.length === 0) return true;
    const tail = await this.#o.access.read(file, state.offset - state.tail.length, state.tail.length);
    return tail === undefined || tail.equals(state.tail);
  }

  /** A record that never ends (a damaged file) must not grow without limit: skip it. */
  #dropCarry(state: FileState): void {
    this.#malformed(state.path, state.key)(state.parser.carryOffset, `a record longer than ${MAX_CARRY_BYTES} bytes`);
    state.parser = createLogParser(this.#o.format, {
      ...this.#prefix(),
      startOffset: state.offset,
      onMalformed: this.#malformed(state.path, state.key),
    });
  }

  /** The file was truncated or replaced in place: finish what was complete, restart at 0. */
  async #truncated(state: FileState): Promise<number> {
    const handled = await this.#deliver(state, state.parser.flush());
    state.gen++;
    state.offset = 0;
    state.head = EMPTY;
    state.tail = EMPTY;
    state.parser = createLogParser(this.#o.format, {
      ...this.#prefix(),
      onMalformed: this.#malformed(state.path, state.key),
    });
    this.#dirty = true;
    return handled;
  }

  async #deliver(state: FileState, records: LogRecord[]): Promise<number> {
    if (records.length === 0) return 0;
    const file = state.gen === 0 ? state.key : `${state.key}.${state.gen}`;
    const events = records.map((r) => classifyLogRecord(r, `log:${file}:${r.offset}`));
    await this.#o.onEvents(events);
    await this.#save();
    return records.length;
  }

  /** Read to its end, quiet for releaseAfterMs and not the newest file: done, unless it changes. */
  #settled(s: FileState, now: number, newest: number): boolean {
    return s.offset >= s.size && now - s.lastGrowthAt >= this.#o.releaseAfterMs && s.seq !== newest;
  }

  #newestSeq(): number {
    let newest = -1;
    for (const s of this.#states.values()) if (s.listed && s.seq > newest) newest = s.seq;
    return newest;
  }

  async #releaseIdle(now: number): Promise<void> {
    const newest = this.#newestSeq();
    for (const [key, s] of this.#states) {
      if (!this.#settled(s, now, newest)) continue;
      if (!s.listed) {
        await this.#deliver(s, s.parser.flush());
        this.#states.delete(key);
        this.#dirty = true;
      }
      await this.#o.access.release(key);
    }
  }

  async #save(): Promise<void> {
    // Settled files are saved without their fingerprints: a directory of a year of logs stays small.
    const now = this.#o.clock();
    const newest = this.#newestSeq();
    const files = [...this.#states.values()].map((s) => toSavedFile(s, this.#settled(s, now, newest)));
    await this.#o.positions.save(this.#o.sourceName, {
      v: 1,
      format: this.#o.format,
      nextSeq: this.#nextSeq,
      files,
    });
    this.#committed = files;
    this.#dirty = false;
    // Until a first save, a failed pass starts over as if never run ('end' still skips history).
    this.#fresh = false;
  }

  /** The parser option for stderr written with the recommended prefix (none otherwise). */
  #prefix(): { expectPrefix?: boolean } {
    return this.#o.expectPrefix === undefined ? {} : { expectPrefix: this.#o.expectPrefix };
  }

  #malformed(path: string, key: string): (offset: number, reason: string) => void {
    const report = this.#o.onMalformed;
    return (offset, reason) => {
      const state = this.#states.get(key);
      report?.({ key, path, size: state?.size ?? 0, mtimeMs: 0, listed: state?.listed ?? true }, offset, reason);
    };
  }
}

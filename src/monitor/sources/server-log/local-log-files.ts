import { type FileHandle, open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCodes, PgwardenError } from '../../../errors/index.js';
import type { LogFile, LogFileAccess } from './log-follower.js';

/**
 * A file-name matcher: a RegExp, or a glob with `*`, `?` and `[…]` (`postgresql-*.json`).
 *
 * @example
 * fileMatcher('postgresql-*.json')('postgresql-2024-05-01_000000.json'); // true
 */
export function fileMatcher(pattern: RegExp | string): (name: string) => boolean {
  if (pattern instanceof RegExp) return (name) => pattern.test(name);
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] ?? '';
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 1);
      if (close === -1) source += '\\[';
      else {
        const body = pattern.slice(i + 1, close).replace(/\\/g, '\\\\');
        source += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = close;
      }
    } else source += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  const re = new RegExp(`^${source}$`);
  return (name) => re.test(name);
}

const keyOf = (s: { dev: bigint; ino: bigint }) => `${s.dev}-${s.ino}`;
const codeOf = (err: unknown) => (err as NodeJS.ErrnoException).code;

/**
 * The log directory on this host. Files are known by device and inode, so a renamed file
 * (logrotate) keeps its progress, and read through a descriptor kept open, so a file renamed
 * out of the pattern or deleted while being read is still read to its end.
 */
export class LocalLogFiles implements LogFileAccess {
  readonly #dir: string;
  readonly #matches: (name: string) => boolean;
  readonly #open = new Map<string, { handle: FileHandle; path: string }>();

  constructor(dir: string, matches: (name: string) => boolean) {
    this.#dir = dir;
    this.#matches = matches;
  }

  async list(tracked: ReadonlyMap<string, string>): Promise<LogFile[]> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (err) {
      throw new PgwardenError(ErrorCodes.MONITOR_SOURCE_FAILED, `The log directory ${this.#dir} cannot be read`, {
        detail: String(codeOf(err) ?? err),
        hint: "point the tailer at the server's log_directory (show log_directory; relative to the data directory) and let the monitor's OS user read it",
        cause: err,
      });
    }
    const found = new Map<string, LogFile>();
    for (const name of names) {
      if (this.#matches(name)) await this.#stat(name, true, found);
    }
    for (const [key, entry] of this.#open) {
      if (found.has(key)) continue;
      try {
        const s = await entry.handle.stat({ bigint: true });
        found.set(key, {
          key,
          path: entry.path,
          size: Number(s.size),
          mtimeMs: Number(s.mtimeNs) / 1e6,
          listed: false,
        });
      } catch {
        await this.release(key);
      }
    }
    // After a restart, a followed file renamed out of the pattern (logrotate) is found by inode.
    const missing = [...tracked.keys()].filter((key) => !found.has(key));
    if (missing.length > 0) {
      const wanted = new Set(missing);
      for (const name of names) if (!this.#matches(name)) await this.#stat(name, false, found, wanted);
    }
    return [...found.values()];
  }

  async #stat(name: string, listed: boolean, into: Map<string, LogFile>, only?: ReadonlySet<string>): Promise<void> {
    const path = join(this.#dir, name);
    try {
      const s = await stat(path, { bigint: true });
      const key = keyOf(s);
      if (!s.isFile() || (only !== undefined && !only.has(key))) return;
      into.set(key, { key, path, size: Number(s.size), mtimeMs: Number(s.mtimeNs) / 1e6, listed });
      if (only !== undefined) await this.#handle({ key, path, size: 0, mtimeMs: 0, listed });
    } catch (err) {
      if (codeOf(err) !== 'ENOENT') throw unreadable(path, err);
    }
  }

  async read(file: LogFile, offset: number, length: number): Promise<Buffer | undefined> {
    const handle = await this.#handle(file);
    if (handle === undefined) return undefined;
    const buffer = Buffer.allocUnsafe(length);
    const { bytesRead } = await handle.read(buffer, 0, length, offset);
    return buffer.subarray(0, bytesRead);
  }

  async #handle(file: LogFile): Promise<FileHandle | undefined> {
    const known = this.#open.get(file.key);
    if (known) {
      known.path = file.path;
      return known.handle;
    }
    let handle: FileHandle;
    try {
      handle = await open(file.path, 'r');
    } catch (err) {
      if (codeOf(err) === 'ENOENT') return undefined;
      throw unreadable(file.path, err);
    }
    // The name may point to another file by now (rotated between listing and opening).
    if (keyOf(await handle.stat({ bigint: true })) !== file.key) {
      await handle.close();
      return undefined;
    }
    this.#open.set(file.key, { handle, path: file.path });
    return handle;
  }

  async release(key: string): Promise<void> {
    const entry = this.#open.get(key);
    if (!entry) return;
    this.#open.delete(key);
    await entry.handle.close().catch(() => undefined);
  }

  /** Closes every descriptor. */
  async close(): Promise<void> {
    for (const key of [...this.#open.keys()]) await this.release(key);
  }
}

function unreadable(path: string, err: unknown): PgwardenError {
  return new PgwardenError(ErrorCodes.MONITOR_SOURCE_FAILED, `The log file ${path} cannot be read`, {
    detail: String(codeOf(err) ?? err),
    hint: "the server writes logs with log_file_mode 0600: set log_file_mode = 0640 and run the monitor in the server's group, or read the log over SQL with RemoteLogReader",
    cause: err,
  });
}

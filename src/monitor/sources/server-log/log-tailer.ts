import { type FSWatcher, watch } from 'node:fs';
import { fileMatcher, LocalLogFiles } from './local-log-files.js';
import { type LogSourceOptions, LogSourceRunner } from './log-source.js';
import { logFileExtension } from './parsers.js';

/**
 * ServerLogTailer's options.
 *
 * @example
 * const options: ServerLogTailerOptions = { directory: '/var/lib/postgresql/17/main/log', format: 'jsonlog',
 *   positions, onEvents: async () => undefined };
 */
export interface ServerLogTailerOptions extends LogSourceOptions {
  /** The cluster's log_directory, as a path this process can open. */
  directory: string;
}

/**
 * Follows a PostgreSQL log directory on this host for one format and turns each record into a
 * monitor event (classifyLogRecord). Resumable: the position (file key = device and inode, path,
 * offset, the carry of a partial record) is saved under `sourceName` after every batch the
 * handler accepted, so a restart neither repeats nor loses a record.
 *
 * It follows rotation (an older file is read to its end before a newer one), logrotate's
 * rename+create (the renamed file is read to its end through its open descriptor, and found again
 * by inode after a restart), copytruncate and truncation (the same inode shrinks, or no longer
 * holds the byte before the offset: reading restarts at byte 0), and a file deleted while being
 * read (read to its end). Event ids: `log:<dev>-<ino>:<offset of the record's first byte>`, or
 * `log:<dev>-<ino>.<n>:<offset>` after the n-th truncation of that file. fs.watch only wakes the
 * loop early; polling decides. A rename scheme that rotates twice between two polls, the name
 * leaving the pattern, can skip a file: poll more often than the log rotates.
 *
 * @example
 * const tailer = new ServerLogTailer({ directory: '/var/lib/postgresql/17/main/log', format: 'jsonlog',
 *   positions, onEvents: async (events) => pipeline.push(events), onError: (e) => log.warn(e) });
 * await tailer.start();
 * // … await tailer.close();
 */
export class ServerLogTailer {
  readonly #files: LocalLogFiles;
  readonly #runner: LogSourceRunner;
  readonly #directory: string;
  #watcher: FSWatcher | undefined;

  constructor(options: ServerLogTailerOptions) {
    this.#directory = options.directory;
    const match = options.match ?? `*${logFileExtension[options.format]}`;
    this.#files = new LocalLogFiles(options.directory, fileMatcher(match));
    this.#runner = new LogSourceRunner(options, this.#files, 1024 * 1024, {
      failed: (error) => ({ kind: 'unavailable', source: 'server-log', reason: error.message }),
      recovered: () => ({ kind: 'available', source: 'server-log' }),
    });
  }

  /**
   * Runs a first pass (failures go to onError/onState, they do not reject), then polls in the
   * background and watches the directory as a hint.
   */
  async start(): Promise<void> {
    await this.#runner.start();
    if (this.#watcher) return;
    try {
      this.#watcher = watch(this.#directory, { persistent: false }, () => this.#runner.wake());
      this.#watcher.on('error', () => this.#unwatch());
    } catch {
      // No notifications on this file system: polling alone is enough.
    }
  }

  /** One pass now; resolves to the number of records handled, rejects when reading or the handler failed. */
  poll(): Promise<number> {
    return this.#runner.follower.poll();
  }

  /** Stops polling, waits for the pass in progress and closes every file. */
  async close(): Promise<void> {
    this.#unwatch();
    await this.#runner.close();
    await this.#files.close();
  }

  /** Bytes written to the log and not read yet (as of the last pass). */
  lagBytes(): number {
    return this.#runner.follower.lagBytes();
  }

  /** When bytes were last read, ms since the epoch. */
  get lastReadAt(): number | undefined {
    return this.#runner.follower.lastReadAt;
  }

  #unwatch(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

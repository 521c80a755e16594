import { ErrorCodes, PgwardenError } from '../../../errors/index.js';
import type { PositionStore, UntimedEvent } from '../../event.js';
import type { SourceStateEvent, SourceStateListener } from '../source-state.js';
import { type LogFileAccess, LogFollower } from './log-follower.js';
import type { LogFormat } from './log-record.js';
import { PollLoop } from './poll-loop.js';

/**
 * Options of ServerLogTailer and RemoteLogReader alike.
 *
 * @example
 * const common: LogSourceOptions = { format: 'csvlog', positions, startAt: 'end',
 *   onEvents: async (events) => pipeline.push(events), onState: (s) => log.info(s) };
 */
export interface LogSourceOptions {
  format: LogFormat;
  positions: PositionStore;
  /** Key of the saved position; default `server-log:<format>`. One per tailer. */
  sourceName?: string;
  /** Files to follow: a RegExp or a glob on the file name; default by extension (.json, .csv, .log). */
  match?: RegExp | string;
  /** The first time (no saved position): skip what the files already hold ('end', default) or read it all. */
  startAt?: 'beginning' | 'end';
  /** Default 250. */
  pollIntervalMs?: number;
  /** Bytes read per poll at most, over all files; default 16 MiB. */
  maxBytesPerPoll?: number;
  /** A file quiet this long is closed; one renamed away or deleted is then forgotten. Default 10 s. */
  releaseAfterMs?: number;
  /** Receives each batch; the position is saved only after it resolves. */
  onEvents: (events: UntimedEvent[]) => Promise<void>;
  /** Failures of the background loop (once per distinct failure), and malformed files (once each). */
  onError?: (error: PgwardenError) => void;
  /** State changes for the daemon (source name `server-log`): unavailable/available, handler-failed … */
  onState?: SourceStateListener;
  /** Clock for idle times; default Date.now. */
  clock?: (() => number) | undefined;
  /** stderr only: every line carries recommendedLogLinePrefix (see LogParserOptions.expectPrefix). */
  expectPrefix?: boolean | undefined;
}

/** Wraps anything a pass threw into a PgwardenError. */
export function sourceError(err: unknown, what: string): PgwardenError {
  if (err instanceof PgwardenError) return err;
  return new PgwardenError(ErrorCodes.MONITOR_SOURCE_FAILED, `${what} failed; it is retried`, {
    detail: err instanceof Error ? err.message : String(err),
    cause: err,
  });
}

/** How a source reports trouble and recovery in state events. */
export interface StateReporting {
  /** The state event for a failure of reading (not of the handler). */
  failed(error: PgwardenError, retryInMs: number): SourceStateEvent;
  /** The state event after a failure, once a pass works again. */
  recovered(downMs: number): SourceStateEvent;
}

/**
 * The polling, state reporting and position handling both server-log sources share: a
 * LogFollower over `access`, driven by a PollLoop, failures reported once per distinct error.
 */
export class LogSourceRunner {
  readonly follower: LogFollower;
  readonly #o: LogSourceOptions;
  readonly #loop: PollLoop;
  readonly #reporting: StateReporting;
  readonly #interval: number;
  readonly #clock: () => number;
  #failing: string | undefined;
  #downSince = 0;
  #handlerFailed = false;

  constructor(options: LogSourceOptions, access: LogFileAccess, chunkBytes: number, reporting: StateReporting) {
    this.#o = options;
    this.#reporting = reporting;
    this.#interval = options.pollIntervalMs ?? 250;
    this.#clock = options.clock ?? Date.now;
    const reported = new Set<string>();
    this.follower = new LogFollower({
      access,
      format: options.format,
      expectPrefix: options.expectPrefix,
      positions: options.positions,
      sourceName: options.sourceName ?? `server-log:${options.format}`,
      onEvents: async (events) => {
        try {
          await options.onEvents(events);
        } catch (err) {
          this.#handlerFailed = true;
          throw err;
        }
      },
      startAt: options.startAt ?? 'end',
      maxBytesPerPoll: options.maxBytesPerPoll ?? 16 * 1024 * 1024,
      releaseAfterMs: options.releaseAfterMs ?? 10_000,
      chunkBytes,
      clock: this.#clock,
      onMalformed: (file, offset, reason) => {
        if (reported.has(file.key)) return;
        reported.add(file.key);
        options.onError?.(malformedError(options.format, file.path, offset, reason));
      },
    });
    this.#loop = new PollLoop(
      () => this.#pass(),
      this.#interval,
      () => undefined,
    );
  }

  /** Runs the first pass (a failure is reported, not thrown), then keeps polling. */
  async start(): Promise<void> {
    await this.#pass();
    this.#loop.start();
  }

  wake(): void {
    this.#loop.wake();
  }

  /** Stops the loop and waits for the pass in progress. */
  async close(): Promise<void> {
    await this.#loop.close();
    await this.follower.settled();
  }

  async #pass(): Promise<{ more: boolean }> {
    this.#handlerFailed = false;
    try {
      await this.follower.poll();
    } catch (err) {
      this.#report(sourceError(err, 'Reading the server log'));
      return { more: false };
    }
    if (this.#failing !== undefined) {
      this.#o.onState?.(this.#reporting.recovered(this.#clock() - this.#downSince));
      this.#failing = undefined;
    }
    return { more: this.follower.exhausted };
  }

  #report(error: PgwardenError): void {
    const key = `${error.code}:${error.message}`;
    if (key === this.#failing) return;
    if (this.#failing === undefined) this.#downSince = this.#clock();
    this.#failing = key;
    this.#o.onError?.(error);
    this.#o.onState?.(
      this.#handlerFailed
        ? { kind: 'handler-failed', source: 'server-log', error }
        : this.#reporting.failed(error, this.#interval),
    );
  }
}

function malformedError(format: LogFormat, path: string, offset: number, reason: string): PgwardenError {
  return new PgwardenError(ErrorCodes.MONITOR_SOURCE_FAILED, `${path} holds ${format} that cannot be parsed`, {
    detail: `${reason} at byte ${offset} (reported once per file)`,
    hint:
      format === 'stderr'
        ? "set log_line_prefix to recommendedLogLinePrefix and lc_messages = 'C', or follow the csvlog/jsonlog files"
        : 'check that the files matched are the server log in this format',
  });
}

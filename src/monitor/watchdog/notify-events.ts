/** What the watchdog's notifier reports: per notice and sink, as it goes and at the end of a drain. */
import type { PgwardenError } from '../../errors/index.js';
import type { WatchdogAction } from './payload.js';

/**
 * What the notifier reports as it goes (the CLI logs these; tests assert on them).
 *
 * @example
 * const onEvent = (e: WatchdogNotifyEvent) => { if (e.kind === 'watchdog-notice-failed') log.warn(e.error.message); };
 */
export type WatchdogNotifyEvent =
  | { kind: 'watchdog-notice-sent'; sink: string; action: WatchdogAction; attempt: number }
  /** `retryInMs` null: given up (the sink refused it for good, or this run's attempts are spent). */
  | {
      kind: 'watchdog-notice-failed';
      sink: string;
      action: WatchdogAction;
      attempt: number;
      error: PgwardenError;
      retryInMs: number | null;
    }
  | { kind: 'watchdog-notice-superseded'; sink: string; action: WatchdogAction; by: WatchdogAction }
  | { kind: 'watchdog-state-failed'; error: PgwardenError };

/**
 * What became of one notice in a drain (a `--once` run).
 *
 * @example
 * const failed = outcomes.filter((o: NoticeOutcome) => !o.delivered);
 */
export interface NoticeOutcome {
  sink: string;
  action: WatchdogAction;
  delivered: boolean;
  /** Attempts in this drain. */
  attempts: number;
  /** The last failure, when not delivered. */
  error?: string;
}

/**
 * The watchdog as `pgwarden monitor watchdog` runs it: the polling check wired to the notifier,
 * which alerts through the sinks on the way down and up, reminds while an outage lasts, and
 * retries each sink until its notice is delivered or superseded.
 */
import type { BackoffPolicy, Sink } from '../sinks/index.js';
import { WatchdogNotifier } from './notifier.js';
import type { WatchdogNotifyEvent } from './notify-events.js';
import { startWatchdog, type Watchdog, type WatchdogOptions } from './start-watchdog.js';
import type { WatchdogStateStore } from './state-store.js';
import type { RecoveredInfo, StaleInfo } from './verdict.js';

/** Options of {@link startWatchdogAlerts}. */
export interface WatchdogAlertsOptions extends Omit<
  WatchdogOptions,
  'onStale' | 'onStillStale' | 'onRecovered' | 'outageSince'
> {
  sinks: readonly Sink[];
  /** What was reported before this process (default: in memory). */
  store?: WatchdogStateStore;
  /** A reminder while the outage lasts, at most this often (default 30 min; 0: never). */
  remindEveryMs?: number;
  /** Retry spacing (default 2 s doubling up to 5 min). */
  backoff?: BackoffPolicy;
  random?: () => number;
  onStale?: (info: StaleInfo) => void;
  onRecovered?: (info: RecoveredInfo) => void;
  onEvent?: (event: WatchdogNotifyEvent) => void;
}

/** A running watchdog with its notifier. */
export interface WatchdogAlerts {
  readonly watchdog: Watchdog;
  readonly notifier: WatchdogNotifier;
  /** Stops checking, waits for the sends in flight, saves what is unsent. */
  close(): Promise<void>;
}

/**
 * Starts the watchdog and its notifier. An outage remembered in `store` continues: no second
 * trigger for it, and a fresh first check resolves it.
 *
 * @example
 * const alerts = await startWatchdogAlerts({ connection, maxAgeSeconds: 30, sinks,
 *   store: fileStateStore('.pgwarden/watchdog-all.json'), remindEveryMs: 3_600_000 });
 * // … on shutdown:
 * await alerts.close();
 */
export async function startWatchdogAlerts(options: WatchdogAlertsOptions): Promise<WatchdogAlerts> {
  const { sinks, store, remindEveryMs, backoff, random, onStale, onRecovered, onEvent, ...watch } = options;
  const notifier = await WatchdogNotifier.open({
    sinks,
    ...(store ? { store } : {}),
    ...(remindEveryMs === undefined ? {} : { remindEveryMs }),
    ...(backoff ? { backoff } : {}),
    ...(random ? { random } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(onEvent ? { onEvent } : {}),
  });
  notifier.start();
  const since = notifier.outage?.since;
  const watchdog = startWatchdog({
    ...watch,
    ...(since === undefined ? {} : { outageSince: since }),
    onStale: (info) => {
      notifier.down(info);
      onStale?.(info);
    },
    onStillStale: (info) => notifier.down(info),
    onRecovered: (info) => {
      notifier.up(info);
      onRecovered?.(info);
    },
  });
  return {
    watchdog,
    notifier,
    close: async () => {
      await watchdog.close();
      await notifier.close();
    },
  };
}

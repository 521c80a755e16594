/**
 * The dead-man's switch (M-13): checks that the monitor beats and progresses, and alerts through
 * the sinks (retried, once per transition, reminders) when it does not.
 *
 * @example
 * import { startWatchdogAlerts, runWatchdogOnce, fileStateStore } from './monitor/watchdog/index.js';
 */
export { startWatchdogAlerts, type WatchdogAlerts, type WatchdogAlertsOptions } from './alerting.js';
export { type Inspection, inspectHeartbeats, type InspectOptions, readProgress, WATCHED_SOURCE } from './inspect.js';
export { WatchdogNotifier, type WatchdogNotifierOptions } from './notifier.js';
export type { NoticeOutcome, WatchdogNotifyEvent } from './notify-events.js';
export { runWatchdogOnce, type WatchdogOnceOptions, type WatchdogOnceReport } from './once.js';
export { type OutageRecord, type WatchdogAction, watchdogAlertId, watchdogPayload } from './payload.js';
export {
  defaultStallSeconds,
  startWatchdog,
  unreachable,
  type Watchdog,
  type WatchdogOptions,
} from './start-watchdog.js';
export {
  fileStateStore,
  memoryStateStore,
  type PendingNotice,
  type WatchdogState,
  type WatchdogStateStore,
} from './state-store.js';
export {
  type RecoveredInfo,
  type StaleInfo,
  type StaleReason,
  staleError,
  type StallFacts,
  type VerdictLimits,
  watchedName,
} from './verdict.js';

// The security monitor: sources → typed events → rules and behaviour analytics → alerts → sinks,
// with metrics, a heartbeat and the dashboard. `pgwarden monitor` runs startMonitorServer.
export { type AlertRuleRef, type AlertSeverity, type AlertSignal } from './alert-signal.js';
export { AlertStore, type AlertRecord, type AlertStatus, buildAlertPayload, redactText } from './alerts/index.js';
export { UserAnalytics, type UserRisk } from './analytics/index.js';
export { type MonitorDaemon, type MonitorDaemonEvent, type MonitorDaemonOptions, startMonitor } from './daemon.js';
export {
  addressBlock,
  type EventSeverity,
  type EventSource,
  memoryPositionStore,
  type MonitorEvent,
  normaliseUser,
  type PositionStore,
  type UntimedEvent,
} from './event.js';
export { startHeartbeat } from './heartbeat.js';
export { type MonitorServer, startMonitorServer, type StartMonitorServerOptions } from './monitor-server.js';
export { MonitorPipeline } from './pipeline.js';
export { replayLog, type ReplayIncident, type ReplayResult } from './replay.js';
export { loadRules, parseRules, type Rule, RuleEngine, RuleStateStore, rulesMarkdown } from './rules/index.js';
export { planServerLog, type ServerLogPlan } from './server-log-plan.js';
export { createSink, DeliveryQueue, type Sink, signWebhook, verifyWebhookSignature } from './sinks/index.js';
export { recommendedLogLinePrefix } from './sources/server-log/index.js';
export { createTokenRejectionReporter } from './reporters/index.js';
export {
  fileStateStore,
  runWatchdogOnce,
  startWatchdog,
  startWatchdogAlerts,
  WatchdogNotifier,
  type WatchdogOnceOptions,
  type WatchdogOnceReport,
} from './watchdog.js';
export { ChangeWindows, closeChangeWindow, loadOpenChangeWindows, openChangeWindow } from './change-windows.js';

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import type { ConnectionConfig } from '../db/index.js';
import type { MetricsRegistry } from '../http/index.js';
import type { AlertSignal } from './alert-signal.js';
import { AlertStore, type RecordResult } from './alerts/index.js';
import { ProfileStore, UserAnalytics } from './analytics/index.js';
import { EventRate } from './event-rate.js';
import type { MonitorEvent, UntimedEvent } from './event.js';
import { ChangeWindows, loadOpenChangeWindows } from './change-windows.js';
import { startHeartbeat, type Heartbeat } from './heartbeat.js';
import { type MonitorMetrics, monitorMetrics } from './monitor-metrics.js';
import { MonitorPipeline } from './pipeline.js';
import { RoleAttributes } from './role-attributes.js';
import { RuleEngine, type Rule, type RuleStateRestoreReport, RuleStateStore } from './rules/index.js';
import type { ServerLogPlan } from './server-log-plan.js';
import { DeliveryQueue, type DeliveryEvent, type Sink } from './sinks/index.js';
import {
  AuditTrailSource,
  DbPositionStore,
  SecurityEventSource,
  type SourceStateEvent,
  StatsSource,
} from './sources/index.js';
import { RemoteLogReader, ServerLogTailer } from './sources/server-log/index.js';

/** Typed events of a running monitor: the CLI logs them, tests assert on them. */
export type MonitorDaemonEvent =
  | {
      kind: 'monitor-alert';
      alertId: string;
      rule: string;
      severity: string;
      created: boolean;
      notified: boolean;
      summary: string;
    }
  | { kind: 'monitor-source'; state: SourceStateEvent }
  | { kind: 'monitor-delivery'; event: DeliveryEvent }
  | { kind: 'monitor-error'; part: string; error: unknown }
  /** The rule engine's windows restored at start (`report`) or saved at shutdown (`bytes`, `omitted` groups). */
  | { kind: 'monitor-rule-state'; action: 'restored'; instance: string; report: RuleStateRestoreReport }
  | { kind: 'monitor-rule-state'; action: 'saved'; instance: string; bytes: number; omitted: number };

/** Options of {@link startMonitor}. */
export interface MonitorDaemonOptions {
  /** A login holding security_admin (or the owner) on a database with the monitor module. */
  connection: ConnectionConfig;
  rules: readonly Rule[];
  /** Alert sinks by name; an empty map stores alerts without sending them anywhere. */
  sinks: ReadonlyMap<string, Sink>;
  serverLog: ServerLogPlan;
  /** pg_stat_* sampling (0: off). */
  statsIntervalMs: number;
  /** Safety-net poll of the event tables besides LISTEN/NOTIFY. */
  pollIntervalMs: number;
  heartbeatIntervalMs: number;
  /** The analytics raises ueba.anomaly at or above this score. */
  riskThreshold: number;
  metrics: MetricsRegistry;
  onEvent?: (event: MonitorDaemonEvent) => void;
  /** The dashboard page of an alert, linked from notifications. */
  alertUrl?: (alertId: string) => string;
  /** Name of this monitor in monitor.heartbeats (default host name and pid). */
  instance?: string;
  /** How often grown incidents are written and sent (default 1 s). */
  flushIntervalMs?: number;
  /** How often the delivery queue runs (default 1 s). */
  deliveryIntervalMs?: number;
  /** Where a first run starts reading events: only new ones (default) or all history. */
  startAt?: 'end' | 'beginning';
  clock?: () => number;
}

/** A running monitor. */
export interface MonitorDaemon {
  readonly instance: string;
  readonly analytics: UserAnalytics;
  readonly alerts: AlertStore;
  /** Events per minute over the last hour, for the dashboard. */
  eventsPerMinute(): { minute: number; count: number }[];
  /** True once every source has connected (or reported itself unavailable). */
  ready(): boolean;
  stats(): { events: number; signals: number; alerts: number; sources: Record<string, string> };
  /** Stops the sources, writes what is pending (incidents, profiles, deliveries) and closes. */
  close(): Promise<void>;
}

/**
 * Starts the security monitor: reads the security-event log (LISTEN/NOTIFY plus catch-up by id),
 * the audit trail, pg_stat_* samples and the server log; runs the behaviour analytics and the
 * rules; stores one alert per incident and sends it through the delivery queue; writes a
 * heartbeat. Each source resumes where it stopped (monitor.source_positions).
 *
 * @example
 * const monitor = await startMonitor({ connection, rules: await loadRules(), sinks: new Map(),
 *   serverLog: { mode: 'off', reason: 'none' }, statsIntervalMs: 10_000, pollIntervalMs: 5_000,
 *   heartbeatIntervalMs: 5_000, riskThreshold: 70, metrics: new MetricsRegistry() });
 * // …
 * await monitor.close();
 */
export async function startMonitor(options: MonitorDaemonOptions): Promise<MonitorDaemon> {
  const clock = options.clock ?? Date.now;
  const emit = (event: MonitorDaemonEvent) => options.onEvent?.(event);
  const instance = options.instance ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const pool = new pg.Pool({ ...options.connection, application_name: 'pgwarden-monitor', max: 4 });
  pool.on('error', (error) => emit({ kind: 'monitor-error', part: 'pool', error }));
  const positions = new DbPositionStore(pool);
  const sinkNames = [...options.sinks.keys()];
  const lifecycleSinks = [...options.sinks.values()].filter((s) => s.supportsLifecycle).map((s) => s.name);
  const alerts = new AlertStore({
    connection: pool,
    clock,
    lifecycleSinks,
    ...(options.alertUrl ? { alertUrl: options.alertUrl } : {}),
  });
  const queue = new DeliveryQueue({
    connection: options.connection,
    sinks: options.sinks,
    clock,
    onEvent: (event) => {
      if (event.kind === 'delivery-sent') metrics.deliveries.inc({ sink: event.sink, outcome: 'sent' });
      else if (event.kind === 'delivery-retry' || event.kind === 'delivery-dead') {
        metrics.deliveries.inc({ sink: event.sink, outcome: event.kind === 'delivery-dead' ? 'dead' : 'retry' });
        metrics.sinkFailures.inc({ sink: event.sink });
      }
      // A delivery given up is itself a security event: the pg-monitor-delivery-dead rule then
      // alerts through the other sinks (the error text is the sink's own, secrets masked).
      if (event.kind === 'delivery-dead')
        pool
          .query(`select logs.log_event('monitor.delivery_dead', 'error', null, $1, null, $2::jsonb)`, [
            event.sink,
            JSON.stringify({
              sink: event.sink,
              alert_id: event.alertId,
              action: event.action,
              attempts: event.attempt,
            }),
          ])
          .catch((error: unknown) => emit({ kind: 'monitor-error', part: 'delivery-dead', error }));
      emit({ kind: 'monitor-delivery', event });
    },
  });
  const metrics: MonitorMetrics = monitorMetrics(options.metrics, () => queue.depth());
  const analytics = new UserAnalytics({
    clock,
    store: new ProfileStore(pool),
    thresholds: { threshold: options.riskThreshold },
  });
  await analytics.load();
  // Change windows approved before this start; later ones arrive as verified security events.
  const changeWindows = new ChangeWindows(await loadOpenChangeWindows(pool));
  const rate = new EventRate(60);
  let alertCount = 0;

  let closing = false;
  // A signal is stored before the source moves on: were the write to fail and the batch be read
  // again, the engine would count its events twice and the incident's first notice would be lost.
  // So each signal is retried (with backoff) until the database takes it, while the source waits.
  const recordOne = async (signal: AlertSignal): Promise<RecordResult> => {
    for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        return await alerts.record(signal, sinkNames);
      } catch (error) {
        if (closing) throw error;
        emit({ kind: 'monitor-error', part: 'alerts', error });
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  };
  const recordSignals = async (signals: AlertSignal[]) => {
    const results: RecordResult[] = [];
    for (const signal of signals) results.push(await recordOne(signal));
    results.forEach((result, i) => {
      const signal = signals[i];
      if (!signal) return;
      metrics.signals.inc({ rule: signal.rule.id, severity: signal.rule.severity, kind: signal.kind });
      if (result.created) {
        alertCount += 1;
        metrics.alerts.inc({ rule: signal.rule.id, severity: signal.rule.severity });
      }
      emit({
        kind: 'monitor-alert',
        alertId: result.alert.id,
        rule: signal.rule.id,
        severity: signal.rule.severity,
        created: result.created,
        notified: result.action !== null,
        // The stored summary: redacted before it was written.
        summary: result.alert.summary,
      });
    });
  };

  // The windows of the last graceful shutdown, restored before any source starts, so an attack
  // spanning a restart counts whole. Kept under the instance name when one is given, else under
  // the host name: the default instance name changes with every process.
  const engine = new RuleEngine({ rules: options.rules, clock });
  const ruleState = new RuleStateStore(pool);
  const stateKey = options.instance ?? hostname();
  await ruleState
    .load(stateKey)
    .then((saved) => {
      if (saved)
        emit({
          kind: 'monitor-rule-state',
          action: 'restored',
          instance: stateKey,
          report: engine.restore(saved.state),
        });
    })
    .catch((error: unknown) => emit({ kind: 'monitor-error', part: 'rule-state', error }));

  const pipeline = new MonitorPipeline({
    engine,
    analytics: {
      observe: (event: MonitorEvent) => {
        const result = analytics.observe(event);
        const late = analytics.takeLate();
        return late.length === 0 ? result.events : [...result.events, ...late];
      },
      noteAlert: (user, severity) => analytics.noteAlert(user, severity),
    },
    enrichers: [analytics, changeWindows],
    onSignals: recordSignals,
    clock,
    onObservation: (o) => {
      if (o.kind === 'event') {
        metrics.events.inc({ source: o.event.source, type: o.event.type });
        rate.add(o.event.source, o.event.time);
        if (o.event.occurredAt !== undefined)
          metrics.sourceLag.set({ source: o.event.source }, Math.max(0, (o.event.time - o.event.occurredAt) / 1000));
      } else if (o.signal.kind === 'fire') {
        metrics.eventToAlert.observe(undefined, o.latencyMs / 1000);
      }
    },
  });

  const sourceStatus: Record<string, string> = {};
  // Source states name the reader (security-events, audit-trail); events name what they carry
  // (security-event, audit): the metrics label both by the events' name, so they join.
  const sourceLabel = (name: string) => ({ 'security-events': 'security-event', 'audit-trail': 'audit' })[name] ?? name;
  const onState = (state: SourceStateEvent) => {
    const up = state.kind === 'connected' || state.kind === 'reconnected' || state.kind === 'available';
    // Gap and handler notices are not a connection state.
    if (['connected', 'reconnected', 'disconnected', 'unavailable', 'available'].includes(state.kind))
      sourceStatus[state.source] = state.kind;
    if (state.kind === 'disconnected' || state.kind === 'handler-failed')
      metrics.sourceErrors.inc({ source: sourceLabel(state.source) });
    if (up || state.kind === 'disconnected' || state.kind === 'unavailable')
      metrics.sourceUp.set({ source: sourceLabel(state.source) }, up ? 1 : 0);
    emit({ kind: 'monitor-source', state });
  };
  const roles = new RoleAttributes(pool, clock);
  await roles.refresh().catch((error: unknown) => emit({ kind: 'monitor-error', part: 'roles', error }));
  const push = (events: UntimedEvent[]) => pipeline.push(roles.mark(events));
  const startAt = options.startAt ?? 'end';

  const sources: { name: string; close: () => Promise<void> }[] = [];
  const securityEvents = new SecurityEventSource({
    connection: options.connection,
    positions,
    onEvents: push,
    onState,
    pollIntervalMs: options.pollIntervalMs,
    startAt,
    clock,
  });
  sources.push({ name: 'security-events', close: () => securityEvents.close() });
  const auditTrail = new AuditTrailSource({
    connection: options.connection,
    positions,
    onEvents: push,
    onState,
    pollIntervalMs: options.pollIntervalMs,
    startAt,
    clock,
  });
  sources.push({ name: 'audit-trail', close: () => auditTrail.close() });
  const stats =
    options.statsIntervalMs > 0
      ? new StatsSource({
          connection: options.connection,
          onEvents: push,
          onState,
          intervalMs: options.statsIntervalMs,
          clock,
        })
      : undefined;
  if (stats) sources.push({ name: 'stats', close: () => stats.close() });
  const serverLog = startServerLog(options, positions, push, onState, startAt);
  if (serverLog) sources.push({ name: 'server-log', close: () => serverLog.close() });

  const timers: NodeJS.Timeout[] = [];
  const every = (ms: number, part: string, fn: () => Promise<unknown>) => {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      fn()
        .catch((error: unknown) => emit({ kind: 'monitor-error', part, error }))
        .finally(() => {
          running = false;
        });
    }, ms);
    timer.unref();
    timers.push(timer);
  };
  every(options.flushIntervalMs ?? 1000, 'flush', () => pipeline.flush());
  every(30_000, 'profiles', () => analytics.flush());
  // PostgreSQL fires no event trigger for ALTER ROLE or GRANT of a role, and a DO block or a
  // function hides the statement from the log: the role catalog is compared every few seconds
  // (the log's statement, where there is one, also names who made the change).
  every(Math.min(options.pollIntervalMs, 5_000), 'roles', async () => {
    const changes = await roles.changes();
    if (changes.length > 0) await push(changes);
  });

  let heartbeat: Heartbeat | undefined;
  try {
    await Promise.all([securityEvents.start(), auditTrail.start(), stats?.start(), serverLog?.start()]);
    queue.start(options.deliveryIntervalMs ?? 1000);
    heartbeat = startHeartbeat({
      connection: options.connection,
      instance,
      intervalMs: options.heartbeatIntervalMs,
      details: () => ({ events: pipeline.stats().events, alerts: alertCount, sources: sourceStatus }),
      // What the watchdog compares with the waiting events to tell a stuck monitor from an idle one.
      progress: () => ({
        events: pipeline.stats().events,
        states: sourceStatus,
        positions: { 'security-events': securityEvents.cursor?.last, 'audit-trail': auditTrail.cursor?.last },
      }),
      onBeat: (at: number) => metrics.heartbeat.set(undefined, at / 1000),
      onError: (error: unknown) => emit({ kind: 'monitor-error', part: 'heartbeat', error }),
    });
  } catch (err) {
    await Promise.allSettled(sources.map((s) => s.close()));
    await queue.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
    throw err;
  }

  let closed = false;
  return {
    instance,
    analytics,
    alerts,
    eventsPerMinute: () => rate.series(clock()).map(({ minute, count }) => ({ minute, count })),
    ready: () =>
      !closed && Object.values(sourceStatus).every((s) => s !== 'starting' && s !== 'failed' && s !== 'disconnected'),
    stats: () => ({ ...pipeline.stats(), alerts: alertCount, sources: { ...sourceStatus } }),
    close: async () => {
      if (closed) return;
      closed = true;
      closing = true;
      for (const timer of timers) clearInterval(timer);
      await Promise.allSettled(sources.map((s) => s.close()));
      // The windows are kept once what the sources handed over is counted, and before the flush
      // a day ahead closes them all (that flush hands on the pending events the snapshot leaves out).
      await pipeline.flush().catch((error: unknown) => emit({ kind: 'monitor-error', part: 'flush', error }));
      const snapshot = engine.snapshot();
      // What the sources delivered last is counted, written and sent before the pool goes.
      // As of a day ahead: incidents still growing hand on their last events now.
      await pipeline
        .flush(clock() + 86_400_000)
        .catch((error: unknown) => emit({ kind: 'monitor-error', part: 'flush', error }));
      await ruleState
        .save(stateKey, snapshot)
        .then(({ bytes }) =>
          emit({ kind: 'monitor-rule-state', action: 'saved', instance: stateKey, bytes, omitted: snapshot.omitted }),
        )
        .catch((error: unknown) => emit({ kind: 'monitor-error', part: 'rule-state', error }));
      await analytics.flush().catch((error: unknown) => emit({ kind: 'monitor-error', part: 'profiles', error }));
      await queue.runOnce().catch(() => undefined);
      await queue.close().catch(() => undefined);
      await heartbeat?.close().catch(() => undefined);
      await alerts.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}

function startServerLog(
  options: MonitorDaemonOptions,
  positions: DbPositionStore,
  push: (events: UntimedEvent[]) => Promise<void>,
  onState: (state: SourceStateEvent) => void,
  startAt: 'end' | 'beginning',
): { start: () => Promise<void>; close: () => Promise<void> } | undefined {
  const plan = options.serverLog;
  if (plan.mode === 'off') return undefined;
  const common = {
    format: plan.format,
    ...(plan.expectPrefix === undefined ? {} : { expectPrefix: plan.expectPrefix }),
    positions,
    onEvents: push,
    onState,
    startAt,
    clock: options.clock,
  };
  return plan.mode === 'file'
    ? new ServerLogTailer({ ...common, directory: plan.directory })
    : new RemoteLogReader({ ...common, connection: options.connection });
}

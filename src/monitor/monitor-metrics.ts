import type { Counter, Gauge, Histogram, MetricsRegistry } from '../http/index.js';

/** The monitor's Prometheus series; names are stable (dashboards and alert rules use them). */
export interface MonitorMetrics {
  events: Counter<'source' | 'type'>;
  signals: Counter<'rule' | 'severity' | 'kind'>;
  alerts: Counter<'rule' | 'severity'>;
  eventToAlert: Histogram;
  sourceUp: Gauge<'source'>;
  sourceLag: Gauge<'source'>;
  sourceErrors: Counter<'source'>;
  deliveries: Counter<'sink' | 'outcome'>;
  sinkFailures: Counter<'sink'>;
  heartbeat: Gauge;
}

/**
 * Registers the monitor's metrics on `registry`. `queueDepth` is read at scrape time.
 *
 * @example
 * const metrics = monitorMetrics(new MetricsRegistry(), () => queue.depth());
 * metrics.events.inc({ source: 'server-log', type: 'pg.auth_failed' });
 */
export function monitorMetrics(registry: MetricsRegistry, queueDepth: () => number): MonitorMetrics {
  registry.gauge(
    'pgwarden_monitor_delivery_queue_depth',
    'Alert deliveries waiting to be sent or retried.',
    [],
    queueDepth,
  );
  return {
    events: registry.counter('pgwarden_monitor_events_total', 'Events read, by source and type.', ['source', 'type']),
    signals: registry.counter(
      'pgwarden_monitor_signals_total',
      'Rule detections (fire: a new incident; update: it grew).',
      ['rule', 'severity', 'kind'],
    ),
    alerts: registry.counter('pgwarden_monitor_alerts_total', 'Incidents raised, by rule and severity.', [
      'rule',
      'severity',
    ]),
    eventToAlert: registry.histogram(
      'pgwarden_monitor_event_to_alert_seconds',
      'From the monitor receiving the event that crossed a threshold to the alert stored.',
      [],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
    ),
    sourceUp: registry.gauge(
      'pgwarden_monitor_source_up',
      '1 while a source reads, 0 while it is down or reconnecting.',
      ['source'],
    ),
    sourceLag: registry.gauge(
      'pgwarden_monitor_source_lag_seconds',
      'Age of the newest event a source delivered when it was read (how far behind the source runs).',
      ['source'],
    ),
    sourceErrors: registry.counter('pgwarden_monitor_source_errors_total', 'Source read or connection failures.', [
      'source',
    ]),
    deliveries: registry.counter('pgwarden_monitor_deliveries_total', 'Alert deliveries by sink and outcome.', [
      'sink',
      'outcome',
    ]),
    sinkFailures: registry.counter(
      'pgwarden_monitor_sink_failures_total',
      'Failed delivery attempts by sink (each retry counts).',
      ['sink'],
    ),
    heartbeat: registry.gauge(
      'pgwarden_monitor_heartbeat_timestamp_seconds',
      'When the monitor last wrote its heartbeat (Unix time).',
    ),
  };
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionConfig } from '../../../src/db/client.js';
import { installedDatabase } from '../../helpers/db.js';
import { type HttpReceiver, httpReceiver, waitUntil } from '../helpers/receivers.js';
import {
  alertRows,
  failedLogins,
  hooks,
  openClient,
  type Scrape,
  scrape,
  startTestMonitor,
  type TestMonitor,
  webhookSinkConfig,
} from './harness.js';

// The monitor's HTTP side as Prometheus and Kubernetes see it: /live, /ready and /metrics with
// sane values after one attack, and every series the shipped Grafana dashboard and Prometheus
// rules query present in the output (so they stay in step with the code).
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
let db: ConnectionConfig;
let receiver: HttpReceiver;
let writer: pg.Client;
let monitor: TestMonitor;
let metrics: Scrape;
const ACCOUNT = 'metrics@example.test';

beforeAll(async () => {
  db = await installedDatabase();
  receiver = await httpReceiver();
  writer = await openClient(db);
  monitor = await startTestMonitor(db, { sinks: [webhookSinkConfig(receiver.url)] });
});
afterAll(async () => {
  await monitor?.close();
  await writer?.end().catch(() => undefined);
  await receiver?.close();
});

/** Runs one attack whose delivery fails once, and scrapes once it was delivered. */
async function attacked(): Promise<Scrape> {
  if (metrics) return metrics;
  receiver.failNext(1, 500);
  await failedLogins(writer, ACCOUNT, 12);
  await waitUntil(
    async () => (await alertRows(db, 'pg-brute-force')).some((r) => r.event_count === 12),
    15_000,
    'the alert to count 12',
  );
  await waitUntil(() => hooks(receiver.requests).some((h) => h.status === 200), 15_000, 'the delivery');
  await waitUntil(
    async () => (await scrape(monitor.server.url)).value('pgwarden_monitor_delivery_queue_depth') === 0,
    10_000,
    'the queue to drain',
  );
  metrics = await scrape(monitor.server.url);
  return metrics;
}

describe('the monitor over HTTP', () => {
  it('answers /live and /ready 200 once its sources are up', async () => {
    const live = await fetch(`${monitor.server.url}/live`);
    expect(live.status).toBe(200);
    const ready = await fetch(`${monitor.server.url}/ready`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready' }]);
  });

  it('exposes events, alerts, lag, sink failures, queue depth and heartbeat on /metrics after an attack [M-12]', async () => {
    const m = await attacked();
    expect(m.value('pgwarden_monitor_events_total', { source: 'security-event', type: 'auth.login_failed' })).toBe(12);
    expect(m.value('pgwarden_monitor_alerts_total', { rule: 'pg-brute-force', severity: 'high' })).toBe(1);
    expect(m.value('pgwarden_monitor_sink_failures_total', { sink: 'hook' })).toBe(1);
    expect(m.value('pgwarden_monitor_deliveries_total', { sink: 'hook', outcome: 'sent' })).toBe(1);
    expect(m.value('pgwarden_monitor_delivery_queue_depth')).toBe(0);
    const lag = m.value('pgwarden_monitor_source_lag_seconds', { source: 'security-event' });
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(30);
    const beat = m.value('pgwarden_monitor_heartbeat_timestamp_seconds') ?? 0;
    expect(Math.abs(Date.now() / 1000 - beat)).toBeLessThan(10);
    expect(m.value('pgwarden_monitor_source_up', { source: 'security-event' })).toBe(1);
    expect(m.value('pgwarden_monitor_event_to_alert_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(m.types.get('pgwarden_monitor_event_to_alert_seconds')).toBe('histogram');
    // Nothing identifying the attacked account or the sink's secret leaks into labels.
    const text = m.samples.map((s) => JSON.stringify(s.labels)).join('\n');
    expect(text).not.toContain(ACCOUNT);
    expect(text).not.toContain('hook-secret');
  });

  it('exposes every series the Grafana dashboard and the Prometheus rules query', async () => {
    const m = await attacked();
    const used = new Set<string>();
    for (const file of ['deploy/grafana/pgwarden-monitor.json', 'deploy/prometheus/pgwarden-monitor-rules.yml']) {
      for (const name of (await readFile(join(repoRoot, file), 'utf8')).matchAll(/\bpgwarden_[a-z0-9_]+/g))
        used.add(name[0]);
    }
    expect(used.size).toBeGreaterThanOrEqual(8);
    const exposedSamples = new Set(m.samples.map((s) => s.name));
    const missing = [...used].filter((name) => {
      const family = name.replace(/_(bucket|sum|count)$/, '');
      const declared = m.types.has(name) || (m.types.get(family) === 'histogram' && family !== name);
      return !declared || !exposedSamples.has(name);
    });
    expect(missing).toEqual([]);
  });
});

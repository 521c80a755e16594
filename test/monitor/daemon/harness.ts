import pg from 'pg';
import { configSchema } from '../../../src/config/index.js';
import { type ConnectionConfig, withClient } from '../../../src/db/client.js';
import type { MonitorDaemonEvent } from '../../../src/monitor/daemon.js';
import { type MonitorServer, startMonitorServer } from '../../../src/monitor/monitor-server.js';
import { verifyWebhookSignature } from '../../../src/monitor/sinks/index.js';
import type { ReceivedRequest } from '../helpers/receivers.js';

// What the daemon tests share: a monitor as `pgwarden monitor` runs it (startMonitorServer) with
// short intervals, an attacker writing failed logins into logs.notification_log, and readers of
// monitor.alerts, monitor.deliveries, monitor.source_positions and /metrics.

/** A running monitor with the typed events it emitted. */
export interface TestMonitor {
  server: MonitorServer;
  events: MonitorDaemonEvent[];
  /** `monitor-alert` events, in order. */
  alerts(): Extract<MonitorDaemonEvent, { kind: 'monitor-alert' }>[];
  close(): Promise<void>;
}

/** The webhook sink of the tests, pointed at a receiver; its secret resolves to `hook-secret`. */
export const webhookSinkConfig = (url: string, name = 'hook') => ({
  name,
  kind: 'webhook',
  url: `${url}/hook`,
  secret: 'env:HOOK_SECRET',
});

/**
 * Starts the monitor on `connection` with test intervals (poll 200 ms, heartbeat 500 ms, no
 * stats sampling, no server log, no dashboard) and `monitor` config on top.
 *
 * @example
 * const m = await startTestMonitor(db, { sinks: [webhookSinkConfig(receiver.url)] });
 */
export async function startTestMonitor(
  connection: ConnectionConfig,
  monitor: Record<string, unknown> = {},
  options: { startAt?: 'end' | 'beginning' } = {},
): Promise<TestMonitor> {
  const config = configSchema.parse({
    monitor: {
      serverLog: 'off',
      pollIntervalMs: 200,
      statsIntervalMs: 0,
      heartbeatIntervalMs: 500,
      dashboard: false,
      ...monitor,
    },
  });
  const events: MonitorDaemonEvent[] = [];
  const server = await startMonitorServer({
    config,
    connection,
    cwd: '/tmp',
    secrets: (ref) => (ref === 'env:HOOK_SECRET' ? 'hook-secret' : `unknown ${ref}`),
    port: 0,
    onEvent: (e) => events.push(e),
    ...options,
  });
  let closed: Promise<void> | undefined;
  return {
    server,
    events,
    alerts: () => events.filter((e) => e.kind === 'monitor-alert'),
    close: () => (closed ??= server.close()),
  };
}

/** The address the attacks of these tests come from (TEST-NET-2). */
export const ATTACKER = '198.51.100.7';

/**
 * Writes `count` failed logins of `account` (one statement, one NOTIFY each), as pgwarden's login
 * service records them, seen from `addr` (default {@link ATTACKER}).
 */
export async function failedLogins(
  client: pg.ClientBase,
  account: string,
  count: number,
  addr?: string,
): Promise<void> {
  for (let i = 0; i < count; i++) await failedLogin(client, account, addr);
}

/** One failed login (see {@link failedLogins}). */
export async function failedLogin(client: pg.ClientBase, account: string, addr?: string): Promise<void> {
  await client.query(
    `insert into logs.notification_log (event_type, severity, actor, source_addr, details)
     values ('auth.login_failed', 'notice', $1, $2::inet, '{"reason": "password"}'::jsonb)`,
    [account, addr ?? ATTACKER],
  );
}

/** One row of monitor.alerts, as the tests read it. */
export interface AlertRow {
  id: string;
  rule_id: string;
  dedupe_key: string;
  status: string;
  occurrences: number;
  event_count: number;
  group_values: Record<string, string>;
}

/** monitor.alerts, oldest first (optionally of one rule). */
export async function alertRows(connection: ConnectionConfig, rule?: string): Promise<AlertRow[]> {
  return withClient(connection, async (c) => {
    const { rows } = await c.query<AlertRow>(
      `select a.id::text, a.rule_id, a.dedupe_key, a.status, a.occurrences::int, a.event_count::int, a.group_values
         from monitor.alerts a where $1::text is null or a.rule_id = $1 order by a.id`,
      [rule ?? null],
    );
    return rows;
  });
}

/** monitor.deliveries, oldest first. */
export async function deliveryRows(
  connection: ConnectionConfig,
): Promise<{ id: string; alert_id: string; sink: string; action: string; state: string; attempts: number }[]> {
  return withClient(connection, async (c) => {
    const { rows } = await c.query<{
      id: string;
      alert_id: string;
      sink: string;
      action: string;
      state: string;
      attempts: number;
    }>(
      `select d.id::text, d.alert_id::text, d.sink, d.action, d.state, d.attempts from monitor.deliveries d order by d.id`,
    );
    return rows;
  });
}

/** The saved read position of the security-event source (its highest id read). */
export async function securityEventPosition(connection: ConnectionConfig): Promise<number | undefined> {
  return withClient(connection, async (c) => {
    const { rows } = await c.query<{ position: { last?: number } }>(
      `select p.position from monitor.source_positions p where p.source = 'security-events'`,
    );
    const last = rows[0]?.position.last;
    return last === undefined ? undefined : Number(last);
  });
}

/** The highest id in logs.notification_log. */
export async function lastEventId(connection: ConnectionConfig): Promise<number> {
  return withClient(connection, async (c) => {
    const { rows } = await c.query<{ id: string }>(
      `select coalesce(max(n.id), 0)::text as id from logs.notification_log n`,
    );
    return Number(rows[0]!.id);
  });
}

/** One sample of a Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A scraped /metrics: its samples and the families it declares (`# TYPE name kind`). */
export interface Scrape {
  samples: Sample[];
  types: Map<string, string>;
  /** The value of the sample with exactly these labels (undefined when absent). */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** The sum over every sample of `name` whose labels include `labels`. */
  sum(name: string, labels?: Record<string, string>): number;
}

/** Parses the text exposition format 0.0.4 (what MetricsRegistry renders). */
export function parseMetrics(text: string): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  const includes = (s: Sample, labels: Record<string, string>) =>
    Object.entries(labels).every(([k, v]) => s.labels[k] === v);
  return {
    samples,
    types,
    value: (name, labels = {}) =>
      samples.find(
        (s) => s.name === name && Object.keys(s.labels).length === Object.keys(labels).length && includes(s, labels),
      )?.value,
    sum: (name, labels = {}) =>
      samples.filter((s) => s.name === name && includes(s, labels)).reduce((a, s) => a + s.value, 0),
  };
}

/** GET `<url>/metrics`, parsed. */
export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return parseMetrics(await res.text());
}

/**
 * Backends of `database` whose last statement matches `pattern` (and the application name), for
 * finding a monitor's connection among its others.
 */
export async function backendsRunning(
  admin: pg.ClientBase,
  database: string,
  applicationName: string,
  pattern: string,
): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    `select a.pid from pg_catalog.pg_stat_activity a
      where a.datname = $1 and a.application_name = $2 and a.query ~* $3 and a.pid <> pg_catalog.pg_backend_pid()`,
    [database, applicationName, pattern],
  );
  return rows.map((r) => r.pid);
}

/** A client that ignores its own connection errors (the tests kill and restart servers). */
export async function openClient(connection: ConnectionConfig): Promise<pg.Client> {
  const client = new pg.Client(connection);
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** A webhook delivery as the receiver saw it. */
export interface Hook {
  action: string;
  key: string;
  alertId: string;
  rule: string;
  eventCount: number;
  status: number;
  signed: boolean;
}

/** The webhook deliveries among `requests` (bodies parsed, signatures checked against `hook-secret`). */
export function hooks(requests: readonly ReceivedRequest[]): Hook[] {
  return requests
    .filter((r) => r.path === '/hook')
    .map((r) => {
      const body = JSON.parse(r.body) as {
        action: string;
        idempotency_key: string;
        alert: { id: string; rule: string; event_count: number };
      };
      return {
        action: body.action,
        key: body.idempotency_key,
        alertId: String(body.alert.id),
        rule: body.alert.rule,
        eventCount: body.alert.event_count,
        status: r.status,
        signed: verifyWebhookSignature(
          'hook-secret',
          header(r.headers['x-pgwarden-timestamp']),
          r.body,
          header(r.headers['x-pgwarden-signature']),
        ),
      };
    });
}

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

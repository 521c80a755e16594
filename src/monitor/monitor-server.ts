import pg from 'pg';
import { createAuthService } from '../auth/index.js';
import type { PgwardenConfig } from '../config/index.js';
import { createDashboard, type Dashboard } from '../dashboard/index.js';
import { type ConnectionConfig, withClient } from '../db/index.js';
import { createHttpService, MetricsRegistry, Router } from '../http/index.js';
import { type MonitorDaemon, type MonitorDaemonEvent, startMonitor } from './daemon.js';
import { loadRules, type RuleOverride } from './rules/index.js';
import { planServerLog, type ServerLogPlan } from './server-log-plan.js';
import { createSink, type Sink } from './sinks/index.js';

/** Options of {@link startMonitorServer}. */
export interface StartMonitorServerOptions {
  config: PgwardenConfig;
  connection: ConnectionConfig;
  /** Resolves working-directory-relative paths (rule files, the master key file). */
  cwd: string;
  /** Turns a secret reference from the sinks' config (`env:NAME`, `file:/path`) into its value. */
  secrets: (ref: string) => string;
  /** Overrides monitor.port (tests pass 0). */
  port?: number;
  onEvent?: (event: MonitorDaemonEvent) => void;
  /** Where a first run starts reading events (default: only new ones). */
  startAt?: 'end' | 'beginning';
  clock?: () => number;
}

/** A running monitor with its HTTP server. */
export interface MonitorServer {
  url: string;
  port: number;
  monitor: MonitorDaemon;
  serverLog: ServerLogPlan;
  /** Whether the dashboard is served (it needs pgwarden's auth module and a master key). */
  dashboard: boolean;
  rules: number;
  sinks: string[];
  close(): Promise<void>;
}

/**
 * The monitor as `pgwarden monitor` and `pgwarden up` run it: the daemon, its rules (the
 * built-in pack plus `monitor.rules`), its sinks, and one HTTP server with the dashboard,
 * `/metrics`, `/live` and `/ready`.
 *
 * @example
 * const server = await startMonitorServer({ config, connection, cwd: process.cwd(), secrets: resolveSecret });
 * console.log(server.url); // http://127.0.0.1:8788
 * await server.close();
 */
export async function startMonitorServer(options: StartMonitorServerOptions): Promise<MonitorServer> {
  const { config } = options;
  const m = config.monitor;
  const rules = await loadRules({
    builtin: m.builtinRules,
    files: m.rules.filter((r) => /\.ya?ml$/i.test(r)).map((r) => resolvePath(options.cwd, r)),
    directories: m.rules.filter((r) => !/\.ya?ml$/i.test(r)).map((r) => resolvePath(options.cwd, r)),
    disable: m.disableRules,
    overrides: m.ruleOverrides as Record<string, RuleOverride>,
  });
  const sinks = new Map<string, Sink>();
  for (const sinkConfig of m.sinks) {
    const sink = createSink(sinkConfig, { secrets: options.secrets });
    sinks.set(sink.name, sink);
  }
  const serverLog = await withClient(options.connection, (c) =>
    planServerLog(c, { serverLog: m.serverLog, logDirectory: m.logDirectory, logFormat: m.logFormat }),
  );
  const metrics = new MetricsRegistry();
  const router = new Router();
  const pool = new pg.Pool({ ...options.connection, application_name: 'pgwarden-dashboard', max: 4 });
  pool.on('error', () => undefined);
  let publicUrl = m.publicUrl;
  let monitor: MonitorDaemon | undefined;
  let dashboard: Dashboard | undefined;
  try {
    monitor = await startMonitor({
      connection: options.connection,
      rules,
      sinks,
      serverLog,
      statsIntervalMs: m.statsIntervalMs,
      pollIntervalMs: m.pollIntervalMs,
      heartbeatIntervalMs: m.heartbeatIntervalMs,
      ...(m.instance ? { instance: m.instance } : {}),
      riskThreshold: m.riskThreshold,
      metrics,
      alertUrl: (id) => `${(publicUrl ?? '').replace(/\/$/, '')}/#/alerts/${encodeURIComponent(id)}`,
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.startAt ? { startAt: options.startAt } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
    });
    const running = monitor;
    if (m.dashboard && (await authInstalled(pool))) {
      const auth = await createAuthService(config, pool, options.cwd);
      dashboard = createDashboard({
        connection: pool,
        auth,
        secureCookies: (publicUrl ?? '').startsWith('https:'),
        liveStats: () => ({
          eventsPerMinute: running.eventsPerMinute(),
          counters: {
            'events read': running.stats().events,
            'alerts raised': running.stats().alerts,
            rules: rules.length,
          },
        }),
        changeStatus: (id, status, actor, note) => running.alerts.setStatus(id, status, actor, note ?? undefined),
        ...(m.dashboardAdminTenant ? { adminTenant: m.dashboardAdminTenant } : {}),
        ...(options.clock ? { clock: options.clock } : {}),
      });
      dashboard.mount(router);
    }
    const http = createHttpService({
      router,
      host: m.host,
      port: options.port ?? m.port,
      trustProxy: m.trustProxy,
      metrics,
      ready: async () => running.ready(),
    });
    dashboard?.attach(http.server);
    const { url, port } = await http.listen();
    publicUrl ??= url;
    const dash = dashboard;
    return {
      url,
      port,
      monitor: running,
      serverLog,
      dashboard: Boolean(dash),
      rules: rules.length,
      sinks: [...sinks.keys()],
      close: async () => {
        await http.close();
        await running.close();
        await dash?.close();
        await pool.end().catch(() => undefined);
      },
    };
  } catch (err) {
    await monitor?.close().catch(() => undefined);
    await dashboard?.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
    throw err;
  }
}

async function authInstalled(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ ok: boolean }>(
    `select pg_catalog.to_regclass('auth.users') is not null and pg_catalog.to_regclass('monitor.alerts') is not null as ok`,
  );
  return rows[0]?.ok === true;
}

function resolvePath(cwd: string, path: string): string {
  return path.startsWith('/') ? path : `${cwd.replace(/\/$/, '')}/${path}`;
}

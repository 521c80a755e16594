import type { AlertStatusChanger } from './alert-queries.js';
import type { Server } from 'node:http';
import pg from 'pg';
import type { AuthService } from '../auth/index.js';
import type { ConnectionConfig } from '../db/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { type Router, TokenBucketLimiter, type TokenBucketLimiterOptions } from '../http/index.js';
import { DashboardAssets } from './dashboard-assets.js';
import { DashboardAuth } from './dashboard-auth.js';
import { dashboardRoleReader } from './dashboard-roles.js';
import { mountDashboardRoutes } from './dashboard-routes.js';
import { cookieName, DashboardSessionStore } from './dashboard-session.js';
import { type DashboardDb, rows } from './db.js';
import type { DashboardLiveStats } from './overview-queries.js';

/** Settings of {@link createDashboard}. */
export interface DashboardOptions {
  /**
   * The database: a `pg.Pool` (shared, left open) or connection settings (a small pool is made and
   * closed by `close()`). The login needs SELECT on monitor.*, logs.notification_log and
   * auth.users (id, email, roles, status), and EXECUTE on monitor.set_alert_status and (with
   * `adminTenant`) auth.rbac_assignments: a member of `<prefix>security_admin`.
   */
  connection: DashboardDb | ConnectionConfig;
  /** pgwarden's identity service: logins, token checks, logout. */
  auth: AuthService;
  /** Milliseconds since the epoch (default `Date.now`): session expiry, token refresh, login rate limit. */
  clock?: () => number;
  /** Live figures of the monitor in this process; without it events per minute are counted in the database. */
  liveStats?: () => DashboardLiveStats;
  /** Mark the cookie Secure (serve the dashboard over HTTPS, or behind a proxy that terminates it). */
  secureCookies: boolean;
  /** How long a dashboard login lasts at most (default 8 h; never past the AuthService session). */
  sessionTtlSeconds?: number;
  /** Where the dashboard lives (default `/`): the page at it, the API under `<basePath>api/`. */
  basePath?: string;
  /**
   * Login attempts per client (default 10 at once, then one every 6 s): per IPv4 address, per
   * /64 for IPv6.
   */
  loginRateLimit?: TokenBucketLimiterOptions;
  /** Signed-in dashboard sessions held at most (default 1000); the oldest goes first. */
  maxSessions?: number;
  /**
   * Logins waiting for their second factor held at most (default 100), apart from the signed-in
   * sessions; past it the oldest waiting login is forgotten (its user logs in again).
   */
  maxPendingLogins?: number;
  /**
   * The tenant whose role assignments also open the dashboard (`pgwarden rbac grant <user>
   * security_admin <adminTenant>`). Without it only global roles (auth.users.roles) count: the
   * roles `security_admin` and `auditor` given in any other tenant are that tenant's business and
   * never open the cluster-wide dashboard.
   */
  adminTenant?: string;
  /**
   * How long a read request may rely on the last database read of the user's role, per session
   * (ms, 0-5000, default 2000). A role taken away stops reads within this time; acknowledge and
   * resolve always read it afresh.
   */
  roleCacheMs?: number;
  /**
   * How acknowledge and resolve are applied: the monitor passes its AlertStore's, which also
   * queues the lifecycle deliveries for PagerDuty and webhooks. Default: monitor.set_alert_status().
   */
  changeStatus?: AlertStatusChanger;
}

/** A dashboard made by {@link createDashboard}. */
export interface Dashboard {
  /** Adds the JSON API (`<basePath>api/…`) to the router the HTTP service will use. */
  mount(router: Router): void;
  /**
   * Serves the page and its assets on the service's server (`<basePath>`, `<basePath>assets/…`),
   * in front of the router: call it with `createHttpService(…).server` before `listen()`.
   */
  attach(server: Server): void;
  /** Ends the pool the dashboard made itself (a pool passed in stays open). */
  close(): Promise<void>;
}

/**
 * The SOC dashboard: a single page (no framework, no build step, strict CSP) and its JSON API,
 * served by the monitor's HTTP service. Logins go through pgwarden's own AuthService and need the
 * application role `security_admin` (read, acknowledge, resolve) or `auditor` (read only) as a
 * global role, or assigned in `adminTenant` when one is set; it is read from the database on
 * every request. The browser holds an HttpOnly SameSite=Strict cookie with a random session id,
 * the tokens stay on the server, every POST after the login carries the session's CSRF token,
 * and the login itself needs a same-host Origin or an X-Requested-With header.
 *
 * @example
 * const dashboard = createDashboard({ connection: pool, auth, secureCookies: true, liveStats: () => monitor.liveStats() });
 * const router = new Router();
 * dashboard.mount(router);
 * const service = createHttpService({ router, port: 8790, metrics, ready });
 * dashboard.attach(service.server);
 * await service.listen();
 */
export function createDashboard(options: DashboardOptions): Dashboard {
  const basePath = normaliseBasePath(options.basePath ?? '/');
  const clock = options.clock ?? Date.now;
  const ownPool = isDb(options.connection)
    ? undefined
    : new pg.Pool({ application_name: 'pgwarden-dashboard', max: 4, ...options.connection });
  ownPool?.on('error', () => undefined);
  const db: DashboardDb = ownPool ?? (options.connection as DashboardDb);
  const ttlSeconds = options.sessionTtlSeconds ?? 8 * 3600;
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 60 || ttlSeconds > 7 * 24 * 3600)
    throw new PgwardenError(ErrorCodes.CONFIG_INVALID, 'the dashboard session lifetime must be 60 s to 7 days', {
      hint: 'set sessionTtlSeconds to a whole number of seconds in that range',
    });
  for (const [name, value] of [
    ['maxSessions', options.maxSessions],
    ['maxPendingLogins', options.maxPendingLogins],
  ] as const)
    if (value !== undefined && (!Number.isInteger(value) || value < 1))
      throw new PgwardenError(ErrorCodes.CONFIG_INVALID, `the dashboard's ${name} must be a whole number above 0`);
  const roleCacheMs = options.roleCacheMs ?? 2000;
  if (!Number.isInteger(roleCacheMs) || roleCacheMs < 0 || roleCacheMs > 5000)
    throw new PgwardenError(ErrorCodes.CONFIG_INVALID, 'the dashboard role cache must be 0 to 5000 ms', {
      hint: 'set roleCacheMs to a whole number of milliseconds in that range',
    });
  const guard = new DashboardAuth({
    auth: options.auth,
    store: new DashboardSessionStore({ clock, maxSessions: options.maxSessions ?? 1000 }),
    pending: new DashboardSessionStore({ clock, maxSessions: options.maxPendingLogins ?? 100 }),
    roleOf: dashboardRoleReader(db, options.adminTenant === undefined ? {} : { adminTenant: options.adminTenant }),
    roleCacheMs,
    cookie: { name: cookieName(options.secureCookies, basePath), path: basePath, secure: options.secureCookies },
    clock,
    sessionTtlMs: ttlSeconds * 1000,
    loginLimiter: new TokenBucketLimiter({
      capacity: 10,
      refillPerSecond: 1 / 6,
      now: clock,
      ...options.loginRateLimit,
    }),
    recordDenial: async (details, actor) => {
      await rows(db, `select logs.log_event('monitor.dashboard_denied', 'warning', $1, 'dashboard', null, $2::jsonb)`, [
        actor,
        JSON.stringify(details),
      ]);
    },
  });
  const assets = new DashboardAssets(basePath, new URL('./assets/', import.meta.url));
  return {
    mount: (router) =>
      mountDashboardRoutes(router, {
        db,
        guard,
        basePath,
        ...(options.liveStats ? { liveStats: options.liveStats } : {}),
        ...(options.changeStatus ? { changeStatus: options.changeStatus } : {}),
      }),
    attach: (server) => assets.attach(server),
    close: async () => {
      await ownPool?.end();
    },
  };
}

function isDb(connection: DashboardDb | ConnectionConfig): connection is DashboardDb {
  return typeof (connection as { query?: unknown }).query === 'function';
}

function normaliseBasePath(path: string): string {
  if (!/^\/(?:[A-Za-z0-9._~-]+\/)*(?:[A-Za-z0-9._~-]+)?$/.test(path))
    throw new PgwardenError(ErrorCodes.CONFIG_INVALID, `the dashboard base path "${path}" is not a plain URL path`, {
      hint: 'use something like / or /soc/',
    });
  return path.endsWith('/') ? path : `${path}/`;
}

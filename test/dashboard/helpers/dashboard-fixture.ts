import type { AlertStatusChanger } from '../../../src/dashboard/alert-queries.js';
import { createDashboard, type Dashboard, type DashboardLiveStats } from '../../../src/dashboard/index.js';
import { createHttpService, type HttpService, MetricsRegistry, Router } from '../../../src/http/index.js';
import { RbacAdmin } from '../../../src/rbac/index.js';
import type { TokenBucketLimiterOptions } from '../../../src/http/index.js';
import { type AuthFixture, authFixture, goodPassword, uniqueEmail } from '../../helpers/auth.js';

/** A running dashboard on a real HTTP service over a fresh installed database. */
export interface DashboardFixture {
  f: AuthFixture;
  url: string;
  dashboard: Dashboard;
  /**
   * A registered user (home tenant acme) holding `role` as a global role (auth.users.roles), the
   * way the dashboard needs it, or, with `{ tenant }`, assigned only in that tenant (rbac grant).
   * `null`: a plain user.
   */
  user(
    role: 'security_admin' | 'auditor' | null,
    where?: 'global' | { tenant: string },
  ): Promise<{ email: string; password: string; userId: string }>;
  /** Takes a global role away (there is no SQL function or CLI for global roles: an UPDATE as owner). */
  dropGlobalRole(userId: string, role: string): Promise<void>;
  /** The RBAC administration on the test database. */
  rbac: RbacAdmin;
  /** Inserts an alert straight into monitor.alerts; resolves to its id. */
  alert(fields?: Partial<SeedAlert>): Promise<number>;
  /** Another dashboard server on the same database (its own sessions and limits). */
  another(options: ServerOptions): Promise<{ url: string; close(): Promise<void> }>;
  close(): Promise<void>;
}

export interface SeedAlert {
  ruleId: string;
  title: string;
  severity: 'low' | 'medium' | 'high' | 'critical';
  status: 'open' | 'acknowledged' | 'resolved';
  summary: string;
  evidence: string[];
  groupValues: Record<string, string>;
  attack: string[];
  firstSeen: Date;
}

interface ServerOptions {
  liveStats?: () => DashboardLiveStats;
  changeStatus?: AlertStatusChanger;
  loginRateLimit?: TokenBucketLimiterOptions;
  basePath?: string;
  clock?: () => number;
  secureCookies?: boolean;
  adminTenant?: string;
  roleCacheMs?: number;
  maxSessions?: number;
  maxPendingLogins?: number;
  /** Hops of X-Forwarded-For the HTTP service believes (tests that log in from many addresses). */
  trustProxy?: number;
}

let seq = 0;

/** Defines the two dashboard roles (application roles of pgwarden's RBAC) and starts a server. */
export async function dashboardFixture(options: ServerOptions = {}): Promise<DashboardFixture> {
  const f = await authFixture();
  const rbac = new RbacAdmin(f.pool, { actor: 'dashboard-test' });
  await rbac.defineRole('security_admin', ['monitor.read', 'monitor.act'], { description: 'works alerts' });
  await rbac.defineRole('auditor', ['monitor.read'], { description: 'reads alerts' });
  const servers: Array<{ close(): Promise<void> }> = [];

  async function start({ trustProxy, ...o }: ServerOptions) {
    // Every test logs in from 127.0.0.1: a roomy limit unless a test sets its own.
    const dashboard = createDashboard({
      connection: f.pool,
      auth: f.auth,
      secureCookies: false,
      loginRateLimit: { capacity: 1000, refillPerSecond: 100 },
      ...o,
    });
    const router = new Router();
    dashboard.mount(router);
    const service: HttpService = createHttpService({
      router,
      port: 0,
      metrics: new MetricsRegistry(),
      ready: async () => true,
      shutdownTimeoutMs: 1_000,
      ...(trustProxy === undefined ? {} : { trustProxy }),
    });
    dashboard.attach(service.server);
    const { url } = await service.listen();
    const handle = {
      url,
      dashboard,
      close: async () => {
        await service.close();
        await dashboard.close();
      },
    };
    servers.push(handle);
    return handle;
  }

  const main = await start(options);
  return {
    f,
    url: main.url,
    dashboard: main.dashboard,
    user: async (role, where = 'global') => {
      const email = uniqueEmail(role ?? 'plain');
      const global = role !== null && where === 'global';
      const r = await f.auth.register({ email, password: goodPassword, tenant: 'acme', roles: global ? [role] : [] });
      if (role && where !== 'global') await rbac.grant(email, role, where.tenant);
      return { email, password: goodPassword, userId: r.userId as string };
    },
    dropGlobalRole: async (userId, role) => {
      await f.sql('update auth.users set roles = pg_catalog.array_remove(roles, $2) where id = $1', [userId, role]);
    },
    rbac,
    alert: async (fields = {}) => {
      seq += 1;
      const a: SeedAlert = {
        ruleId: 'pg-brute-force',
        title: `Brute force ${seq}`,
        severity: 'high',
        status: 'open',
        summary: '10 failed logins for alice from 203.0.113.9 within 5 min',
        evidence: [],
        groupValues: { user: 'alice', addr: '203.0.113.9' },
        attack: ['T1110.001'],
        firstSeen: new Date(Date.now() - 60_000),
        ...fields,
      };
      const [row] = await f.sql<{ id: string }>(
        `insert into monitor.alerts (rule_id, dedupe_key, title, severity, status, attack, occurrences, event_count,
           first_seen, last_seen, group_values, summary, evidence)
         values ($1, $2, $3, $4, $5, $6, 1, 10, $7::timestamptz, $7::timestamptz + interval '30 seconds', $8, $9, $10) returning id`,
        [
          a.ruleId,
          `${a.ruleId}|seq=${seq}|${process.pid}`,
          a.title,
          a.severity,
          a.status,
          a.attack,
          a.firstSeen,
          JSON.stringify(a.groupValues),
          a.summary,
          a.evidence,
        ],
      );
      return Number(row!.id);
    },
    another: (o) => start(o),
    close: async () => {
      for (const s of servers) await s.close();
      await f.close();
    },
  };
}

/** A browser-like client: keeps the session cookie and the CSRF token, like the page does. */
export class DashboardClient {
  cookie: string | undefined;
  csrf: string | undefined;
  /** Every response body seen, for the "no secret in a body" checks. */
  readonly bodies: string[] = [];

  constructor(readonly base: string) {}

  async login(
    email: string,
    password: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const r = await this.post('api/login', { email, password }, { headers });
    if (r.status === 200) this.csrf = r.body.csrfToken as string;
    return r;
  }

  async get(
    path: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
    const res = await fetch(new URL(path, this.base), {
      headers: { ...(this.cookie ? { Cookie: this.cookie } : {}), ...headers },
    });
    return this.#read(res);
  }

  /**
   * A POST as the page makes it: with the page's `Origin` (browsers send one on every POST; Node's
   * fetch does not), unless `origin` says otherwise (`null`: none).
   */
  async post(
    path: string,
    body: unknown = {},
    options: { csrf?: string | null; origin?: string | null; headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
    const csrf = options.csrf === undefined ? this.csrf : options.csrf;
    const origin = options.origin === undefined ? new URL(this.base).origin : options.origin;
    const res = await fetch(new URL(path, this.base), {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        ...(origin ? { Origin: origin } : {}),
        ...(this.cookie ? { Cookie: this.cookie } : {}),
        ...(csrf ? { 'X-CSRF-Token': csrf } : {}),
        ...options.headers,
      },
      body: JSON.stringify(body),
    });
    return this.#read(res);
  }

  async #read(res: Response) {
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) {
      const [pair] = setCookie.split(';');
      this.cookie = /Max-Age=0/.test(setCookie) ? undefined : pair;
    }
    const text = await res.text();
    this.bodies.push(text);
    return {
      status: res.status,
      body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
      headers: res.headers,
    };
  }
}

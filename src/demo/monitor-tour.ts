import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createAuthService } from '../auth/index.js';
import { configSchema } from '../config/index.js';
import { type ConnectionConfig, connect, quoteLiteral } from '../db/client.js';
import { scramVerifier } from '../db/scram.js';
import type { MonitorDaemonEvent } from '../monitor/daemon.js';
import { type MonitorServer, startMonitorServer } from '../monitor/monitor-server.js';
import { verifyWebhookSignature } from '../monitor/sinks/index.js';
import { RbacAdmin } from '../rbac/index.js';
import { type DemoSection, section } from './report.js';

/** A login role of the cluster (roles are cluster-wide, so it is dropped again at the end). */
const MALLORY = 'pgwarden_demo_mallory';
/** The dashboard's demo user; its password is random and never printed. */
const SOC = 'soc@acme.example';
const WAIT_MS = 15_000;
const ROWS = 100_000;

type Lines = { line(text: string): void; check(ok: boolean, text: string): void };
type Query = <T extends pg.QueryResultRow>(text: string, params?: unknown[]) => Promise<T[]>;
interface Arrival {
  alertId: string;
  rule: string;
  at: number;
}

/**
 * The monitor part of the tour: what `pgwarden monitor` runs, started in-process on the demo
 * database (the daemon, a signed webhook to a receiver started here, /metrics, the dashboard),
 * then four attacks: brute force, password spray, privilege escalation and a mass read. Each alert
 * is shown as it arrives, then checked to be one per incident, delivered, counted and on the
 * dashboard, and resolved there. The role and objects it made are dropped, so the tour can run again.
 *
 * @example
 * await monitorTour({ ...admin, database: 'pgwarden_demo' }, (s) => sections.push(s), masterKey);
 */
export async function monitorTour(
  db: ConnectionConfig,
  add: (s: DemoSection) => void,
  masterKey: string,
): Promise<void> {
  const pool = new pg.Pool({ ...db, max: 4, application_name: 'pgwarden-demo' });
  pool.on('error', () => undefined);
  const q: Query = async (text, params = []) => (await pool.query(text, params)).rows;
  const receiver = await startReceiver();
  const hookSecret = randomBytes(32).toString('base64url');
  const arrivals: Arrival[] = [];
  const notes: string[] = [];
  const onEvent = (e: MonitorDaemonEvent) => {
    if (e.kind === 'monitor-alert' && e.created) arrivals.push({ alertId: e.alertId, rule: e.rule, at: Date.now() });
    if (e.kind === 'monitor-source' && e.state.kind === 'unavailable')
      notes.push(`unavailable: ${e.state.source}: ${e.state.reason}`);
    if (e.kind === 'monitor-error') notes.push(`monitor error in ${e.part}: ${(e.error as Error)?.message}`);
  };
  const browser = dashboardBrowser();
  const tried: string[] = [];
  const expected = [
    'pg-brute-force',
    'pg-password-spray',
    'pg-role-privilege-changed',
    'pg-security-definer-created',
    'pg-policy-dropped',
  ];
  let server: MonitorServer | undefined;
  try {
    const config = configSchema.parse({
      auth: { masterKey, issuer: 'pgwarden-demo', totpIssuer: 'pgwarden-demo' },
      monitor: {
        port: 0,
        pollIntervalMs: 200,
        statsIntervalMs: 500,
        heartbeatIntervalMs: 1000,
        sinks: [{ name: 'demo-webhook', kind: 'webhook', url: receiver.url, secret: 'demo:webhook' }],
      },
    });
    const auth = await createAuthService(config, pool, '.');
    const socPassword = randomBytes(18).toString('base64url');
    const malloryPassword = randomBytes(18).toString('base64url');
    let statements = false;

    add(
      await section('Monitor: started on the demo database', async (s) => {
        // Made before the monitor starts, which reads only what happens from then on: the
        // dashboard's user, a 100,000-row table behind RLS, and mallory, a reporting login.
        // The dashboard role must be global: granted in one tenant it would not count.
        await auth.register({ email: SOC, password: socPassword, tenant: 'acme', roles: ['security_admin'] });
        const rbac = new RbacAdmin(pool, { actor: 'pgwarden-demo' });
        await rbac.defineRole('security_admin', ['monitor.read', 'monitor.act'], { description: 'works alerts' });
        statements = await preparePgStatStatements(pool);
        if (statements) expected.push('pg-mass-read');
        await q(`drop role if exists ${MALLORY}`);
        await q(`create role ${MALLORY} login password ${quoteLiteral(scramVerifier(malloryPassword))}`);
        await q(`create table app.customer_contacts as
            select g as id, (array['acme', 'globex'])[1 + g % 2] as tenant, 'customer' || g || '@example.com' as email
              from pg_catalog.generate_series(1, ${ROWS}) g;
          alter table app.customer_contacts enable row level security;
          create policy contacts_by_tenant on app.customer_contacts
            using (tenant = pg_catalog.current_setting('app.tenant', true));
          grant usage on schema app to ${MALLORY};
          grant select on app.customer_contacts to ${MALLORY}`);
        server = await startMonitorServer({ config, connection: db, cwd: '.', secrets: () => hookSecret, onEvent });
        const running = server;
        const ready = await until(() => running.monitor.ready(), 5_000);
        s.line(`monitor on ${running.url}: ${running.rules} rules, sink demo-webhook → ${receiver.url} (signed)`);
        s.line('sources: security events (LISTEN/NOTIFY + catch-up by id), audit trail, pg_stat_* every 0.5 s');
        s.line(
          running.serverLog.mode === 'off'
            ? `server log not read: ${running.serverLog.reason}. The tour relies on security events, DDL event triggers and pg_stat_*`
            : `server log: ${running.serverLog.mode} (${running.serverLog.format})`,
        );
        for (const note of notes) s.line(note);
        s.check(ready && running.rules >= 30, `the monitor is ready: ${running.rules} rules, every source connected`);
        const login = await browser.login(running.url, SOC, socPassword);
        s.line(`dashboard: ${running.url} — logged in as ${SOC} (security_admin; it stops with the tour)`);
        s.check(
          running.dashboard && login === 200 && browser.csrf() !== undefined,
          'dashboard login through /api/login: a session cookie and a CSRF token for security_admin',
        );
      }),
    );
    const attack = (title: string, rules: readonly string[], body: (s: Lines) => Promise<void>) =>
      section(title, async (s) => {
        if (!server) throw new Error('the monitor did not start');
        const from = Date.now();
        await body(s);
        await until(() => rules.every((r) => arrivals.some((a) => a.rule === r)), WAIT_MS);
        for (const a of arrivals.filter((x) => x.at >= from)) s.line(await arrivalLine(q, a, from));
        for (const r of rules)
          s.check(
            arrivals.some((a) => a.rule === r),
            `${r} raised`,
          );
      });

    add(
      await attack('Attack: brute force on one account', ['pg-brute-force'], async (s) => {
        for (let i = 0; i < 12; i++) {
          const password = `hunter-${i}-${randomBytes(3).toString('hex')}`;
          tried.push(password);
          const from = { source: '192.0.2.10', userAgent: 'hydra' };
          await auth.login({ email: 'bob@globex.example', password }, from).catch(() => undefined);
        }
        s.line('12 wrong passwords for bob@globex.example from 192.0.2.10 through the AuthService');
      }),
    );
    add(
      await attack('Attack: password spray from one address', ['pg-password-spray'], async (s) => {
        const names = ['admin', 'root', 'info', 'sales', 'support', 'billing', 'hr', 'ops', 'dev', 'test', 'ceo', 'it'];
        for (const name of names) {
          const password = `Spring2025!${name}`;
          tried.push(password);
          await auth.login({ email: `${name}@acme.example`, password }, { source: '203.0.113.200' }).catch(() => 0);
        }
        s.line(`one password each for ${names.length} accounts (admin@, root@, info@ …) from 203.0.113.200`);
      }),
    );
    add(
      await attack(
        'Attack: privilege escalation as the superuser',
        ['pg-role-privilege-changed', 'pg-security-definer-created', 'pg-policy-dropped'],
        async (s) => {
          await q(`alter role ${MALLORY} bypassrls`);
          await q(`create function app.export_all() returns setof app.customer_contacts language sql
            security definer set search_path = pg_catalog, pg_temp as 'select * from app.customer_contacts'`);
          await q('drop policy contacts_by_tenant on app.customer_contacts');
          s.line(`alter role ${MALLORY} bypassrls; create function app.export_all() … security definer;`);
          s.line('drop policy contacts_by_tenant on app.customer_contacts');
          s.line(
            'ALTER ROLE fires no event trigger: the monitor sees it in the role catalog, which it reads every few seconds',
          );
        },
      ),
    );
    add(
      await attack('Attack: mass read (exfiltration)', statements ? ['pg-mass-read'] : [], async (s) => {
        if (!statements) {
          s.line('not shown: pg_stat_statements is not preloaded on this server, so rows read per user are unknown');
          return;
        }
        const mallory = await connect({ ...db, user: MALLORY, password: malloryPassword });
        try {
          const { rowCount } = await mallory.query('select id, tenant, email from app.customer_contacts');
          s.line(`${MALLORY} (now BYPASSRLS) read ${rowCount} rows of app.customer_contacts, both tenants`);
        } finally {
          await mallory.end();
        }
      }),
    );
    add(await section('Alerts: one per incident, delivered, counted, on the dashboard', (s) => verify(s)));
    add(await section('Alerts resolved from the dashboard', (s) => resolve(s)));
  } finally {
    await server?.close().catch(() => undefined);
    await receiver.close();
    await cleanup(pool).catch(() => undefined);
    await pool.end();
  }

  async function verify(s: Lines): Promise<void> {
    if (!server) throw new Error('the monitor did not start');
    const counts = () =>
      q<{ rule_id: string; n: string; ev: string }>(
        `select rule_id, count(*) as n, sum(event_count) as ev from monitor.alerts group by rule_id order by rule_id`,
      );
    // Events past the threshold reach the alert at the next flush of grown incidents (every second).
    let rows = await counts();
    const counted = (rule: string, n: number) => Number(rows.find((r) => r.rule_id === rule)?.ev) >= n;
    const end = Date.now() + 5_000;
    while (!(counted('pg-brute-force', 12) && counted('pg-password-spray', 12)) && Date.now() < end) {
      await sleep(100);
      rows = await counts();
    }
    for (const r of rows) s.line(`${r.rule_id}: ${r.n} alert, ${r.ev} event${r.ev === '1' ? '' : 's'} counted on it`);
    s.check(
      expected.every((r) => rows.find((x) => x.rule_id === r)?.n === '1') && rows.length === expected.length,
      `each of the ${expected.length} incidents is exactly one alert, and nothing else was raised`,
    );
    s.check(
      counted('pg-brute-force', 12) && counted('pg-password-spray', 12),
      'the events past the threshold add to the open alert: 12 failures, 12 sprayed accounts',
    );
    const hooks = () => receiver.received.map(readHook);
    await until(() => expected.every((r) => hooks().some((h) => h.rule === r)), 5_000);
    const got = hooks();
    s.line(`webhook receiver: ${got.length} POSTs, each with X-Pgwarden-Timestamp and X-Pgwarden-Signature: v1=<HMAC>`);
    const valid = (h: Hook, body = h.body) => verifyWebhookSignature(hookSecret, h.timestamp, body, h.signature);
    s.check(
      got.length > 0 && got.every((h) => valid(h)) && expected.every((r) => got.some((h) => h.rule === r)),
      'the webhook got a delivery per alert, each HMAC signature checked with verifyWebhookSignature',
    );
    s.check(
      got[0] !== undefined && !valid(got[0], got[0].body.replace('"high"', '"low"')),
      'a body changed in transit fails the signature check',
    );
    const everything = JSON.stringify(await q('select * from monitor.alerts')) + got.map((h) => h.body).join('');
    s.check(
      tried.every((p) => !everything.includes(p)) && !everything.includes(hookSecret),
      'no guessed password and no webhook secret in any alert or delivery',
    );
    const metrics = await (await fetch(new URL('/metrics', server.url))).text();
    const series = metrics.split('\n').filter((l) => l.startsWith('pgwarden_monitor_alerts_total{'));
    s.line(`/metrics: ${series.length} series of pgwarden_monitor_alerts_total`);
    s.check(
      expected.every((r) => series.some((l) => l.includes(`rule="${r}"`) && l.endsWith(' 1'))),
      '/metrics: pgwarden_monitor_alerts_total is 1 for each rule',
    );
    const overview = await browser.get('api/overview');
    const listed = await browser.get('api/alerts?status=open');
    const open = (overview.body as { alerts?: { open?: number } }).alerts?.open ?? 0;
    const names = ((listed.body as { alerts?: { ruleId: string }[] }).alerts ?? []).map((a) => a.ruleId);
    s.line(`dashboard overview: ${open} open alerts; alert list: ${names.join(', ')}`);
    s.check(
      overview.status === 200 && open === expected.length && expected.every((r) => names.includes(r)),
      'the dashboard (/api/overview, /api/alerts) shows them to the security_admin',
    );
    for (const note of notes.filter((n) => n.startsWith('monitor error'))) s.line(note);
  }

  async function resolve(s: Lines): Promise<void> {
    const ids = await q<{ id: string }>(`select id::text as id from monitor.alerts where status <> 'resolved'`);
    const forged = await browser.post(`api/alerts/${ids[0]?.id ?? 1}/resolve`, {}, 'not-the-token');
    s.check(forged.status === 403, 'resolving without the session’s CSRF token is refused (403)');
    const answers = [];
    for (const { id } of ids) answers.push((await browser.post(`api/alerts/${id}/resolve`, { note: 'demo' })).status);
    const [r] = await q<{ left: string; changes: string }>(
      `select (select count(*) from monitor.alerts where status <> 'resolved') as left,
              (select count(*) from monitor.alert_changes where new_status = 'resolved' and actor = $1) as changes`,
      [SOC],
    );
    s.line(`${ids.length} alerts resolved by ${SOC}; the next run of the same attacks opens new ones`);
    s.check(
      answers.every((a) => a === 200) && r?.left === '0' && Number(r.changes) === ids.length,
      `every alert resolved through the dashboard, each change recorded in monitor.alert_changes as ${SOC}`,
    );
  }
}

async function arrivalLine(q: Query, a: Arrival, from: number): Promise<string> {
  const [r] = await q<{ severity: string; attack: string[]; summary: string }>(
    'select severity, attack, summary from monitor.alerts where id = $1',
    [a.alertId],
  );
  const after = ((a.at - from) / 1000).toFixed(1);
  return `→ alert #${a.alertId} ${r?.severity} ${a.rule} [${r?.attack.join(', ')}] ${r?.summary} (+${after} s)`;
}

/** pg_stat_statements counts rows read per user; the embedded cluster preloads it when available. */
async function preparePgStatStatements(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ ok: boolean }>(
    `select exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_stat_statements')
        and 'pg_stat_statements' = any (pg_catalog.string_to_array(
              pg_catalog.replace(pg_catalog.current_setting('shared_preload_libraries'), ' ', ''), ',')) as ok`,
  );
  if (rows[0]?.ok) await pool.query('create extension if not exists pg_stat_statements');
  return rows[0]?.ok === true;
}

async function cleanup(pool: pg.Pool): Promise<void> {
  await pool.query(`drop function if exists app.export_all();
    drop table if exists app.customer_contacts;
    drop extension if exists pg_stat_statements`);
  await pool.query(`drop owned by ${MALLORY}`).catch(() => undefined);
  await pool.query(`drop role if exists ${MALLORY}`);
}

async function until(ok: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await sleep(50);
  return ok();
}

interface Hook {
  body: string;
  timestamp: string | undefined;
  signature: string | undefined;
  rule: string | undefined;
}

function readHook({ headers, body }: { headers: Record<string, unknown>; body: string }): Hook {
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const parsed = JSON.parse(body) as { alert?: { rule?: string } };
  return {
    body,
    timestamp: text(headers['x-pgwarden-timestamp']),
    signature: text(headers['x-pgwarden-signature']),
    rule: parsed.alert?.rule,
  };
}

/** A webhook endpoint on 127.0.0.1 that keeps every POST as received (the raw body is what is signed). */
async function startReceiver() {
  const received: { headers: Record<string, unknown>; body: string }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/pgwarden`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** What a browser does with the dashboard: keeps the session cookie and sends the CSRF token. */
function dashboardBrowser() {
  let base = '';
  let cookie: string | undefined;
  let csrf: string | undefined;
  const send = async (method: string, path: string, body?: unknown, token?: string) => {
    const res = await fetch(new URL(path, base), {
      method,
      headers: {
        // A program signing in says so (browsers send Origin instead): the login CSRF check.
        'X-Requested-With': 'pgwarden-demo',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
        ...(cookie ? { Cookie: cookie } : {}),
        ...(token ? { 'X-CSRF-Token': token } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    cookie = res.headers.get('set-cookie')?.split(';')[0] ?? cookie;
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as unknown };
  };
  return {
    csrf: () => csrf,
    async login(url: string, email: string, password: string): Promise<number> {
      base = url;
      const r = await send('POST', 'api/login', { email, password });
      csrf = (r.body as { csrfToken?: string }).csrfToken;
      return r.status;
    },
    get: (path: string) => send('GET', path),
    post: (path: string, body: unknown, token = csrf) => send('POST', path, body, token),
  };
}

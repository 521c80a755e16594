import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base32Decode, totpCode } from '../../src/auth/crypto/index.js';
import { dashboardRoleReader } from '../../src/dashboard/dashboard-roles.js';
import { createDashboard } from '../../src/dashboard/index.js';
import { loginLimitKey } from '../../src/dashboard/login-limit-key.js';
import { ErrorCodes } from '../../src/errors/index.js';
import { DashboardClient, type DashboardFixture, dashboardFixture } from './helpers/dashboard-fixture.js';

// Who may open the dashboard and for how long: roles that count only when global (or in the
// configured admin tenant), read from the database on every request, and logins that cannot be
// forged from another site or used to push signed-in analysts out.

let d: DashboardFixture;
beforeAll(async () => {
  d = await dashboardFixture();
});
afterAll(async () => {
  await d?.close();
});

const errorOf = (body: Record<string, unknown>) => body.error as { code: string; message: string };

async function loggedIn(url: string, role: 'security_admin' | 'auditor') {
  const u = await d.user(role);
  const c = new DashboardClient(url);
  expect((await c.login(u.email, u.password)).status).toBe(200);
  return { ...u, c };
}

/** Gives the user a TOTP second factor; returns their recovery codes. */
async function enrolMfa(u: { email: string; password: string }): Promise<string[]> {
  const first = await d.f.auth.login({ email: u.email, password: u.password });
  if (first.kind !== 'session') throw new Error('expected a session before MFA is enrolled');
  const me = await d.f.auth.authenticate(first.accessToken);
  const enrol = await d.f.auth.enrolTotp(me, { currentPassword: u.password });
  const { recoveryCodes } = await d.f.auth.activateTotp(me, {
    code: totpCode(base32Decode(enrol.secret), Date.now()),
  });
  await d.f.auth.logout(me);
  return recoveryCodes;
}

const liveSessions = async (userId: string) =>
  (await d.f.sql('select 1 from auth.sessions where user_id = $1 and revoked_at is null', [userId])).length;

describe('dashboard roles count only globally or in the admin tenant', () => {
  it('denies a user holding auditor or security_admin only in their tenant acme: 403 PW606, no cookie, no session', async () => {
    for (const role of ['auditor', 'security_admin'] as const) {
      const u = await d.user(role, { tenant: 'acme' });
      // The attack: the access token of this user does carry the role (roles of the session's tenant).
      const direct = await d.f.auth.login({ email: u.email, password: u.password });
      if (direct.kind !== 'session') throw new Error('expected a session');
      const principal = await d.f.auth.authenticate(direct.accessToken);
      expect(principal.roles).toContain(role);
      await d.f.auth.logout(principal);
      const c = new DashboardClient(d.url);
      const r = await c.login(u.email, u.password);
      expect(r.status, role).toBe(403);
      expect(errorOf(r.body).code).toBe(ErrorCodes.MONITOR_DASHBOARD_DENIED);
      expect(c.cookie).toBeUndefined();
      expect(await liveSessions(u.userId)).toBe(0);
    }
  });

  it('allows the same roles held globally (auth.users.roles)', async () => {
    const { c } = await loggedIn(d.url, 'auditor');
    expect((await c.get('api/overview')).status).toBe(200);
    const admin = await loggedIn(d.url, 'security_admin');
    const id = await d.alert();
    expect((await admin.c.post(`api/alerts/${id}/acknowledge`, {})).status).toBe(200);
  });

  it('allows a role assigned in the configured admin tenant, never the same role from another tenant', async () => {
    const server = await d.another({ adminTenant: 'soc' });
    try {
      const soc = await d.user('auditor', { tenant: 'soc' });
      const acme = await d.user('auditor', { tenant: 'acme' });
      const inSoc = new DashboardClient(server.url);
      expect((await inSoc.login(soc.email, soc.password)).status).toBe(200);
      expect((await inSoc.get('api/alerts')).status).toBe(200);
      expect((await new DashboardClient(server.url).login(acme.email, acme.password)).status).toBe(403);
      // Without adminTenant, the soc assignment is one tenant's role like any other.
      expect((await new DashboardClient(d.url).login(soc.email, soc.password)).status).toBe(403);
    } finally {
      await server.close();
    }
  });

  it('reads the roles with only the grants of pgw_security_admin or pgw_auditor (the documented connection)', async () => {
    const inSoc = await d.user('auditor', { tenant: 'soc' });
    const global = await d.user('security_admin');
    for (const role of ['pgw_security_admin', 'pgw_auditor']) {
      const client = await d.f.pool.connect();
      try {
        await client.query('begin');
        await client.query(`set local role ${role}`);
        expect(await dashboardRoleReader(client, { adminTenant: 'soc' })({ userId: inSoc.userId }), role).toBe(
          'auditor',
        );
        expect(await dashboardRoleReader(client)({ userId: inSoc.userId }), role).toBeUndefined();
        expect(await dashboardRoleReader(client)({ email: global.email.toUpperCase() }), role).toBe('security_admin');
      } finally {
        await client.query('rollback');
        client.release();
      }
    }
  });

  it('refuses an admin tenant that is not a tenant name, and a role cache beyond 5 s', () => {
    const base = { connection: d.f.pool, auth: d.f.auth, secureCookies: false };
    for (const bad of [{ adminTenant: '' }, { adminTenant: 'soc; drop' }, { roleCacheMs: 5001 }, { roleCacheMs: -1 }])
      expect(() => createDashboard({ ...base, ...bad }), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: ErrorCodes.CONFIG_INVALID }),
      );
    expect(() => createDashboard({ ...base, roleCacheMs: 5000, adminTenant: 'soc' })).not.toThrow();
  });
});

describe('a dashboard role taken away', () => {
  it('refuses the very next acknowledge once the global security_admin role is removed; the alert stays as it was', async () => {
    const id = await d.alert();
    const { c, userId } = await loggedIn(d.url, 'security_admin');
    expect((await c.post(`api/alerts/${id}/acknowledge`, {})).status).toBe(200);
    await d.dropGlobalRole(userId, 'security_admin');
    const r = await c.post(`api/alerts/${id}/resolve`, { note: 'after the revocation' });
    expect(r.status).toBe(403);
    expect(errorOf(r.body).code).toBe(ErrorCodes.MONITOR_DASHBOARD_DENIED);
    const [row] = await d.f.sql<{ status: string }>('select status from monitor.alerts where id = $1', [id]);
    expect(row!.status).toBe('acknowledged');
    expect((await c.get('api/overview')).status).toBe(401);
    expect(await liveSessions(userId)).toBe(0);
    const events = await d.f.sql<{ details: Record<string, string> }>(
      `select details from logs.notification_log where event_type = 'monitor.dashboard_denied' and actor = $1`,
      [userId],
    );
    expect(events.map((e) => e.details.reason)).toEqual(['role_removed']);
  });

  it('refuses the next acknowledge once security_admin is revoked in the admin tenant', async () => {
    const server = await d.another({ adminTenant: 'soc' });
    try {
      const u = await d.user('security_admin', { tenant: 'soc' });
      const c = new DashboardClient(server.url);
      expect((await c.login(u.email, u.password)).status).toBe(200);
      const id = await d.alert();
      await d.rbac.revoke(u.email, 'security_admin', 'soc');
      expect((await c.post(`api/alerts/${id}/acknowledge`, {})).status).toBe(403);
    } finally {
      await server.close();
    }
  });

  it('turns a security_admin who keeps auditor into a reader at once: acknowledge 403, reads allowed', async () => {
    const email = `both.${Date.now()}@example.test`;
    const r = await d.f.auth.register({
      email,
      password: 'correct horse battery staple',
      tenant: 'acme',
      roles: ['security_admin', 'auditor'],
    });
    const c = new DashboardClient(d.url);
    expect((await c.login(email, 'correct horse battery staple')).body.user).toMatchObject({ canAct: true });
    await d.dropGlobalRole(r.userId!, 'security_admin');
    const id = await d.alert();
    const ack = await c.post(`api/alerts/${id}/acknowledge`, {});
    expect(ack.status).toBe(403);
    expect(errorOf(ack.body).message).toBe('only a security_admin may acknowledge or resolve alerts');
    expect((await c.get('api/session')).body).toMatchObject({ user: { role: 'auditor', canAct: false } });
    expect((await c.get('api/alerts')).status).toBe(200);
  });

  it('stops reads once the role cache (roleCacheMs) has run out, and not before', async () => {
    let now = Date.now();
    const server = await d.another({ clock: () => now, roleCacheMs: 2000 });
    try {
      const { c, userId } = await loggedIn(server.url, 'auditor');
      expect((await c.get('api/overview')).status).toBe(200);
      await d.dropGlobalRole(userId, 'auditor');
      now += 1999;
      expect((await c.get('api/overview')).status).toBe(200);
      now += 1;
      const r = await c.get('api/overview');
      expect(r.status).toBe(403);
      expect(errorOf(r.body).code).toBe(ErrorCodes.MONITOR_DASHBOARD_DENIED);
      expect((await c.get('api/session')).body).toEqual({ authenticated: false });
    } finally {
      await server.close();
    }
  });
});

describe('logins waiting for a second factor', () => {
  it('keeps an active admin signed in through 1100 MFA logins from one IPv6 /64, limited per /64', async () => {
    let now = Date.now();
    const server = await d.another({
      trustProxy: 1,
      clock: () => now,
      loginRateLimit: { capacity: 10, refillPerSecond: 1 / 6 },
    });
    try {
      const admin = await d.user('security_admin');
      const c = new DashboardClient(server.url);
      expect((await c.login(admin.email, admin.password, { 'X-Forwarded-For': '192.0.2.10' })).status).toBe(200);
      // An ordinary application user with MFA: the right password gets them to the second step.
      const mallory = await d.user(null);
      await enrolMfa(mallory);
      const statuses: number[] = [];
      let cookies = 0;
      const attempt = async (i: number) => {
        const res = await fetch(new URL('api/login', server.url), {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            Origin: new URL(server.url).origin,
            'X-Forwarded-For': `2001:db8:7:7:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}:0:1`,
          },
          body: JSON.stringify({ email: mallory.email, password: mallory.password }),
        });
        if (res.headers.get('set-cookie')) cookies += 1;
        await res.text();
        statuses.push(res.status);
      };
      for (let i = 0; i < 1100; i += 25) await Promise.all(Array.from({ length: 25 }, (_, k) => attempt(i + k)));
      // Ten reach the AuthService (403: no dashboard role; 401 when its own throttle refuses a
      // concurrent attempt on the account); the other 1090 stop at the /64's bucket.
      const passed = statuses.filter((s) => s !== 429);
      expect(passed).toHaveLength(10);
      expect(passed.every((s) => s === 401 || s === 403)).toBe(true);
      expect(passed).toContain(403);
      expect(cookies).toBe(0);
      expect((await c.get('api/overview')).status).toBe(200);
      expect((await c.get('api/session')).body).toMatchObject({ authenticated: true });
      // The limit is per /64: the next /64 has its own bucket; this one refills one try per 6 s.
      // (Past the limiter the AuthService's own account throttle may answer 401.)
      const other = new DashboardClient(server.url);
      const from = (addr: string) => other.login(mallory.email, mallory.password, { 'X-Forwarded-For': addr });
      expect([401, 403]).toContain((await from('2001:db8:7:8::1')).status);
      expect((await from('2001:db8:7:7::99')).status).toBe(429);
      now += 6_000;
      expect([401, 403]).toContain((await from('2001:db8:7:7::9a')).status);
      expect((await from('2001:db8:7:7::9b')).status).toBe(429);
    } finally {
      await server.close();
    }
  });

  it('denies a user without a dashboard role at the password step when they have MFA: 403, no waiting login', async () => {
    const u = await d.user('auditor', { tenant: 'acme' });
    await enrolMfa(u);
    const c = new DashboardClient(d.url);
    const r = await c.login(u.email, u.password);
    expect(r.status).toBe(403);
    expect(r.body.mfaRequired).toBeUndefined();
    expect(c.cookie).toBeUndefined();
    expect((await c.post('api/login/mfa', { code: '123456' })).status).toBe(401);
  });

  it('holds waiting logins apart: more of them than both caps never push out a signed-in session', async () => {
    const server = await d.another({ maxSessions: 2, maxPendingLogins: 2 });
    try {
      const { c } = await loggedIn(server.url, 'auditor');
      const second = await d.user('security_admin');
      const codes = await enrolMfa(second);
      const waiting: DashboardClient[] = [];
      for (let i = 0; i < 5; i += 1) {
        const w = new DashboardClient(server.url);
        expect((await w.login(second.email, second.password)).body).toMatchObject({ mfaRequired: true });
        waiting.push(w);
      }
      expect((await c.get('api/overview')).status).toBe(200);
      // The oldest waiting logins gave way to newer ones; the newest completes.
      const gone = await waiting[0]!.post('api/login/mfa', { recoveryCode: codes[0] });
      expect(gone.status).toBe(401);
      expect(errorOf(gone.body).message).toBe('no login is waiting for a second factor; log in again');
      const done = await waiting[4]!.post('api/login/mfa', { recoveryCode: codes[0] });
      expect(done.status).toBe(200);
      waiting[4]!.csrf = done.body.csrfToken as string;
      expect((await waiting[4]!.get('api/overview')).status).toBe(200);
      expect((await c.get('api/overview')).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('keys the login limit by /64 for IPv6 and by the whole address for IPv4', () => {
    const block = loginLimitKey('2001:db8:7:7::1');
    expect(block).toBe('2001:db8:7:7::/64');
    for (const same of ['2001:db8:7:7:ffff:ffff:ffff:ffff', '2001:0DB8:0007:0007::2', '2001:db8:7:7::1%eth0'])
      expect(loginLimitKey(same), same).toBe(block);
    expect(loginLimitKey('2001:db8:7:8::1')).toBe('2001:db8:7:8::/64');
    expect(loginLimitKey('::1')).toBe('0:0:0:0::/64');
    expect(loginLimitKey('64:ff9b::198.51.100.1')).toBe('64:ff9b:0:0::/64');
    expect(loginLimitKey('203.0.113.9')).toBe('203.0.113.9');
    expect(loginLimitKey('203.0.113.10')).toBe('203.0.113.10');
    expect(loginLimitKey('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(loginLimitKey('unknown')).toBe('unknown');
  });
});

describe('login CSRF', () => {
  const raw = (headers: Record<string, string>, u: { email: string; password: string }) =>
    fetch(new URL('api/login', d.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify({ email: u.email, password: u.password }),
    });

  it('refuses a login from another site, or one with neither Origin nor X-Requested-With: 403 PW606, no session', async () => {
    const u = await d.user('security_admin');
    const cases: Array<Record<string, string>> = [
      { Origin: 'http://evil.example' },
      { Origin: 'null' },
      { Origin: 'http://evil.example', 'X-Requested-With': 'XMLHttpRequest' },
      {},
      { Referer: new URL(d.url).href },
      { 'X-Requested-With': 'x', Referer: 'http://evil.example/page' },
    ];
    for (const headers of cases) {
      const res = await raw(headers, u);
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(res.headers.get('set-cookie')).toBeNull();
      const body = (await res.json()) as Record<string, unknown>;
      expect(errorOf(body).code).toBe(ErrorCodes.MONITOR_DASHBOARD_DENIED);
    }
    expect(await liveSessions(u.userId)).toBe(0);
  });

  it("allows a login with this host's Origin, or from a program sending X-Requested-With without Origin", async () => {
    const u = await d.user('auditor');
    expect((await raw({ Origin: new URL(d.url).origin }, u)).status).toBe(200);
    expect((await raw({ 'X-Requested-With': 'pgwarden-cli' }, u)).status).toBe(200);
    expect((await raw({ 'X-Requested-With': 'x', Referer: new URL(d.url).href }, u)).status).toBe(200);
  });
});

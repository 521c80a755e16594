import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base32Decode, totpCode } from '../../src/auth/crypto/index.js';
import { ErrorCodes } from '../../src/errors/index.js';
import { AlertStore } from '../../src/monitor/alerts/index.js';
import { DashboardClient, type DashboardFixture, dashboardFixture } from './helpers/dashboard-fixture.js';

let d: DashboardFixture;
beforeAll(async () => {
  d = await dashboardFixture();
});
afterAll(async () => {
  await d?.close();
});

async function loggedIn(role: 'security_admin' | 'auditor') {
  const u = await d.user(role);
  const c = new DashboardClient(d.url);
  const r = await c.login(u.email, u.password);
  expect(r.status).toBe(200);
  return { ...u, c };
}

const errorOf = (body: Record<string, unknown>) => body.error as { code: string; message: string };

describe('dashboard login', () => {
  it('allows a security_admin: HttpOnly SameSite=Strict cookie, role and CSRF token in the body, no token', async () => {
    const u = await d.user('security_admin');
    const res = await fetch(new URL('api/login', d.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: new URL(d.url).origin },
      body: JSON.stringify({ email: u.email, password: u.password }),
    });
    expect(res.status).toBe(200);
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^pgwarden_dashboard=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
    const text = await res.text();
    const body = JSON.parse(text) as Record<string, unknown>;
    expect(body.user).toEqual({ email: u.email, role: 'security_admin', canAct: true });
    expect(body.csrfToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Object.keys(body).sort()).toEqual(['csrfToken', 'user']);
    expect(text).not.toContain(cookie.split(';')[0]!.split('=')[1]!);
    expect(text).not.toMatch(/eyJ|pgwr_|pgwm_/);
  });

  it('names the cookie __Host- and marks it Secure when secureCookies is set', async () => {
    const server = await d.another({ secureCookies: true });
    try {
      const u = await d.user('auditor');
      const c = new DashboardClient(server.url);
      const r = await c.post('api/login', { email: u.email, password: u.password });
      expect(r.status).toBe(200);
      expect(r.headers.get('set-cookie')).toMatch(
        /^__Host-pgwarden_dashboard=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Strict; Secure$/,
      );
      expect((await c.get('api/overview')).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('allows an auditor, read only', async () => {
    const u = await d.user('auditor');
    const c = new DashboardClient(d.url);
    const r = await c.login(u.email, u.password);
    expect(r.status).toBe(200);
    expect(r.body.user).toEqual({ email: u.email, role: 'auditor', canAct: false });
    expect((await c.get('api/overview')).status).toBe(200);
    expect((await c.get('api/session')).body).toMatchObject({ authenticated: true, user: { role: 'auditor' } });
  });

  it('denies a user without a dashboard role with 403 PW606, sets no cookie and ends the session it opened', async () => {
    const u = await d.user(null);
    const c = new DashboardClient(d.url);
    const r = await c.login(u.email, u.password);
    expect(r.status).toBe(403);
    expect(errorOf(r.body).code).toBe(ErrorCodes.MONITOR_DASHBOARD_DENIED);
    expect(c.cookie).toBeUndefined();
    const live = await d.f.sql('select 1 from auth.sessions where user_id = $1 and revoked_at is null', [u.userId]);
    expect(live).toHaveLength(0);
    const events = await d.f.sql<{ details: Record<string, string> }>(
      `select details from logs.notification_log where event_type = 'monitor.dashboard_denied' and actor = $1`,
      [u.userId],
    );
    expect(events.map((e) => e.details.reason)).toEqual(['no_dashboard_role']);
  });

  it('answers a wrong password and an unknown user alike: 401 with one generic message', async () => {
    const u = await d.user('security_admin');
    const c = new DashboardClient(d.url);
    const wrong = await c.login(u.email, 'not the right password');
    const unknown = await c.login('nobody.at.all@example.test', 'not the right password');
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body).toEqual(unknown.body);
    expect(errorOf(wrong.body)).toMatchObject({
      code: ErrorCodes.MONITOR_DASHBOARD_DENIED,
      message: 'invalid e-mail or password',
    });
    expect(c.cookie).toBeUndefined();
  });

  it('refuses a login body that is not JSON, and a missing field, without a session', async () => {
    const res = await fetch(new URL('api/login', d.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: new URL(d.url).origin },
      body: 'email=a%40b.c&password=x',
    });
    expect(res.status).toBe(415);
    const c = new DashboardClient(d.url);
    expect((await c.post('api/login', { email: 'a@b.example' })).status).toBe(400);
  });

  it('asks for the second factor when the user has one, then opens the session with a valid code', async () => {
    const u = await d.user('security_admin');
    const first = await d.f.auth.login({ email: u.email, password: u.password });
    if (first.kind !== 'session') throw new Error('expected a session before MFA is enrolled');
    const me = await d.f.auth.authenticate(first.accessToken);
    const enrol = await d.f.auth.enrolTotp(me, { currentPassword: u.password });
    const { recoveryCodes } = await d.f.auth.activateTotp(me, {
      code: totpCode(base32Decode(enrol.secret), Date.now()),
    });
    const c = new DashboardClient(d.url);
    const step1 = await c.login(u.email, u.password);
    expect(step1.status).toBe(200);
    expect(Object.keys(step1.body).sort()).toEqual(['csrfToken', 'mfaRequired']);
    expect(step1.body.mfaRequired).toBe(true);
    expect(JSON.stringify(step1.body)).not.toContain('pgwm_');
    // waiting for the second factor is not logged in
    expect((await c.get('api/overview')).status).toBe(401);
    expect((await c.post('api/login/mfa', { recoveryCode: recoveryCodes[0] }, { csrf: null })).status).toBe(403);
    const wrong = await c.post('api/login/mfa', { code: '000000' });
    expect(wrong.status).toBe(401);
    expect(errorOf(wrong.body).code).toBe(ErrorCodes.MONITOR_DASHBOARD_DENIED);
    const step2 = await c.post('api/login/mfa', { recoveryCode: recoveryCodes[0] });
    expect(step2.status).toBe(200);
    expect(step2.body.user).toEqual({ email: u.email, role: 'security_admin', canAct: true });
    c.csrf = step2.body.csrfToken as string;
    expect((await c.get('api/overview')).status).toBe(200);
    expect((await new DashboardClient(d.url).post('api/login/mfa', { code: '123456' })).status).toBe(401);
  });

  it('rate-limits logins per client address: the burst passes, the next attempt is 429', async () => {
    const server = await d.another({ loginRateLimit: { capacity: 3, refillPerSecond: 0.001 } });
    try {
      const c = new DashboardClient(server.url);
      for (let i = 0; i < 3; i += 1) expect((await c.login('x@example.test', 'wrong password 1')).status).toBe(401);
      const limited = await fetch(new URL('api/login', server.url), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Origin: new URL(server.url).origin },
        body: JSON.stringify({ email: 'x@example.test', password: 'wrong password 1' }),
      });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  });
});

describe('dashboard sessions', () => {
  it('refuses every API call without a cookie, or with an unknown one, with 401', async () => {
    const c = new DashboardClient(d.url);
    for (const path of ['api/overview', 'api/alerts', 'api/alerts/1', 'api/users/risk', 'api/timeline']) {
      const r = await c.get(path);
      expect(r.status, path).toBe(401);
      expect(errorOf(r.body).code).toBe(ErrorCodes.MONITOR_DASHBOARD_DENIED);
    }
    c.cookie = 'pgwarden_dashboard=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    expect((await c.get('api/overview')).status).toBe(401);
    expect((await c.post('api/alerts/1/acknowledge', {}, { csrf: 'x' })).status).toBe(401);
    expect((await c.get('api/session')).body).toEqual({ authenticated: false });
  });

  it('refuses a session ended with AuthService.logout at the very next request', async () => {
    const { c, userId } = await loggedIn('security_admin');
    expect((await c.get('api/overview')).status).toBe(200);
    const [session] = await d.f.sql<{ id: string }>(
      'select id from auth.sessions where user_id = $1 and revoked_at is null',
      [userId],
    );
    const principal = { userId, sessionId: session!.id, tenant: 'acme', roles: [], aal: 'aal1' as const, tokenId: '' };
    await d.f.auth.logout(principal);
    const r = await c.get('api/overview');
    expect(r.status).toBe(401);
    expect(errorOf(r.body).message).toBe('the session has ended; log in again');
    expect((await c.get('api/overview')).status).toBe(401);
  });

  it('refuses a session revoked with revokeUserSessions at the very next request', async () => {
    const { c, userId } = await loggedIn('auditor');
    expect((await c.get('api/alerts')).status).toBe(200);
    expect(await d.f.auth.revokeUserSessions(null, userId)).toBe(1);
    expect((await c.get('api/alerts')).status).toBe(401);
  });

  it('logs out: ends the AuthService session, clears the cookie, and the old cookie no longer works', async () => {
    const { c, userId } = await loggedIn('security_admin');
    const cookie = c.cookie;
    const out = await c.post('api/logout');
    expect(out.status).toBe(200);
    expect(out.headers.get('set-cookie')).toMatch(/Max-Age=0/);
    const live = await d.f.sql('select 1 from auth.sessions where user_id = $1 and revoked_at is null', [userId]);
    expect(live).toHaveLength(0);
    c.cookie = cookie;
    expect((await c.get('api/overview')).status).toBe(401);
  });

  it('rotates the refresh token once when the access token nears expiry, even under concurrent requests', async () => {
    let now = Date.now();
    const server = await d.another({ clock: () => now });
    try {
      const u = await d.user('auditor');
      const c = new DashboardClient(server.url);
      expect((await c.login(u.email, u.password)).status).toBe(200);
      const tokens = () =>
        d.f.sql<{ state: string }>(
          `select t.state from auth.refresh_tokens t join auth.sessions s on s.id = t.session_id
            where s.user_id = $1 order by t.id`,
          [u.userId],
        );
      expect((await c.get('api/overview')).status).toBe(200);
      expect((await tokens()).map((t) => t.state)).toEqual(['active']);
      now += 871_000; // the access token lives 900 s; the dashboard refreshes 30 s before
      const answers = await Promise.all([c.get('api/overview'), c.get('api/alerts'), c.get('api/session')]);
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
      expect((await tokens()).map((t) => t.state)).toEqual(['used', 'active']);
      expect((await c.get('api/users/risk')).status).toBe(200);
      expect(await tokens()).toHaveLength(2);
    } finally {
      await server.close();
    }
  });
});

describe('alert actions', () => {
  it('lets an auditor read an alert but not acknowledge it (403 PW606); the alert stays open', async () => {
    const id = await d.alert();
    const { c } = await loggedIn('auditor');
    expect((await c.get(`api/alerts/${id}`)).status).toBe(200);
    const r = await c.post(`api/alerts/${id}/acknowledge`, { note: 'mine' });
    expect(r.status).toBe(403);
    expect(errorOf(r.body).code).toBe(ErrorCodes.MONITOR_DASHBOARD_DENIED);
    expect((await c.post(`api/alerts/${id}/resolve`, {})).status).toBe(403);
    const [row] = await d.f.sql<{ status: string }>('select status from monitor.alerts where id = $1', [id]);
    expect(row!.status).toBe('open');
  });

  it('tells the sinks that follow a lifecycle when an alert is resolved on the dashboard of a running monitor', async () => {
    const store = new AlertStore({ connection: d.f.pool, lifecycleSinks: ['oncall'] });
    const server = await d.another({
      changeStatus: (id, status, actor, note) => store.setStatus(id, status, actor, note ?? undefined),
    });
    try {
      const id = await d.alert();
      // The alert was sent to PagerDuty-like sink `oncall` when it was raised.
      await d.f.sql(
        `insert into monitor.deliveries (alert_id, sink, action, payload, state, delivered_at)
         values ($1, 'oncall', 'trigger', '{}', 'delivered', now())`,
        [id],
      );
      const u = await d.user('security_admin');
      const c = new DashboardClient(server.url);
      expect((await c.login(u.email, u.password)).status).toBe(200);
      const res = await c.post(`api/alerts/${id}/resolve`, { note: 'handled' });
      expect(res.status).toBe(200);
      expect(res.body.alert).toMatchObject({ id, status: 'resolved', resolvedBy: u.email });
      const queued = await d.f.sql<{ sink: string; action: string; state: string }>(
        `select sink, action, state from monitor.deliveries where alert_id = $1 order by id`,
        [id],
      );
      expect(queued).toEqual([
        { sink: 'oncall', action: 'trigger', state: 'delivered' },
        { sink: 'oncall', action: 'resolve', state: 'pending' },
      ]);
      expect((await c.post(`api/alerts/${id}/resolve`, {})).status).toBe(409);
    } finally {
      await server.close();
      await store.close();
    }
  });

  it('acknowledges then resolves as security_admin with history; a second resolve is 409 PW600', async () => {
    const id = await d.alert();
    const { c, email } = await loggedIn('security_admin');
    const ack = await c.post(`api/alerts/${id}/acknowledge`, { note: 'looking into it' });
    expect(ack.status).toBe(200);
    expect(ack.body.alert).toMatchObject({ id, status: 'acknowledged', acknowledgedBy: email });
    const again = await c.post(`api/alerts/${id}/acknowledge`, {});
    expect(again.status).toBe(409);
    const res = await c.post(`api/alerts/${id}/resolve`, { note: 'password reset, source blocked' });
    expect(res.status).toBe(200);
    expect(res.body.alert).toMatchObject({ status: 'resolved', resolvedBy: email });
    const twice = await c.post(`api/alerts/${id}/resolve`, {});
    expect(twice.status).toBe(409);
    expect(errorOf(twice.body).code).toBe(ErrorCodes.MONITOR_ALERT_TRANSITION);
    const history = await d.f.sql<{ actor: string; old_status: string; new_status: string; note: string | null }>(
      'select actor, old_status, new_status, note from monitor.alert_changes where alert_id = $1 order by id',
      [id],
    );
    expect(history).toEqual([
      { actor: email, old_status: 'open', new_status: 'acknowledged', note: 'looking into it' },
      { actor: email, old_status: 'acknowledged', new_status: 'resolved', note: 'password reset, source blocked' },
    ]);
    const detail = await c.get(`api/alerts/${id}`);
    expect((detail.body.changes as unknown[]).length).toBe(2);
    const events = await d.f.sql<{ event_type: string }>(
      `select event_type from logs.notification_log where event_type like 'monitor.alert_%' and details->>'alert_id' = $1 order by id`,
      [String(id)],
    );
    expect(events.map((e) => e.event_type)).toEqual(['monitor.alert_acknowledged', 'monitor.alert_resolved']);
  });

  it('answers 404 PW601 for an unknown alert and 400 for a malformed id or note', async () => {
    const { c } = await loggedIn('security_admin');
    const missing = await c.post('api/alerts/987654321/acknowledge', {});
    expect(missing.status).toBe(404);
    expect(errorOf(missing.body).code).toBe(ErrorCodes.MONITOR_ALERT_NOT_FOUND);
    expect((await c.get('api/alerts/987654321')).status).toBe(404);
    expect((await c.get('api/alerts/1%20or%201=1')).status).toBe(400);
    const id = await d.alert();
    expect((await c.post(`api/alerts/${id}/acknowledge`, { note: 'x'.repeat(2001) })).status).toBe(400);
    expect((await c.post(`api/alerts/${id}/acknowledge`, { note: 42 })).status).toBe(400);
  });

  it('refuses a POST without, or with a wrong, X-CSRF-Token (403) and one from another origin', async () => {
    const id = await d.alert();
    const { c } = await loggedIn('security_admin');
    const none = await c.post(`api/alerts/${id}/acknowledge`, {}, { csrf: null });
    expect(none.status).toBe(403);
    expect(errorOf(none.body)).toMatchObject({ code: ErrorCodes.MONITOR_DASHBOARD_DENIED });
    // One character changed (never to itself: a token ending in A stayed valid one time in 64).
    const wrong = `${c.csrf!.slice(0, -1)}${c.csrf!.endsWith('A') ? 'B' : 'A'}`;
    expect((await c.post(`api/alerts/${id}/acknowledge`, {}, { csrf: wrong })).status).toBe(403);
    const other = new DashboardClient(d.url);
    const u = await d.user('security_admin');
    await other.login(u.email, u.password);
    expect((await c.post(`api/alerts/${id}/acknowledge`, {}, { csrf: other.csrf! })).status).toBe(403);
    const cross = await c.post(`api/alerts/${id}/acknowledge`, {}, { headers: { Origin: 'http://evil.example' } });
    expect(cross.status).toBe(403);
    expect((await c.post('api/logout', {}, { csrf: null })).status).toBe(403);
    const [row] = await d.f.sql<{ status: string }>('select status from monitor.alerts where id = $1', [id]);
    expect(row!.status).toBe('open');
    expect((await c.post(`api/alerts/${id}/acknowledge`, {})).status).toBe(200);
  });
});

describe('what the API reveals', () => {
  it('never puts a password, access token, refresh token or the session id in a response body', async () => {
    const u = await d.user('security_admin');
    const c = new DashboardClient(d.url);
    await c.login(u.email, 'a wrong password here');
    await c.login(u.email, u.password);
    const sessionId = c.cookie!.split('=')[1]!;
    const id = await d.alert();
    for (const path of [
      'api/session',
      'api/overview',
      'api/alerts',
      `api/alerts/${id}`,
      'api/users/risk',
      'api/timeline',
    ])
      expect((await c.get(path)).status).toBe(200);
    await c.post(`api/alerts/${id}/acknowledge`, {});
    await c.post('api/logout');
    const all = c.bodies.join('\n');
    expect(all).not.toContain(u.password);
    expect(all).not.toContain('a wrong password here');
    expect(all).not.toContain(sessionId);
    expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]+\.|pgwr_|pgwm_|pgws_/);
  });

  it('returns hostile alert titles and summaries as JSON strings, never as markup', async () => {
    const title = '<img src=x onerror=alert(1)>';
    const summary = '</script><script>alert(2)</script>';
    const id = await d.alert({ title, summary, groupValues: { user: '<b>mallory</b>' } });
    const { c } = await loggedIn('auditor');
    const r = await c.get(`api/alerts/${id}`);
    expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    const alert = r.body.alert as Record<string, unknown>;
    expect(alert.title).toBe(title);
    expect(alert.summary).toBe(summary);
    expect(alert.groupValues).toEqual({ user: '<b>mallory</b>' });
    const list = await c.get('api/alerts');
    expect((list.body.alerts as Array<{ title: string }>).some((a) => a.title === title)).toBe(true);
  });
});

import type { AuthService, TokenSet } from '../auth/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { HttpError, type HttpResult, type RequestContext, type TokenBucketLimiter } from '../http/index.js';
import { csrfMatches, sameOrigin } from './csrf.js';
import { checkLoginOrigin, denied, loginError, noDashboardRole, sessionEnded } from './dashboard-denials.js';
import type { DashboardRoleReader } from './dashboard-roles.js';
import {
  type ActiveLogin,
  type CookieSettings,
  type DashboardRole,
  type DashboardSession,
  type DashboardSessionStore,
  readCookie,
  sessionCookie,
} from './dashboard-session.js';
import { loginLimitKey } from './login-limit-key.js';

/** What {@link DashboardAuth} needs, passed in. */
export interface DashboardAuthOptions {
  auth: AuthService;
  /** Signed-in sessions. */
  store: DashboardSessionStore;
  /** Logins waiting for their second factor: a store of their own, so they never push out a signed-in session. */
  pending: DashboardSessionStore;
  /** The user's dashboard role as the database says now (global roles, or the admin tenant's). */
  roleOf: DashboardRoleReader;
  /**
   * How long a read request may go on the role read before (ms, 0-5000). Acknowledge and resolve
   * always read it afresh.
   */
  roleCacheMs: number;
  cookie: CookieSettings;
  clock: () => number;
  sessionTtlMs: number;
  loginLimiter: TokenBucketLimiter;
  /** Writes a security event (`monitor.dashboard_denied`); failures are ignored. */
  recordDenial: (details: Record<string, string>, actor: string | null) => Promise<void>;
}

/** The logged-in user as the page sees it. */
export interface DashboardUser {
  email: string;
  role: DashboardRole;
  /** May acknowledge and resolve alerts (security_admin). */
  canAct: boolean;
}

/** An authenticated API request. */
export interface DashboardCaller {
  session: DashboardSession;
  login: ActiveLogin;
  /** Who acts in monitor.set_alert_status: the e-mail, or the user id when the e-mail is too long. */
  actor: string;
}

/** Refresh this long before the access token expires, so a request never carries a dying token. */
const refreshMarginMs = 30_000;
const mfaWaitMs = 5 * 60_000;

/**
 * Login, second factor, logout and the per-request check of the dashboard, over pgwarden's own
 * AuthService. Every API request re-validates the access token with `AuthService.authenticate`,
 * so a logout or a revocation anywhere ends dashboard access at the next request, and re-reads
 * the user's dashboard role from the database (not from the token, whose roles are per tenant and
 * as of its issue), so a role taken away counts within `roleCacheMs`, and at once for actions.
 *
 * @example
 * const guard = new DashboardAuth({ auth, store, pending, roleOf, roleCacheMs: 2000, cookie, clock: Date.now, sessionTtlMs, loginLimiter, recordDenial });
 * router.add('POST', '/api/login', (ctx) => guard.login(ctx));
 */
export class DashboardAuth {
  readonly #o: DashboardAuthOptions;

  constructor(options: DashboardAuthOptions) {
    this.#o = options;
  }

  /** `POST /api/login` {email, password}: a session, or a wait for the second factor. */
  async login(ctx: RequestContext): Promise<HttpResult> {
    this.#limit(ctx);
    checkLoginOrigin(ctx);
    const body = await ctx.body();
    let result;
    try {
      result = await this.#o.auth.login({ email: body.email, password: body.password }, meta(ctx));
    } catch (err) {
      throw loginError(err);
    }
    this.#forget(ctx);
    if (result.kind === 'mfa_required') {
      // The password was right but nobody is signed in yet: only someone who could use the
      // dashboard gets a place to wait for the second factor.
      if (!(await this.#o.roleOf({ email: String(body.email) }))) {
        await this.#o
          .recordDenial({ reason: 'no_dashboard_role', addr: ctx.clientAddress }, null)
          .catch(() => undefined);
        throw noDashboardRole();
      }
      const ttl = Math.max(1_000, Math.min(mfaWaitMs, result.expiresAt.getTime() - this.#o.clock()));
      const session = this.#o.pending.create({ kind: 'mfa', mfaToken: result.mfaToken }, ttl);
      return this.#withCookie(session, ttl, { mfaRequired: true, csrfToken: session.csrfToken });
    }
    return this.#open(ctx, result);
  }

  /** `POST /api/login/mfa` {code} or {recoveryCode}: the second step of a login that asked for it. */
  async verifyMfa(ctx: RequestContext): Promise<HttpResult> {
    this.#limit(ctx);
    const session = this.#current(ctx);
    if (!session || session.state.kind !== 'mfa')
      throw denied(401, 'no login is waiting for a second factor; log in again');
    this.#checkCsrf(session, ctx);
    const body = await ctx.body();
    let tokens;
    try {
      tokens = await this.#o.auth.verifyMfa(
        { mfaToken: session.state.mfaToken, code: body.code, recoveryCode: body.recoveryCode },
        meta(ctx),
      );
    } catch (err) {
      throw loginError(err);
    }
    this.#o.pending.delete(session.id);
    return this.#open(ctx, tokens);
  }

  /** `POST /api/logout`: ends the AuthService session too, and clears the cookie. */
  async logout(ctx: RequestContext): Promise<HttpResult> {
    const session = this.#current(ctx);
    if (session) {
      this.#checkCsrf(session, ctx);
      this.#drop(session);
      if (session.state.kind === 'active') {
        try {
          await this.#refreshIfDue(session, session.state, ctx);
          const principal = await this.#o.auth.authenticate(session.state.accessToken);
          await this.#o.auth.logout(principal, meta(ctx));
        } catch {
          // already ended (or ending it failed): the tokens are forgotten here either way
        }
      }
    }
    return {
      status: 200,
      body: { loggedOut: true },
      headers: { 'Set-Cookie': sessionCookie(this.#o.cookie, '', 0) },
    };
  }

  /** `GET /api/session`: who is logged in (and the CSRF token, for a reloaded page), never a 401. */
  async whoami(ctx: RequestContext): Promise<HttpResult> {
    if (!this.#current(ctx)) return { status: 200, body: { authenticated: false } };
    try {
      const caller = await this.require(ctx, { write: false, act: false });
      return {
        status: 200,
        body: { authenticated: true, user: userView(caller.login), csrfToken: caller.session.csrfToken },
      };
    } catch (err) {
      // 403 here can only mean the role is gone: the session was dropped with it.
      if (err instanceof HttpError && (err.status === 401 || err.status === 403))
        return { status: 200, body: { authenticated: false } };
      throw err;
    }
  }

  /**
   * Checks a request: a live session (401), for POSTs the same origin and the CSRF token (403),
   * the access token still accepted by the AuthService (401), a dashboard role in the database
   * (403; read afresh when older than `roleCacheMs`, and always for `act`), and for `act` the
   * security_admin role (403).
   */
  async require(ctx: RequestContext, need: { write: boolean; act: boolean }): Promise<DashboardCaller> {
    const session = this.#current(ctx);
    if (!session || session.state.kind !== 'active')
      throw denied(401, 'log in first', 'POST your e-mail and password to api/login');
    const login = session.state;
    if (need.write) this.#checkCsrf(session, ctx);
    await this.#refreshIfDue(session, login, ctx);
    let principal;
    try {
      principal = await this.#o.auth.authenticate(login.accessToken);
    } catch (err) {
      if (!(err instanceof PgwardenError) || err.code !== ErrorCodes.AUTH_ACCESS_TOKEN_INVALID) throw err;
      this.#o.store.delete(session.id);
      throw sessionEnded();
    }
    const now = this.#o.clock();
    if (need.act || now - login.roleCheckedAt >= this.#o.roleCacheMs || now < login.roleCheckedAt) {
      const role = await this.#o.roleOf({ userId: login.userId });
      if (!role) {
        // Its tokens go with it: nothing here would ever refresh or end that session again.
        this.#o.store.delete(session.id);
        await this.#o.auth.logout(principal, meta(ctx)).catch(() => undefined);
        await this.#o
          .recordDenial({ reason: 'role_removed', addr: ctx.clientAddress }, login.userId)
          .catch(() => undefined);
        throw denied(
          403,
          'this account may no longer use the dashboard',
          'ask for the security_admin or auditor role as a global role (or in the dashboard admin tenant)',
        );
      }
      login.role = role;
      login.roleCheckedAt = now;
    }
    const role = login.role;
    if (need.act && role !== 'security_admin')
      throw denied(403, 'only a security_admin may acknowledge or resolve alerts');
    return { session, login, actor: login.email.length <= 200 ? login.email : login.userId };
  }

  async #open(ctx: RequestContext, tokens: TokenSet): Promise<HttpResult> {
    const { auth, clock } = this.#o;
    const principal = await auth.authenticate(tokens.accessToken);
    // Not principal.roles: those include the roles of the session's tenant (see dashboard-roles.ts).
    const role = await this.#o.roleOf({ userId: principal.userId });
    if (!role) {
      await auth.logout(principal, meta(ctx)).catch(() => undefined);
      await this.#o
        .recordDenial({ reason: 'no_dashboard_role', addr: ctx.clientAddress }, principal.userId)
        .catch(() => undefined);
      throw noDashboardRole();
    }
    const email = (await auth.store.getUser(principal.userId))?.email ?? principal.userId;
    const ttl = Math.max(1_000, Math.min(this.#o.sessionTtlMs, tokens.sessionExpiresAt.getTime() - clock()));
    const session = this.#o.store.create(
      {
        kind: 'active',
        accessToken: tokens.accessToken,
        refreshToken: tokens.refreshToken,
        accessExpiresAt: clock() + tokens.expiresIn * 1000,
        userId: principal.userId,
        email,
        role,
        roleCheckedAt: clock(),
      },
      ttl,
    );
    return this.#withCookie(session, ttl, {
      user: userView(session.state as ActiveLogin),
      csrfToken: session.csrfToken,
    });
  }

  /** Rotates the tokens shortly before the access token expires; one refresh per session at a time. */
  async #refreshIfDue(session: DashboardSession, login: ActiveLogin, ctx: RequestContext): Promise<void> {
    const { auth, clock } = this.#o;
    if (!session.refreshing && login.accessExpiresAt - clock() > refreshMarginMs) return;
    session.refreshing ??= (async () => {
      const next = await auth.refresh(login.refreshToken, meta(ctx));
      login.accessToken = next.accessToken;
      login.refreshToken = next.refreshToken;
      login.accessExpiresAt = clock() + next.expiresIn * 1000;
    })().finally(() => {
      session.refreshing = undefined;
    });
    try {
      await session.refreshing;
    } catch (err) {
      if (!(err instanceof PgwardenError) || err.code !== ErrorCodes.AUTH_TOKEN_INVALID) throw err;
      this.#o.store.delete(session.id);
      throw sessionEnded();
    }
  }

  #current(ctx: RequestContext): DashboardSession | undefined {
    const id = readCookie(ctx.header('cookie'), this.#o.cookie.name);
    return this.#o.store.get(id) ?? this.#o.pending.get(id);
  }

  #drop(session: DashboardSession): void {
    (session.state.kind === 'mfa' ? this.#o.pending : this.#o.store).delete(session.id);
  }

  /** A new login replaces the browser's previous dashboard session. */
  #forget(ctx: RequestContext): void {
    const old = this.#current(ctx);
    if (old) this.#drop(old);
  }

  #checkCsrf(session: DashboardSession, ctx: RequestContext): void {
    this.#checkOrigin(ctx);
    if (!csrfMatches(session.csrfToken, ctx.header('x-csrf-token'))) {
      const actor = session.state.kind === 'active' ? session.state.userId : null;
      void this.#o.recordDenial({ reason: 'csrf_token', addr: ctx.clientAddress }, actor).catch(() => undefined);
      throw denied(403, 'the CSRF token is missing or wrong', 'reload the page and try again');
    }
  }

  #checkOrigin(ctx: RequestContext): void {
    const headers = { origin: ctx.header('origin'), referer: ctx.header('referer'), host: ctx.header('host') };
    if (!sameOrigin(headers)) throw denied(403, 'cross-origin requests are refused');
  }

  #limit(ctx: RequestContext): void {
    // By /64 for IPv6: one client usually holds a whole /64 (see login-limit-key.ts).
    const verdict = this.#o.loginLimiter.take(loginLimitKey(ctx.clientAddress));
    if (!verdict.allowed)
      throw new HttpError(ErrorCodes.HTTP_RATE_LIMITED, 'too many login attempts; retry later', {
        retryAfterSeconds: verdict.retryAfterSeconds,
      });
  }

  #withCookie(session: DashboardSession, ttlMs: number, body: unknown): HttpResult {
    return { status: 200, body, headers: { 'Set-Cookie': sessionCookie(this.#o.cookie, session.id, ttlMs / 1000) } };
  }
}

function userView(login: ActiveLogin): DashboardUser {
  return { email: login.email, role: login.role, canAct: login.role === 'security_admin' };
}

const meta = (ctx: RequestContext) => ({
  source: ctx.clientAddress,
  userAgent: ctx.header('user-agent')?.slice(0, 512) ?? null,
});

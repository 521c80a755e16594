import type { AuthService, TokenSet } from '../auth/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { HttpError, type HttpResult, type RequestContext, type TokenBucketLimiter } from '../http/index.js';
import { csrfMatches, sameOrigin } from './csrf.js';
import {
  type ActiveLogin,
  type CookieSettings,
  type DashboardRole,
  type DashboardSession,
  type DashboardSessionStore,
  readCookie,
  sessionCookie,
} from './dashboard-session.js';

/** What {@link DashboardAuth} needs, passed in. */
export interface DashboardAuthOptions {
  auth: AuthService;
  store: DashboardSessionStore;
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

const denied = (status: 400 | 401 | 403, message: string, hint?: string): HttpError =>
  new HttpError(ErrorCodes.MONITOR_DASHBOARD_DENIED, message, hint === undefined ? { status } : { status, hint });

const badCredentials = () => denied(401, 'invalid e-mail or password', 'check both and try again');
const sessionEnded = () => denied(401, 'the session has ended; log in again');
/** Refresh this long before the access token expires, so a request never carries a dying token. */
const refreshMarginMs = 30_000;
const mfaWaitMs = 5 * 60_000;

/**
 * The role that opens the dashboard, security_admin first; undefined when the user has neither.
 *
 * @example
 * dashboardRole(['auditor', 'billing']); // 'auditor'
 */
export function dashboardRole(roles: readonly string[]): DashboardRole | undefined {
  if (roles.includes('security_admin')) return 'security_admin';
  if (roles.includes('auditor')) return 'auditor';
  return undefined;
}

/**
 * Login, second factor, logout and the per-request check of the dashboard, over pgwarden's own
 * AuthService. Every API request re-validates the access token with `AuthService.authenticate`,
 * so a logout or a revocation anywhere ends dashboard access at the next request.
 *
 * @example
 * const guard = new DashboardAuth({ auth, store, cookie, clock: Date.now, sessionTtlMs, loginLimiter, recordDenial });
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
    this.#checkOrigin(ctx);
    const body = await ctx.body();
    let result;
    try {
      result = await this.#o.auth.login({ email: body.email, password: body.password }, meta(ctx));
    } catch (err) {
      throw loginError(err);
    }
    this.#forget(ctx);
    if (result.kind === 'mfa_required') {
      const ttl = Math.max(1_000, Math.min(mfaWaitMs, result.expiresAt.getTime() - this.#o.clock()));
      const session = this.#o.store.create({ kind: 'mfa', mfaToken: result.mfaToken }, ttl);
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
    this.#o.store.delete(session.id);
    return this.#open(ctx, tokens);
  }

  /** `POST /api/logout`: ends the AuthService session too, and clears the cookie. */
  async logout(ctx: RequestContext): Promise<HttpResult> {
    const session = this.#current(ctx);
    if (session) {
      this.#checkCsrf(session, ctx);
      this.#o.store.delete(session.id);
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
      if (err instanceof HttpError && err.status === 401) return { status: 200, body: { authenticated: false } };
      throw err;
    }
  }

  /**
   * Checks a request: a live session (401), for POSTs the same origin and the CSRF token (403),
   * the access token still accepted by the AuthService (401), a dashboard role (403), and for
   * `act` the security_admin role (403).
   */
  async require(ctx: RequestContext, need: { write: boolean; act: boolean }): Promise<DashboardCaller> {
    const session = this.#current(ctx);
    if (!session || session.state.kind !== 'active')
      throw denied(401, 'log in first', 'POST your e-mail and password to api/login');
    const login = session.state;
    if (need.write) this.#checkCsrf(session, ctx);
    await this.#refreshIfDue(session, login, ctx);
    let roles: string[];
    try {
      roles = (await this.#o.auth.authenticate(login.accessToken)).roles;
    } catch (err) {
      if (!(err instanceof PgwardenError) || err.code !== ErrorCodes.AUTH_ACCESS_TOKEN_INVALID) throw err;
      this.#o.store.delete(session.id);
      throw sessionEnded();
    }
    const role = dashboardRole(roles);
    if (!role) {
      this.#o.store.delete(session.id);
      throw denied(403, 'this account may no longer use the dashboard', 'ask for the security_admin or auditor role');
    }
    login.role = role;
    if (need.act && role !== 'security_admin')
      throw denied(403, 'only a security_admin may acknowledge or resolve alerts');
    return { session, login, actor: login.email.length <= 200 ? login.email : login.userId };
  }

  async #open(ctx: RequestContext, tokens: TokenSet): Promise<HttpResult> {
    const { auth, clock } = this.#o;
    const principal = await auth.authenticate(tokens.accessToken);
    const role = dashboardRole(principal.roles);
    if (!role) {
      await auth.logout(principal, meta(ctx)).catch(() => undefined);
      await this.#o
        .recordDenial({ reason: 'no_dashboard_role', addr: ctx.clientAddress }, principal.userId)
        .catch(() => undefined);
      throw denied(403, 'this account may not use the dashboard', 'ask for the security_admin or auditor role');
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
    return this.#o.store.get(readCookie(ctx.header('cookie'), this.#o.cookie.name));
  }

  /** A new login replaces the browser's previous dashboard session. */
  #forget(ctx: RequestContext): void {
    const old = this.#current(ctx);
    if (old) this.#o.store.delete(old.id);
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
    const verdict = this.#o.loginLimiter.take(ctx.clientAddress);
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

/** Login failures as the dashboard answers them: one generic 401 for every credential problem. */
function loginError(err: unknown): unknown {
  if (!(err instanceof PgwardenError)) return err;
  switch (err.code) {
    case ErrorCodes.AUTH_INVALID_CREDENTIALS:
      return badCredentials();
    case ErrorCodes.AUTH_MFA_INVALID:
      return denied(401, 'the code is not valid', 'enter the current code of your authenticator, or a recovery code');
    case ErrorCodes.AUTH_INVALID_INPUT:
      return denied(400, err.message);
    case ErrorCodes.AUTH_BUSY:
      return new HttpError(ErrorCodes.HTTP_UNAVAILABLE, 'the login service is busy; retry in a moment', {
        retryAfterSeconds: 1,
      });
    default:
      return err;
  }
}

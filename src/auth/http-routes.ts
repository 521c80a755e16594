import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { defaultStatusFor, HttpError, type HttpResult, type RequestContext, Router } from '../http/index.js';
import type { AuthService } from './auth-service.js';
import type { AccessGrant, Principal, RequestMeta, TokenSet } from './types.js';

/** HTTP status of each identity error code. */
export function authStatusFor(code: string): number {
  switch (code) {
    case ErrorCodes.AUTH_INVALID_CREDENTIALS:
    case ErrorCodes.AUTH_TOKEN_INVALID:
    case ErrorCodes.AUTH_ACCESS_TOKEN_INVALID:
    case ErrorCodes.AUTH_MFA_INVALID:
      return 401;
    case ErrorCodes.AUTH_PASSWORD_REJECTED:
      return 422;
    case ErrorCodes.AUTH_INVALID_INPUT:
      return 400;
    case ErrorCodes.AUTH_MFA_STATE:
      return 409;
    case ErrorCodes.AUTH_INSUFFICIENT_AAL:
    case ErrorCodes.AUTH_FORBIDDEN:
      return 403;
    case ErrorCodes.AUTH_USER_NOT_FOUND:
      return 404;
    case ErrorCodes.AUTH_BUSY:
    case ErrorCodes.AUTH_NO_SIGNING_KEY:
    case ErrorCodes.AUTH_NOT_INSTALLED:
      return 503;
    default:
      return defaultStatusFor(code);
  }
}

/** What the routes count, for `/metrics`. */
export interface AuthRouteObserver {
  login(outcome: 'session' | 'mfa_required' | 'failed'): void;
  refresh(outcome: 'ok' | 'failed'): void;
}

export interface AuthRoutesOptions {
  /** `admin`: POST /register needs an admin token; `open`: anyone registers, into `openTenant`. */
  registration: 'admin' | 'open';
  openTenant: string;
  observer?: AuthRouteObserver;
}

const bearerChallenge = { 'WWW-Authenticate': 'Bearer error="invalid_token"' };

function bearerToken(ctx: RequestContext): string {
  const header = ctx.header('authorization');
  const match = header ? /^Bearer +([^\s]+)\s*$/i.exec(header) : null;
  if (!match?.[1]) {
    throw new HttpError(ErrorCodes.AUTH_ACCESS_TOKEN_INVALID, 'an access token is required (Authorization: Bearer …)', {
      status: 401,
      headers: bearerChallenge,
    });
  }
  return match[1];
}

const meta = (ctx: RequestContext): RequestMeta => ({
  source: ctx.clientAddress,
  userAgent: ctx.header('user-agent')?.slice(0, 512) ?? null,
});

const tokenBody = (t: TokenSet) => ({
  ...grantBody(t),
  refresh_token: t.refreshToken,
  session_expires_at: t.sessionExpiresAt.toISOString(),
});

const grantBody = (t: AccessGrant) => ({
  access_token: t.accessToken,
  token_type: t.tokenType,
  expires_in: t.expiresIn,
  session_id: t.sessionId,
  user_id: t.userId,
  tenant: t.tenant,
  aal: t.aal,
});

const ok = (body: unknown, status = 200): HttpResult => ({ status, body });
const noContent: HttpResult = { status: 204 };

/**
 * The auth HTTP API as routes on a Router. Every route is a thin call into AuthService; errors
 * become `{ error: { code, message } }` with the status from `authStatusFor`.
 *
 * @example
 * const router = authRoutes(service, { registration: 'admin', openTenant: 'default' });
 */
export function authRoutes(auth: AuthService, options: AuthRoutesOptions): Router {
  const observer = options.observer;
  const principal = async (ctx: RequestContext): Promise<Principal> => {
    try {
      return await auth.authenticate(bearerToken(ctx));
    } catch (err) {
      if (
        err instanceof PgwardenError &&
        err.code === ErrorCodes.AUTH_ACCESS_TOKEN_INVALID &&
        !(err instanceof HttpError)
      ) {
        throw new HttpError(err.code, err.message, { status: 401, headers: bearerChallenge });
      }
      throw err;
    }
  };
  const uuidParam = (ctx: RequestContext, name: string): string => {
    const v = ctx.params[name] ?? '';
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v)) {
      throw new PgwardenError(ErrorCodes.AUTH_INVALID_INPUT, `${name} must be a UUID`);
    }
    return v;
  };
  const optionalString = (v: unknown, field: string): string | null => {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string' || v.length > 500)
      throw new PgwardenError(ErrorCodes.AUTH_INVALID_INPUT, `${field} must be a string`);
    return v;
  };
  const rolesOf = (v: unknown): string[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || !v.every((r) => typeof r === 'string')) {
      throw new PgwardenError(ErrorCodes.AUTH_INVALID_INPUT, 'roles must be an array of strings');
    }
    return v as string[];
  };

  return new Router()
    .add('GET', '/.well-known/jwks.json', async () => ({
      status: 200,
      body: await auth.jwks(),
      headers: { 'Cache-Control': 'public, max-age=60' },
    }))
    .add('POST', '/register', async (ctx) => {
      const body = await ctx.body();
      if (options.registration === 'admin') {
        const admin = await principal(ctx);
        await auth.assertAdmin(admin);
        const r = await auth.register(
          {
            email: body.email,
            password: body.password,
            tenant: body.tenant,
            displayName: body.display_name,
            roles: rolesOf(body.roles),
          },
          meta(ctx),
        );
        return ok({ status: r.created ? 'created' : 'exists', user_id: r.userId }, r.created ? 201 : 200);
      }
      // Open registration: same answer whether or not the address was taken (ASVS 6.3.8).
      await auth.register(
        { email: body.email, password: body.password, tenant: options.openTenant, displayName: body.display_name },
        meta(ctx),
      );
      return ok({ status: 'accepted' }, 202);
    })
    .add('POST', '/login', async (ctx) => {
      const body = await ctx.body();
      try {
        const r = await auth.login({ email: body.email, password: body.password }, meta(ctx));
        observer?.login(r.kind);
        if (r.kind === 'mfa_required') {
          return ok({ status: 'mfa_required', mfa_token: r.mfaToken, expires_at: r.expiresAt.toISOString() });
        }
        return ok(tokenBody(r));
      } catch (err) {
        observer?.login('failed');
        throw err;
      }
    })
    .add('POST', '/mfa/verify', async (ctx) => {
      const body = await ctx.body();
      return ok(
        tokenBody(
          await auth.verifyMfa(
            { mfaToken: body.mfa_token, code: body.code, recoveryCode: body.recovery_code },
            meta(ctx),
          ),
        ),
      );
    })
    .add('POST', '/token/refresh', async (ctx) => {
      const body = await ctx.body();
      try {
        const t = await auth.refresh(body.refresh_token, meta(ctx));
        observer?.refresh('ok');
        return ok(tokenBody(t));
      } catch (err) {
        observer?.refresh('failed');
        throw err;
      }
    })
    .add('POST', '/logout', async (ctx) => {
      await auth.logout(await principal(ctx), meta(ctx));
      return noContent;
    })
    .add('GET', '/me', async (ctx) => {
      const p = await principal(ctx);
      const user = await auth.store.getUser(p.userId);
      return ok({
        user_id: p.userId,
        email: user?.email,
        tenant: p.tenant,
        roles: p.roles,
        aal: p.aal,
        session_id: p.sessionId,
        mfa: user?.mfa ?? false,
      });
    })
    .add('GET', '/sessions', async (ctx) => {
      const p = await principal(ctx);
      const sessions = await auth.listSessions(p);
      return ok({ sessions: sessions.map((s) => ({ ...sessionBody(s), current: s.sessionId === p.sessionId })) });
    })
    .add('DELETE', '/sessions/:id', async (ctx) => {
      const p = await principal(ctx);
      if (!(await auth.endSession(p, uuidParam(ctx, 'id'), meta(ctx)))) {
        throw new HttpError(ErrorCodes.HTTP_NOT_FOUND, 'no such session', { status: 404 });
      }
      return noContent;
    })
    .add('POST', '/sessions/revoke-others', async (ctx) =>
      ok({ ended: await auth.endOtherSessions(await principal(ctx), meta(ctx)) }),
    )
    .add('POST', '/password', async (ctx) => {
      const p = await principal(ctx);
      const body = await ctx.body();
      return ok(
        tokenBody(
          await auth.changePassword(
            p,
            { currentPassword: body.current_password, newPassword: body.new_password },
            meta(ctx),
          ),
        ),
      );
    })
    .add('POST', '/mfa/totp/enrol', async (ctx) => {
      const p = await principal(ctx);
      const body = await ctx.body();
      const r = await auth.enrolTotp(p, { currentPassword: body.current_password }, meta(ctx));
      return ok({ factor_id: r.factorId, secret: r.secret, otpauth_uri: r.otpauthUri });
    })
    .add('POST', '/mfa/totp/activate', async (ctx) => {
      const p = await principal(ctx);
      const body = await ctx.body();
      const r = await auth.activateTotp(p, { code: body.code }, meta(ctx));
      return ok({ recovery_codes: r.recoveryCodes, ...tokenBody(r.tokens) });
    })
    .add('POST', '/mfa/step-up', async (ctx) => {
      const p = await principal(ctx);
      const body = await ctx.body();
      return ok(tokenBody(await auth.stepUp(p, { code: body.code }, meta(ctx))));
    })
    .add('POST', '/mfa/totp/disable', async (ctx) => {
      const p = await principal(ctx);
      const body = await ctx.body();
      await auth.disableTotp(p, { currentPassword: body.current_password }, meta(ctx));
      return noContent;
    })
    .add('POST', '/admin/users/:id/disable', async (ctx) => {
      const p = await principal(ctx);
      const body = await ctx.body().catch(() => ({}) as Record<string, unknown>);
      await auth.setUserStatus(p, uuidParam(ctx, 'id'), 'disabled', optionalString(body.reason, 'reason'));
      return noContent;
    })
    .add('POST', '/admin/users/:id/enable', async (ctx) => {
      const p = await principal(ctx);
      await auth.setUserStatus(p, uuidParam(ctx, 'id'), 'active', null);
      return noContent;
    })
    .add('GET', '/admin/users/:id/sessions', async (ctx) => {
      const p = await principal(ctx);
      return ok({ sessions: (await auth.listUserSessions(p, uuidParam(ctx, 'id'))).map(sessionBody) });
    })
    .add('DELETE', '/admin/users/:id/sessions', async (ctx) => {
      const p = await principal(ctx);
      return ok({ ended: await auth.revokeUserSessions(p, uuidParam(ctx, 'id')) });
    });
}

const sessionBody = (s: {
  sessionId: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  clientAddr: string | null;
  userAgent: string | null;
  aal: string;
}) => ({
  session_id: s.sessionId,
  created_at: s.createdAt.toISOString(),
  last_seen_at: s.lastSeenAt.toISOString(),
  expires_at: s.expiresAt.toISOString(),
  client_addr: s.clientAddr,
  user_agent: s.userAgent,
  aal: s.aal,
});

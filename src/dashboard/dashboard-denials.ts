// How the dashboard says no: every refusal is PW606 with a status (400, 401, 403), apart from the
// rate limit and a busy login service, and credential problems all read alike.
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { HttpError, type RequestContext } from '../http/index.js';
import { loginOriginAllowed } from './csrf.js';

/**
 * A PW606 refusal with its HTTP status.
 *
 * @example
 * throw denied(403, 'cross-origin requests are refused');
 */
export const denied = (status: 400 | 401 | 403, message: string, hint?: string): HttpError =>
  new HttpError(ErrorCodes.MONITOR_DASHBOARD_DENIED, message, hint === undefined ? { status } : { status, hint });

/**
 * The 401 of a session the AuthService no longer accepts.
 *
 * @example
 * throw sessionEnded();
 */
export const sessionEnded = (): HttpError => denied(401, 'the session has ended; log in again');

/**
 * The 403 of a user who holds no dashboard role where it counts.
 *
 * @example
 * if (!role) throw noDashboardRole();
 */
export const noDashboardRole = (): HttpError =>
  denied(
    403,
    'this account may not use the dashboard',
    'ask for the security_admin or auditor role as a global role (or in the dashboard admin tenant)',
  );

/**
 * Refuses a login that neither comes from this host's page (`Origin`) nor says it is a program
 * (`X-Requested-With`): see {@link loginOriginAllowed}.
 *
 * @example
 * checkLoginOrigin(ctx); // throws 403 PW606 for a cross-site form or fetch
 */
export function checkLoginOrigin(ctx: RequestContext): void {
  const headers = {
    origin: ctx.header('origin'),
    referer: ctx.header('referer'),
    requestedWith: ctx.header('x-requested-with'),
    host: ctx.header('host'),
  };
  if (!loginOriginAllowed(headers))
    throw denied(
      403,
      'a login must come from the dashboard page, or carry an X-Requested-With header',
      'a program logging in sends X-Requested-With (any value) and no foreign Origin',
    );
}

/**
 * Login failures as the dashboard answers them: one generic 401 for every credential problem.
 *
 * @example
 * try { await auth.login(input) } catch (err) { throw loginError(err) }
 */
export function loginError(err: unknown): unknown {
  if (!(err instanceof PgwardenError)) return err;
  switch (err.code) {
    case ErrorCodes.AUTH_INVALID_CREDENTIALS:
      return denied(401, 'invalid e-mail or password', 'check both and try again');
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

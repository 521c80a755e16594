// The one table from an error to the HTTP answer a client sees. Token, claim and database-side
// context errors share it, so a revoked session answers the same whether the verifier or the
// database found out. Bodies are fixed texts: never an error's own message, a stack or SQL.
import { STATUS_CODES } from 'node:http';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { securityHeaders } from '../../http/index.js';
import { claimsRefusalStatus } from '../identity.js';

/** The answer to a refused or failed request. */
export interface HttpRejection {
  status: number;
  /** `WWW-Authenticate` on 401/403 (and 400 `invalid_request`), `Retry-After` on 503. */
  headers: Record<string, string>;
  /** `error`: the RFC 6750 / RFC 6749 error word; `code`: the stable pgwarden code (or SQLSTATE). */
  body: { error: string; code: string; message: string };
  /** Why, for logs and metrics only (never sent): the verifier's reason, `session-ended` … */
  reason: string;
}

/**
 * A request refused because of its credentials, found while the handler ran (a session that
 * ended, roles that changed). It carries its answer, and `status`/`headers` as Express and
 * Fastify's default error handlers read them, so it answers correctly even without ours.
 *
 * @example
 * app.use((err, req, res, next) => {
 *   if (err instanceof ContextRejectedError) return res.status(err.status).set(err.headers).json(err.rejection.body);
 *   next(err);
 * });
 */
export class ContextRejectedError extends PgwardenError {
  readonly rejection: HttpRejection;
  readonly status: number;
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string>>;

  constructor(rejection: HttpRejection, cause?: unknown) {
    const code = /^PW\d{3}$/.test(rejection.body.code) ? rejection.body.code : ErrorCodes.JWT_INVALID;
    super(code as PgwardenError['code'], rejection.body.message, { detail: rejection.reason, cause });
    this.name = 'ContextRejectedError';
    this.rejection = rejection;
    this.status = rejection.status;
    this.statusCode = rejection.status;
    this.headers = rejection.headers;
  }

  /** The answer as a fetch `Response`: Hono's default error handler sends it as is. */
  getResponse(): Response {
    return toResponse(this.rejection);
  }
}

/**
 * Headers that describe a body or an outcome: dropped when an error answer replaces what a
 * handler prepared. Others (CORS, request ids) stay, so a browser can still read the error.
 */
export const STALE_HEADERS: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-range',
  'content-disposition',
  'etag',
  'last-modified',
  'location',
  'set-cookie',
]);

/** An answer as a fetch `Response` (JSON body, the security headers of every pgwarden answer). */
export function toResponse(rejection: HttpRejection): Response {
  return new Response(JSON.stringify(rejection.body), {
    status: rejection.status,
    headers: { ...securityHeaders, ...rejection.headers, 'Content-Type': 'application/json; charset=utf-8' },
  });
}

/** Settings the table needs. */
export interface RejectionSettings {
  /** `realm` of every challenge; omitted when undefined. */
  realm: string | undefined;
  /** `Retry-After` of a 503, seconds. */
  retryAfterSeconds: number;
}

type Challenge = 'bare' | 'invalid_token' | 'invalid_request' | 'insufficient_scope';

/** A `WWW-Authenticate: Bearer …` value (RFC 6750 §3). Descriptions are fixed texts of ours. */
export function bearerChallenge(challenge: Challenge, realm: string | undefined, description?: string): string {
  const params: string[] = [];
  if (realm !== undefined) params.push(`realm="${realm}"`);
  if (challenge !== 'bare') params.push(`error="${challenge}"`);
  if (description !== undefined) params.push(`error_description="${description}"`);
  return params.length === 0 ? 'Bearer' : `Bearer ${params.join(', ')}`;
}

/** A realm must fit a quoted-string without escapes: printable ASCII, no `"` or `\`. */
export function isValidRealm(realm: string): boolean {
  return /^[\x20-\x7e]{1,128}$/.test(realm) && !/["\\]/.test(realm);
}

function rejection(
  settings: RejectionSettings,
  status: number,
  error: string,
  code: string,
  message: string,
  reason: string,
  challenge?: Challenge,
  description?: string,
): HttpRejection {
  const headers: Record<string, string> = {};
  if (challenge !== undefined) headers['WWW-Authenticate'] = bearerChallenge(challenge, settings.realm, description);
  if (status === 503) headers['Retry-After'] = String(settings.retryAfterSeconds);
  return { status, headers, body: { error, code, message }, reason };
}

/** 400 `invalid_request`: several credentials, several Authorization headers, a token with spaces. */
export function invalidRequest(settings: RejectionSettings, reason: string): HttpRejection {
  return rejection(
    settings,
    400,
    'invalid_request',
    ErrorCodes.JWT_INVALID,
    'send exactly one bearer token in one Authorization header',
    reason,
    'invalid_request',
  );
}

// The reason of a PW323 is its detail without the "; http 4xx" suffix: a fixed text that names
// no role and no claim value.
const refusalReason = (err: PgwardenError) => (err.detail ?? 'claims-refused').replace(/; http \d{3}$/, '');

const SERVER_CODES = new Set<string>([
  ErrorCodes.CONTEXT_INVALID,
  ErrorCodes.CONTEXT_ROLE_REFUSED,
  ErrorCodes.CONTEXT_TRANSACTION_CONTROL,
  ErrorCodes.CONTEXT_CONFIG_INVALID,
  ErrorCodes.CONTEXT_CLOSED,
  ErrorCodes.JWT_CONFIG_INVALID,
]);

const CREDENTIAL_CODES = new Set<string>([
  ErrorCodes.JWT_INVALID,
  ErrorCodes.JWT_CLAIMS_REFUSED,
  ErrorCodes.CONTEXT_TOKEN_REQUIRED,
  ErrorCodes.CONTEXT_SESSION_ENDED,
  ErrorCodes.CONTEXT_STALE_TOKEN,
]);

/** True for the answers that refuse a credential (logged as `context.token_rejected`). */
export const isCredentialRejection = (r: HttpRejection): boolean => r.status < 500 && CREDENTIAL_CODES.has(r.body.code);

/**
 * The answer to any error: the status table of docs/middleware.md. Anything it does not know is
 * a 500 that says `internal error`; a framework's own 4xx error (a body that does not parse)
 * keeps its status.
 */
export function rejectionFor(err: unknown, settings: RejectionSettings): HttpRejection {
  if (err instanceof ContextRejectedError) return err.rejection;
  if (err instanceof PgwardenError) {
    switch (err.code) {
      case ErrorCodes.JWT_INVALID:
        return rejection(
          settings,
          401,
          'invalid_token',
          err.code,
          'the bearer token is not valid',
          err.detail ?? 'invalid',
          'invalid_token',
        );
      case ErrorCodes.JWT_CLAIMS_REFUSED:
        return claimsRefusalStatus(err) === 403
          ? rejection(
              settings,
              403,
              'insufficient_scope',
              err.code,
              'the token does not allow this request',
              refusalReason(err),
              'insufficient_scope',
            )
          : rejection(
              settings,
              401,
              'invalid_token',
              err.code,
              'the bearer token cannot be used here',
              refusalReason(err),
              'invalid_token',
            );
      case ErrorCodes.CONTEXT_TOKEN_REQUIRED:
        return rejection(
          settings,
          401,
          'unauthorized',
          err.code,
          'a bearer token is required',
          'no-credentials',
          'bare',
        );
      case ErrorCodes.CONTEXT_SESSION_ENDED:
        return rejection(
          settings,
          401,
          'invalid_token',
          err.code,
          'the session has ended; sign in again',
          'session-ended',
          'invalid_token',
        );
      case ErrorCodes.CONTEXT_STALE_TOKEN:
        return rejection(
          settings,
          401,
          'invalid_token',
          err.code,
          "the user's roles changed after the token was issued; refresh the token",
          'roles-changed',
          'invalid_token',
          'the roles changed; refresh the token',
        );
      case ErrorCodes.JWT_KEYS_UNAVAILABLE:
        return rejection(
          settings,
          503,
          'temporarily_unavailable',
          err.code,
          'the token cannot be checked right now; retry later',
          'keys-unavailable',
        );
    }
    if (SERVER_CODES.has(err.code))
      return rejection(settings, 500, 'server_error', err.code, 'internal error', err.code);
  }
  if (sqlStateOf(err) === '42501') {
    // Row-level security WITH CHECK, or a missing grant: the request's role may not do this.
    return rejection(settings, 403, 'insufficient_privilege', '42501', 'permission denied', 'insufficient-privilege');
  }
  const status = clientErrorStatus(err);
  if (status !== undefined) {
    const text = (STATUS_CODES[status] ?? 'bad request').toLowerCase();
    const e = err as { code?: unknown; expose?: unknown; message?: unknown };
    const code = typeof e.code === 'string' && /^[A-Z][A-Z0-9_]{2,63}$/.test(e.code) ? e.code : `HTTP_${status}`;
    // http-errors marks messages meant for clients `expose`; Fastify writes its 4xx messages for them.
    const safe =
      (e.expose === true || code.startsWith('FST_')) && typeof e.message === 'string' && e.message.length <= 500;
    return rejection(settings, status, 'invalid_request', code, safe ? (e.message as string) : text, `http-${status}`);
  }
  return rejection(settings, 500, 'server_error', ErrorCodes.INTERNAL, 'internal error', 'internal');
}

function sqlStateOf(err: unknown): string | undefined {
  if (err instanceof PgwardenError) return err.sqlState;
  const code = (err as { code?: unknown } | null)?.code;
  // node-postgres' DatabaseError carries the SQLSTATE in `code` and names the `severity`.
  return typeof code === 'string' && typeof (err as { severity?: unknown }).severity === 'string' ? code : undefined;
}

function clientErrorStatus(err: unknown): number | undefined {
  if (err === null || typeof err !== 'object' || err instanceof PgwardenError) return undefined;
  const { status, statusCode } = err as { status?: unknown; statusCode?: unknown };
  const value = typeof statusCode === 'number' ? statusCode : status;
  return typeof value === 'number' && Number.isInteger(value) && value >= 400 && value <= 499 ? value : undefined;
}

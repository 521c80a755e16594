import { type ServerResponse, STATUS_CODES } from 'node:http';
import { ErrorCodes, type ErrorCode, PgwardenError, type PgwardenErrorOptions } from '../errors/index.js';

/** Extra fields of an {@link HttpError}. */
export interface HttpErrorOptions extends PgwardenErrorOptions {
  /** The status to answer with, when the code alone does not decide it (PW051: 400 or 415). */
  status?: number;
  /** Headers to send with the error (`Allow` on a 405). */
  headers?: Record<string, string>;
  /** Sent as `Retry-After`, rounded up to whole seconds. */
  retryAfterSeconds?: number;
}

/**
 * An error meant for the HTTP client: its message is written for them and sent as is, with the
 * status and headers it carries. Throw it from a handler to answer with a specific status.
 *
 * @example
 * throw new HttpError(ErrorCodes.HTTP_BAD_REQUEST_BODY, 'send the body as application/json', { status: 415 });
 */
export class HttpError extends PgwardenError {
  readonly status: number | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: HttpErrorOptions = {}) {
    super(code, message, options);
    this.name = 'HttpError';
    this.status = options.status;
    this.headers = { ...options.headers };
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/**
 * Maps an error code to an HTTP status. Codes it does not know should map to 500. An
 * {@link HttpError}'s own status comes first.
 *
 * @example
 * const statusFor: StatusFor = (code) => (code === 'PW300' ? 401 : defaultStatusFor(code));
 */
export type StatusFor = (code: string) => number;

const httpStatuses: Readonly<Record<string, number>> = {
  [ErrorCodes.HTTP_BODY_TOO_LARGE]: 413,
  [ErrorCodes.HTTP_BAD_REQUEST_BODY]: 400,
  [ErrorCodes.HTTP_NOT_FOUND]: 404,
  [ErrorCodes.HTTP_METHOD_NOT_ALLOWED]: 405,
  [ErrorCodes.HTTP_RATE_LIMITED]: 429,
  [ErrorCodes.HTTP_UNAVAILABLE]: 503,
};

/**
 * The status of the PW05x HTTP codes; every other code is 500. Services wrap it to add their own
 * codes (the auth API maps PW300 to 401, …).
 *
 * @example
 * const statusFor: StatusFor = (code) => (code === ErrorCodes.AUTH_FORBIDDEN ? 403 : defaultStatusFor(code));
 */
export function defaultStatusFor(code: string): number {
  return httpStatuses[code] ?? 500;
}

/**
 * Headers on every response: never cached, never sniffed as HTML, no referrer leaked onwards.
 *
 * @example
 * res.writeHead(204, { ...securityHeaders });
 */
export const securityHeaders: Readonly<Record<string, string>> = Object.freeze({
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
});

/**
 * Sends `body` as JSON (`undefined`: no body). Later header sets win; `Content-Length` is
 * always computed. Serialises before writing anything, so a body that cannot be serialised
 * throws with the response still untouched.
 *
 * @example
 * sendJson(res, 200, { status: 'ok' }, { 'X-Request-Id': requestId });
 */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  ...headerSets: Array<Readonly<Record<string, string>> | undefined>
): void {
  const payload = body === undefined ? undefined : (JSON.stringify(body) as string | undefined);
  const type: Record<string, string> =
    payload === undefined ? {} : { 'Content-Type': 'application/json; charset=utf-8' };
  send(res, status, payload, mergeHeaders(type, securityHeaders, ...headerSets));
}

/**
 * Sends plain text, for `/metrics`.
 *
 * @example
 * sendText(res, 200, metrics.render(), 'text/plain; version=0.0.4; charset=utf-8');
 */
export function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  contentType: string,
  headers?: Readonly<Record<string, string>>,
): void {
  send(res, status, text, mergeHeaders(securityHeaders, headers, { 'Content-Type': contentType }));
}

/** What {@link errorResponse} decided. */
export interface ErrorResponse {
  status: number;
  /** The code the client sees: PW000 for a 500. */
  code: string;
  body: { error: { code: string; message: string; detail?: string; hint?: string; requestId?: string } };
  headers: Record<string, string>;
  /** True when the server should report the error (a 500, or a 5xx it did not raise on purpose). */
  report: boolean;
}

/**
 * Turns anything thrown into the response a client may see: `{ error: { code, message } }` with
 * a status from the error or `statusFor`. A 500 says only `internal error`, code PW000 and the
 * request id; a 5xx that is not an {@link HttpError} keeps its code but not its message.
 *
 * @example
 * const { status, body } = errorResponse(new Error('db password wrong'), { requestId: 'r1' });
 * // 500, { error: { code: 'PW000', message: 'internal error', requestId: 'r1' } }
 */
export function errorResponse(error: unknown, options: { requestId: string; statusFor?: StatusFor }): ErrorResponse {
  const status = statusOf(error, options.statusFor ?? defaultStatusFor);
  if (!(error instanceof PgwardenError) || status === 500) {
    const body = { error: { code: ErrorCodes.INTERNAL, message: 'internal error', requestId: options.requestId } };
    return { status: 500, code: ErrorCodes.INTERNAL, body, headers: {}, report: true };
  }
  const forClient = error instanceof HttpError || status < 500;
  const body: ErrorResponse['body'] = {
    error: {
      code: error.code,
      message: forClient ? error.message : (STATUS_CODES[status] ?? 'server error').toLowerCase(),
    },
  };
  if (forClient && error.detail) body.error.detail = error.detail;
  if (forClient && error.hint) body.error.hint = error.hint;
  const headers: Record<string, string> = error instanceof HttpError ? { ...error.headers } : {};
  if (error instanceof HttpError && error.retryAfterSeconds !== undefined)
    headers['Retry-After'] = String(Math.max(0, Math.ceil(error.retryAfterSeconds)));
  return { status, code: error.code, body, headers, report: status >= 500 && !(error instanceof HttpError) };
}

/**
 * Sends {@link errorResponse}'s answer.
 *
 * @example
 * sendError(res, err, { requestId, statusFor }, { 'X-Request-Id': requestId });
 */
export function sendError(
  res: ServerResponse,
  error: unknown,
  options: { requestId: string; statusFor?: StatusFor },
  headers?: Readonly<Record<string, string>>,
): ErrorResponse {
  const response = errorResponse(error, options);
  sendJson(res, response.status, response.body, response.headers, headers);
  return response;
}

function statusOf(error: unknown, statusFor: StatusFor): number {
  if (!(error instanceof PgwardenError)) return 500;
  let status: number;
  try {
    status = error instanceof HttpError && error.status !== undefined ? error.status : statusFor(error.code);
  } catch {
    return 500;
  }
  return Number.isInteger(status) && status >= 400 && status <= 599 ? status : 500;
}

function send(res: ServerResponse, status: number, payload: string | undefined, headers: Record<string, string>): void {
  // 204, 304 and 1xx never carry a body, nor a Content-Length.
  if (payload !== undefined || (status >= 200 && status !== 204 && status !== 304))
    headers['Content-Length'] = String(payload === undefined ? 0 : Buffer.byteLength(payload));
  res.writeHead(status, headers);
  res.end(payload);
}

/** Merges header sets case-insensitively (the last spelling and value win), dropping Content-Length. */
function mergeHeaders(...sets: Array<Readonly<Record<string, string>> | undefined>): Record<string, string> {
  const byName = new Map<string, [string, string]>();
  for (const set of sets) {
    for (const [name, value] of Object.entries(set ?? {})) byName.set(name.toLowerCase(), [name, value]);
  }
  byName.delete('content-length');
  return Object.fromEntries(byName.values());
}

// The framework-neutral half of the request middleware: from an Authorization header to an
// admitted request (identity + lazy database handle) or a refusal, plus the events and counters
// of both. The Express, Fastify and Hono adapters only read headers and write answers.
import type { Counter, MetricsRegistry } from '../../http/index.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import type { ContextPool, RunOptions } from '../request-context.js';
import { parseBearer } from '../verify/index.js';
import {
  ContextRejectedError,
  type HttpRejection,
  invalidRequest,
  isCredentialRejection,
  isValidRealm,
  type RejectionSettings,
  rejectionFor,
} from './rejection.js';
import { RequestContextHandle } from './request-handle.js';

export { ContextRejectedError, type HttpRejection } from './rejection.js';
export type { ContextHandle } from './request-handle.js';

/** What is known about a request before it is admitted: for logs, never the token. */
export interface RequestInfo {
  method: string;
  /** The path without the query string (which may carry secrets). */
  path: string;
  /** The client address as the framework sees it (its proxy settings apply). */
  client: string;
}

/** A refused credential: logged at `warn` and passed to `onRejected`. Never holds the token. */
export interface TokenRejectedEvent extends RequestInfo {
  kind: 'context.token_rejected';
  /** The stable code: PW320 (token), PW323 (claims), PW331 (session ended), PW336 (no token) … */
  code: string;
  /** A short reason: the verifier's (`signature`, `algorithm` …), `bearer-empty`, `session-ended` … */
  reason: string;
  status: number;
}

/** The slice of a pino logger the middleware uses. */
export interface ContextLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Options of every adapter (`expressContext`, `fastifyContext`, `honoContext`). */
export interface ContextMiddlewareOptions {
  /** Verifies tokens and runs statements (`createContextPool`, with a `verifier`). */
  contextPool: ContextPool;
  /** `realm` of every `WWW-Authenticate` challenge. Printable ASCII without `"` or `\`. */
  realm?: string;
  /** `Retry-After` of the 503 sent when verification keys cannot be fetched. Default 5. */
  retryAfterSeconds?: number;
  /** Methods whose statements run read-only. Default GET, HEAD, OPTIONS. */
  readOnlyMethods?: readonly string[];
  /** Isolation of read-write request transactions. Default the server's. */
  isolation?: RunOptions['isolation'];
  /** pino (or any logger with `warn` and `error`): refusals at warn, server errors at error. */
  logger?: ContextLogger;
  /** Called for every refused credential, for an audit trail or an alerting hook. */
  onRejected?: (event: TokenRejectedEvent) => void;
  /** Registers `pgwarden_context_*` counters here, for `/metrics`. */
  metrics?: MetricsRegistry;
}

/** Counters for logs and `/metrics`. */
export interface ContextMiddlewareStats {
  /** Requests admitted with a token, and without one (the anonymous role). */
  admitted: { token: number; anonymous: number };
  /** Refusals of credentials (400/401/403), by code. */
  rejected: number;
  rejectedBy: Record<string, number>;
  /** Answers of 5xx (503 included) made by the middleware or its error handlers. */
  serverErrors: number;
  /** Read-write request transactions: opened (a connection taken), committed, rolled back. */
  transactions: { opened: number; committed: number; rolledBack: number };
  statements: number;
}

/** The outcome of `ContextGuard.admit`. */
export type Admission = { ok: true; handle: RequestContextHandle } | { ok: false; rejection: HttpRejection };

const severalBearer = /,\s*bearer(?:\s|$)/i;

/**
 * The bearer token of an `Authorization` header (all its values, when the framework keeps
 * duplicates), `null` for no credentials or another scheme (`Basic` is not a JWT). Throws a
 * `ContextRejectedError`: 400 `invalid_request` for two headers, two credentials or a token with
 * spaces; 401 `invalid_token` for an empty `Bearer` or a token outside the b64token alphabet.
 *
 * @example
 * bearerFromHeader('bearer eyJ…');        // 'eyJ…' (the scheme is case-insensitive)
 * bearerFromHeader('Basic dXNlcjpwdw=='); // null
 * bearerFromHeader('Bearer a b', s);      // throws: 400 invalid_request
 */
export function bearerFromHeader(
  values: string | readonly string[] | undefined,
  settings: RejectionSettings = { realm: undefined, retryAfterSeconds: 5 },
): string | null {
  const list = values === undefined ? [] : typeof values === 'string' ? [values] : values;
  if (list.length > 1) throw new ContextRejectedError(invalidRequest(settings, 'several-headers'));
  const header = (list[0] ?? '').trim();
  if (header === '') return null;
  const scheme = /^[^\s,]+/.exec(header)?.[0] ?? '';
  if (scheme.toLowerCase() !== 'bearer') {
    if (severalBearer.test(header)) throw new ContextRejectedError(invalidRequest(settings, 'several-credentials'));
    return null;
  }
  const credentials = header.slice(scheme.length).replace(/^ +/, '');
  if (/[\s,]/.test(credentials)) throw new ContextRejectedError(invalidRequest(settings, 'several-credentials'));
  try {
    return parseBearer(`Bearer ${credentials}`);
  } catch (err) {
    throw new ContextRejectedError(rejectionFor(err, settings), err);
  }
}

/** The `Authorization` values of a Node request, duplicates included (Node keeps only the first). */
export function authorizationValues(rawHeaders: readonly string[]): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === 'authorization') values.push(rawHeaders[i + 1]!);
  }
  return values;
}

interface Metrics {
  admitted: Counter<'identity'>;
  rejected: Counter<'code' | 'status'>;
  transactions: Counter<'outcome'>;
  serverErrors: Counter<'code'>;
}

/**
 * The shared core of the adapters: admits or refuses requests, maps errors to answers, logs and
 * counts. One guard can serve several apps; pass it instead of options to share its counters.
 *
 * @example
 * const guard = createContextGuard({ contextPool, realm: 'notes', logger });
 * app.use(expressContext(guard).middleware);
 * guard.stats().rejectedBy; // { PW320: 3, PW336: 1 }
 */
export class ContextGuard {
  readonly contextPool: ContextPool;
  readonly #settings: RejectionSettings;
  readonly #readOnly: Set<string>;
  readonly #options: ContextMiddlewareOptions;
  readonly #metrics: Metrics | undefined;
  /** Errors a handle translated, and so already reported; weak, so nothing outlives its request. */
  readonly #reported = new WeakSet<object>();
  readonly #stats: ContextMiddlewareStats = {
    admitted: { token: 0, anonymous: 0 },
    rejected: 0,
    rejectedBy: {},
    serverErrors: 0,
    transactions: { opened: 0, committed: 0, rolledBack: 0 },
    statements: 0,
  };

  constructor(options: ContextMiddlewareOptions) {
    if (options.realm !== undefined && !isValidRealm(options.realm)) {
      throw new PgwardenError(ErrorCodes.CONTEXT_CONFIG_INVALID, 'realm must be printable ASCII without " or \\');
    }
    const retry = options.retryAfterSeconds ?? 5;
    if (!Number.isInteger(retry) || retry < 0 || retry > 3600) {
      throw new PgwardenError(ErrorCodes.CONTEXT_CONFIG_INVALID, 'retryAfterSeconds must be a whole number 0..3600');
    }
    this.contextPool = options.contextPool;
    this.#options = options;
    this.#settings = { realm: options.realm, retryAfterSeconds: retry };
    this.#readOnly = new Set((options.readOnlyMethods ?? ['GET', 'HEAD', 'OPTIONS']).map((m) => m.toUpperCase()));
    const m = options.metrics;
    this.#metrics = m && {
      admitted: m.counter('pgwarden_context_admitted_total', 'Requests admitted, by identity kind.', ['identity']),
      rejected: m.counter('pgwarden_context_rejected_total', 'Credentials refused, by code and status.', [
        'code',
        'status',
      ]),
      transactions: m.counter('pgwarden_context_transactions_total', 'Request transactions, by outcome.', ['outcome']),
      serverErrors: m.counter('pgwarden_context_server_errors_total', 'Requests answered 5xx, by code.', ['code']),
    };
  }

  /**
   * Verifies the request's credentials and maps them to an identity, before any database work:
   * a refused token never takes a connection [J-26]. Refusals are logged and counted here.
   */
  async admit(authorization: string | readonly string[] | undefined, request: RequestInfo): Promise<Admission> {
    try {
      const token = bearerFromHeader(authorization, this.#settings);
      const anonymous = token === null;
      const identity = await this.contextPool.identify(token);
      const handle = new RequestContextHandle(
        this.contextPool,
        identity,
        this.#readOnly.has(request.method.toUpperCase()),
        this.#options.isolation,
        {
          translate: (err) => this.#translate(err, request),
          observe: (event) => this.#observe(event),
        },
      );
      this.#stats.admitted[anonymous ? 'anonymous' : 'token'] += 1;
      this.#metrics?.admitted.inc({ identity: anonymous ? 'anonymous' : 'token' });
      return { ok: true, handle };
    } catch (err) {
      return { ok: false, rejection: this.answer(err, request) };
    }
  }

  /**
   * The answer to an error thrown while a request was served (the adapters' error handlers call
   * it): the status table, logged and counted. Credential refusals already reported are not
   * reported again.
   */
  answer(err: unknown, request: RequestInfo): HttpRejection {
    const rejection = rejectionFor(err, this.#settings);
    const reported = err instanceof ContextRejectedError && this.#reported.has(err);
    if (!reported) this.#report(rejection, request, err);
    return rejection;
  }

  /** A copy of the counters. */
  stats(): ContextMiddlewareStats {
    return structuredClone(this.#stats);
  }

  #translate(err: unknown, request: RequestInfo): unknown {
    if (err instanceof ContextRejectedError || !(err instanceof PgwardenError)) return err;
    const rejection = rejectionFor(err, this.#settings);
    if (!isCredentialRejection(rejection)) return err;
    const translated = new ContextRejectedError(rejection, err);
    this.#report(rejection, request, err);
    this.#reported.add(translated);
    return translated;
  }

  #report(rejection: HttpRejection, request: RequestInfo, err: unknown): void {
    if (isCredentialRejection(rejection)) {
      const event: TokenRejectedEvent = {
        kind: 'context.token_rejected',
        code: rejection.body.code,
        reason: rejection.reason,
        status: rejection.status,
        method: request.method,
        path: request.path,
        client: request.client,
      };
      this.#stats.rejected += 1;
      this.#stats.rejectedBy[event.code] = (this.#stats.rejectedBy[event.code] ?? 0) + 1;
      this.#metrics?.rejected.inc({ code: event.code, status: String(event.status) });
      // A hook that throws must not turn a refusal into a 500.
      attempt(() => this.#options.logger?.warn(event, 'bearer credentials rejected'));
      attempt(() => this.#options.onRejected?.(event));
    } else if (rejection.status >= 500) {
      this.#stats.serverErrors += 1;
      this.#metrics?.serverErrors.inc({ code: rejection.body.code });
      const event = { kind: 'context.request_failed', code: rejection.body.code, status: rejection.status, ...request };
      attempt(() => this.#options.logger?.error({ ...event, err }, 'request failed'));
    }
  }

  #observe(event: 'opened' | 'committed' | 'rolled_back' | 'statement'): void {
    const t = this.#stats.transactions;
    if (event === 'statement') this.#stats.statements += 1;
    else if (event === 'opened') t.opened += 1;
    else if (event === 'committed') t.committed += 1;
    else t.rolledBack += 1;
    if (event !== 'statement') this.#metrics?.transactions.inc({ outcome: event });
  }
}

function attempt(fn: () => void): void {
  try {
    fn();
  } catch {
    // Logging and hooks are best effort; the answer stands.
  }
}

/**
 * A guard from options (or the guard itself), for the adapters.
 *
 * @example
 * const guard = createContextGuard({ contextPool, realm: 'api' });
 */
export function createContextGuard(options: ContextMiddlewareOptions | ContextGuard): ContextGuard {
  return options instanceof ContextGuard ? options : new ContextGuard(options);
}

/** The path of a request target without its query string. */
export const pathOf = (url: string | undefined): string => (url ?? '/').split('?', 1)[0] || '/';

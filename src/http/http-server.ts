import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { clientAddress } from './client-address.js';
import { readJsonBody } from './json-body.js';
import type { Counter, Histogram, MetricsRegistry } from './metrics.js';
import { TokenBucketLimiter, type TokenBucketLimiterOptions } from './rate-limiter.js';
import type { HttpResult, RequestContext, RouteMatch, Router } from './router.js';
import { HttpError, sendError, sendJson, sendText, type StatusFor } from './send.js';

/** One request served (every status, built-in routes included). */
export interface HttpRequestEvent {
  kind: 'http-request';
  method: string;
  /** The route pattern (`/users/:id`), `unmatched` when none matched. */
  route: string;
  status: number;
  durationMs: number;
  requestId: string;
}

/** A request that failed on the server's side: the error the client never sees. */
export interface HttpErrorEvent {
  kind: 'http-error';
  /** The error's own code (PW000 for anything that is not a PgwardenError). */
  code: string;
  requestId: string;
  error: unknown;
}

/**
 * What an HTTP service reports to `onEvent`, for the logger and the dashboard.
 *
 * @example
 * onEvent: (e) => (e.kind === 'http-error' ? log.error({ err: e.error, requestId: e.requestId }, 'request failed') : undefined)
 */
export type HttpEvent = HttpRequestEvent | HttpErrorEvent;

/** Settings of {@link createHttpService}. */
export interface HttpServiceOptions {
  router: Router;
  /** Interface to bind (default `127.0.0.1`). */
  host?: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** Largest JSON body `ctx.body()` reads (default 16 KiB). */
  bodyLimitBytes?: number;
  /** Token bucket per client address, checked before routing; `/live`, `/ready`, `/metrics` are exempt. */
  rateLimit?: { perClient: TokenBucketLimiterOptions };
  /** See `clientAddress` (default false: the socket's peer). */
  trustProxy?: boolean | number;
  metrics: MetricsRegistry;
  /** Readiness for `/ready`; a rejection or no answer within `readyTimeoutMs` counts as not ready. */
  ready: () => Promise<boolean>;
  onEvent?: (event: HttpEvent) => void;
  /** Status for an error code (default `defaultStatusFor`: the PW05x codes, else 500). */
  statusFor?: StatusFor;
  /** Time to receive the request headers (default 10 s). */
  headersTimeoutMs?: number;
  /** Time to receive the whole request (default 30 s). */
  requestTimeoutMs?: number;
  /** How long an idle kept-alive connection stays open (default 5 s). */
  keepAliveTimeoutMs?: number;
  /** How long `close()` lets in-flight requests finish before cutting connections (default 10 s). */
  shutdownTimeoutMs?: number;
  /** How long `/ready` waits for `ready()` (default 2 s). */
  readyTimeoutMs?: number;
}

/** A service made by {@link createHttpService}. */
export interface HttpService {
  /** Binds the port; resolves with the base URL (`http://127.0.0.1:54321`). */
  listen(): Promise<{ url: string; port: number }>;
  /** Stops accepting, lets in-flight requests finish (up to `shutdownTimeoutMs`), closes every connection. */
  close(): Promise<void>;
  server: Server;
}

const plainMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const builtinRoutes = new Set(['/live', '/ready', '/metrics']);

/**
 * The rate-limit bucket of an address: an IPv4 address, or the /64 of an IPv6 one (a single
 * IPv6 client holds a whole /64 and could otherwise use a fresh address per request).
 */
export function rateLimitKey(address: string): string {
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * The HTTP server every pgwarden service runs: routing, JSON bodies with limits, per-client
 * rate limiting, security headers, request ids, `/live` `/ready` `/metrics`, request metrics and
 * events, timeouts and graceful shutdown. Errors reach clients as `{ error: { code, message } }`;
 * a 500 reveals nothing but its request id.
 *
 * @example
 * const router = new Router().add('GET', '/hello/:name', async ({ params }) => ({ status: 200, body: { hi: params.name } }));
 * const service = createHttpService({ router, port: 8080, metrics: new MetricsRegistry(), ready: async () => true });
 * const { url } = await service.listen();
 * // … on SIGTERM:
 * await service.close();
 */
export function createHttpService(options: HttpServiceOptions): HttpService {
  const svc: Service = {
    options,
    bodyLimitBytes: options.bodyLimitBytes ?? 16 * 1024,
    limiter: options.rateLimit && new TokenBucketLimiter(options.rateLimit.perClient),
    requests: options.metrics.counter('pgwarden_http_requests_total', 'HTTP requests served.', [
      'route',
      'method',
      'status',
    ]),
    durations: options.metrics.histogram(
      'pgwarden_http_request_duration_seconds',
      'Time to answer an HTTP request, in seconds.',
      ['route', 'method'],
    ),
    emit: (event) => {
      try {
        options.onEvent?.(event);
      } catch {
        // An observer that fails must not fail the request it observes.
      }
    },
    closing: false,
  };
  let inFlight = 0;
  const server = createServer(
    {
      maxHeaderSize: 16 * 1024,
      headersTimeout: options.headersTimeoutMs ?? 10_000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? 5_000,
    },
    (req, res) => {
      inFlight += 1;
      void handle(svc, req, res).finally(() => {
        inFlight -= 1;
        if (svc.closing && inFlight === 0) server.closeIdleConnections();
      });
    },
  );
  let closed: Promise<void> | undefined;
  return {
    server,
    listen: () => listen(server, options.host ?? '127.0.0.1', options.port),
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        svc.closing = true;
        const deadline = setTimeout(() => server.closeAllConnections(), options.shutdownTimeoutMs ?? 10_000);
        // Node closes idle kept-alive connections here; busy ones close after their response,
        // which carries `Connection: close` from now on.
        server.close(() => {
          clearTimeout(deadline);
          resolve();
        });
      })),
  };
}

/** What the request functions share: one per service, never module-wide. */
interface Service {
  options: HttpServiceOptions;
  bodyLimitBytes: number;
  limiter: TokenBucketLimiter | undefined;
  requests: Counter<'route' | 'method' | 'status'>;
  durations: Histogram<'route' | 'method'>;
  emit: (event: HttpEvent) => void;
  closing: boolean;
}

async function handle(svc: Service, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = performance.now();
  const requestId = randomUUID();
  const method = req.method ?? 'GET';
  let route = 'unmatched';
  const headers = (extra?: Record<string, string>): Record<string, string> => ({
    'X-Request-Id': requestId,
    ...(svc.closing ? { Connection: 'close' } : {}),
    ...extra,
  });
  try {
    if (svc.closing) throw new HttpError(ErrorCodes.HTTP_UNAVAILABLE, 'the service is shutting down');
    const { pathname, query } = parseTarget(req.url ?? '/');
    if (builtinRoutes.has(pathname)) {
      route = pathname;
      await answerBuiltin(svc, req, res, pathname, requestId, headers());
      return;
    }
    const address = clientAddress(req, { trustProxy: svc.options.trustProxy ?? false });
    const match: RouteMatch = svc.options.router.match(method, pathname);
    route = match.route ?? route;
    const verdict = svc.limiter?.take(rateLimitKey(address));
    if (verdict && !verdict.allowed)
      throw new HttpError(ErrorCodes.HTTP_RATE_LIMITED, 'too many requests; retry later', {
        retryAfterSeconds: verdict.retryAfterSeconds,
      });
    if (!match.found) throw match.error;
    const ctx = requestContext(req, match.params, query, address, requestId, svc.bodyLimitBytes);
    const result = await match.handler(ctx);
    checkResult(result, route);
    sendJson(res, result.status, result.body, result.headers, headers());
  } catch (error) {
    sendErrorSafely(svc, res, error, requestId, headers);
  } finally {
    const status = res.statusCode;
    const durationMs = performance.now() - started;
    const methodLabel = plainMethods.has(method) ? method : 'OTHER';
    svc.requests.inc({ route, method: methodLabel, status: String(status) });
    svc.durations.observe({ route, method: methodLabel }, durationMs / 1000);
    svc.emit({ kind: 'http-request', method, route, status, durationMs, requestId });
  }
}

function sendErrorSafely(
  svc: Service,
  res: ServerResponse,
  error: unknown,
  requestId: string,
  headers: (extra?: Record<string, string>) => Record<string, string>,
): void {
  // The client is still sending a body we refused: close rather than read the rest.
  const close = error instanceof PgwardenError && error.code === ErrorCodes.HTTP_BODY_TOO_LARGE;
  try {
    if (res.headersSent) throw error;
    const options = { requestId, statusFor: svc.options.statusFor };
    const sent = sendError(res, error, options, headers(close ? { Connection: 'close' } : {}));
    if (sent.report) svc.emit({ kind: 'http-error', code: codeOf(error), requestId, error });
  } catch (failure) {
    svc.emit({ kind: 'http-error', code: codeOf(error), requestId, error: failure });
    res.destroy();
  }
}

function requestContext(
  req: IncomingMessage,
  params: Record<string, string>,
  query: URLSearchParams,
  address: string,
  requestId: string,
  limitBytes: number,
): RequestContext {
  let body: Promise<Record<string, unknown>> | undefined;
  return {
    req,
    params,
    query,
    clientAddress: address,
    requestId,
    body: () => (body ??= readJsonBody(req, { limitBytes })),
    header: (name) => {
      const value = req.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

/** `/live`, `/ready` and `/metrics`: never rate limited, so probes and scrapes always get through. */
async function answerBuiltin(
  svc: Service,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  requestId: string,
  headers: Record<string, string>,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    throw new HttpError(ErrorCodes.HTTP_METHOD_NOT_ALLOWED, `${req.method} is not allowed here`, {
      headers: { Allow: 'GET, HEAD' },
    });
  if (pathname === '/metrics') {
    sendText(res, 200, svc.options.metrics.render(), 'text/plain; version=0.0.4; charset=utf-8', headers);
  } else if (pathname === '/live') {
    sendJson(res, 200, { status: 'ok' }, headers);
  } else {
    const ready = await checkReady(svc, requestId);
    sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' }, headers);
  }
}

async function checkReady(svc: Service, requestId: string): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), svc.options.readyTimeoutMs ?? 2_000);
  });
  try {
    return (await Promise.race([Promise.resolve().then(svc.options.ready), timeout])) === true;
  } catch (error) {
    svc.emit({ kind: 'http-error', code: codeOf(error), requestId, error });
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function listen(server: Server, host: string, port: number): Promise<{ url: string; port: number }> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(
        new PgwardenError(ErrorCodes.INTERNAL, `could not listen on ${host}:${port}: ${err.message}`, {
          hint: 'choose another port or stop the process that holds it',
          cause: err,
        }),
      );
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const bound = (server.address() as AddressInfo).port;
      resolve({ url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`, port: bound });
    });
  });
}

/** Splits the request target; an absolute-form target (`http://h/p`) keeps only its path. */
function parseTarget(target: string): { pathname: string; query: URLSearchParams } {
  if (!target.startsWith('/')) {
    try {
      const url = new URL(target);
      return { pathname: url.pathname, query: url.searchParams };
    } catch {
      return { pathname: '', query: new URLSearchParams() };
    }
  }
  const q = target.indexOf('?');
  return q === -1
    ? { pathname: target, query: new URLSearchParams() }
    : { pathname: target.slice(0, q), query: new URLSearchParams(target.slice(q + 1)) };
}

function checkResult(result: HttpResult, route: string): void {
  const status: unknown = (result as Partial<HttpResult> | undefined)?.status;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599)
    throw new PgwardenError(ErrorCodes.INTERNAL, `the handler of ${route} returned no valid HTTP status`);
}

function codeOf(error: unknown): string {
  return error instanceof PgwardenError ? error.code : ErrorCodes.INTERNAL;
}

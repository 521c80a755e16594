// Express adapter. Typed against node:http only, so Express is never imported: pgwarden works
// for applications that have only Fastify or Hono installed.
//
// Lifetime: the middleware admits the request and sets `req.pgwarden`; the transaction ends when
// the handler ends the response. `res.end` is wrapped (as express-session does) so the commit
// runs before the response leaves: a failed commit becomes a 500 instead of a 200 whose write was
// lost. `res` 'close' rolls back whatever a disconnected client left open.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { securityHeaders } from '../../http/index.js';
import {
  authorizationValues,
  type ContextGuard,
  type ContextHandle,
  type ContextMiddlewareOptions,
  createContextGuard,
  type HttpRejection,
  pathOf,
  type RequestInfo,
} from './core.js';
import { STALE_HEADERS } from './rejection.js';
import type { RequestContextHandle } from './request-handle.js';

declare global {
  // Express's documented way of typing fields that middleware adds to `req`.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The request's identity and database handle, set by `expressContext(…).middleware`. */
      pgwarden: ContextHandle;
    }
  }
}

type Next = (err?: unknown) => void;
type ExpressRequest = IncomingMessage & { ip?: string; originalUrl?: string; pgwarden?: RequestContextHandle };

/** What `expressContext` returns. */
export interface ExpressContext {
  /** Admits or refuses each request; mount it before the routes that use `req.pgwarden`. */
  middleware: (req: IncomingMessage, res: ServerResponse, next: Next) => void;
  /**
   * Mount after the routes: answers context refusals with the status table, any other error
   * with a 500 that says only `internal error`, and rolls the request back.
   */
  errorHandler: (err: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void;
  guard: ContextGuard;
}

const infoOf = (req: ExpressRequest): RequestInfo => ({
  method: req.method ?? 'GET',
  path: pathOf(req.originalUrl ?? req.url),
  client: req.ip ?? req.socket.remoteAddress ?? 'unknown',
});

function send(res: ServerResponse, rejection: HttpRejection, end: ServerResponse['end'] = res.end): void {
  const body = JSON.stringify(rejection.body);
  for (const name of res.getHeaderNames()) if (STALE_HEADERS.has(name)) res.removeHeader(name);
  res.statusCode = rejection.status;
  const headers = {
    ...securityHeaders,
    ...rejection.headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
  };
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  (end as (chunk: string) => ServerResponse).call(res, body);
}

/**
 * Ends the request's transaction when the handler ends the response: commit below 500, else
 * rollback, before the response is written. A failed commit answers 500 (or, when the handler
 * already streamed part of the body, aborts the response so the client never sees success).
 */
function bindResponse(res: ServerResponse, handle: RequestContextHandle, guard: ContextGuard, info: RequestInfo) {
  const end = res.end;
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    res.end = end;
    const apply = () => (end as (...a: unknown[]) => ServerResponse).apply(res, args);
    if (!handle.inTransaction) {
      void handle.end(false);
      return apply();
    }
    handle.end(res.statusCode < 500).then(apply, (err: unknown) => {
      const rejection = guard.answer(err, info);
      if (res.headersSent) res.destroy();
      else send(res, rejection, end);
    });
    return res;
  } as ServerResponse['end'];
  res.once('close', () => void handle.end(false));
}

/**
 * Express middleware for pgwarden's request context.
 *
 * @example
 * const pgw = expressContext({ contextPool, realm: 'notes', logger });
 * app.use(pgw.middleware);
 * app.get('/notes', async (req, res) => {
 *   const { rows } = await req.pgwarden.db.query('select id, body from notes order by id');
 *   res.json(rows);
 * });
 * app.use(pgw.errorHandler);
 */
export function expressContext(options: ContextMiddlewareOptions | ContextGuard): ExpressContext {
  const guard = createContextGuard(options);
  const middleware = (req: IncomingMessage, res: ServerResponse, next: Next): void => {
    const request = req as ExpressRequest;
    const info = infoOf(request);
    // Listen before the (asynchronous) verification, so a client that leaves meanwhile is seen.
    let gone = false;
    const onClose = () => {
      gone = true;
    };
    res.once('close', onClose);
    guard.admit(authorizationValues(req.rawHeaders), info).then((admission) => {
      res.removeListener('close', onClose);
      if (!admission.ok) return send(res, admission.rejection);
      if (gone) return void admission.handle.end(false);
      request.pgwarden = admission.handle;
      bindResponse(res, admission.handle, guard, info);
      next();
    }, next);
  };
  const errorHandler = (err: unknown, req: IncomingMessage, res: ServerResponse, next: Next): void => {
    const request = req as ExpressRequest;
    request.pgwarden?.fail();
    if (res.headersSent) return next(err);
    send(res, guard.answer(err, infoOf(request)));
  };
  return { middleware, errorHandler, guard };
}

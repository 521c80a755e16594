// Hono adapter. Hono is never imported: the middleware is typed against the few members it uses,
// so pgwarden works for applications that have only Express or Fastify installed.
//
// Lifetime: the middleware admits the request, sets `c.set('pgwarden', handle)` and awaits
// `next()`. Hono catches what a handler throws (into `c.error`, answered by `app.onError`), so
// when `next()` returns the response is decided but not yet sent: the middleware commits below
// 500 without an error, else rolls back. The request's abort signal rolls back what a
// disconnected client left open.
import {
  ContextGuard,
  type ContextHandle,
  type ContextMiddlewareOptions,
  createContextGuard,
  pathOf,
  type RequestInfo,
} from './core.js';
import { STALE_HEADERS, toResponse } from './rejection.js';
import type { RequestContextHandle } from './request-handle.js';

interface HonoContextLike {
  req: { raw: Request; method: string; path: string };
  env: unknown;
  error: Error | undefined;
  res: Response | undefined;
  set(key: 'pgwarden', value: RequestContextHandle): void;
  get(key: 'pgwarden'): RequestContextHandle | undefined;
}

/**
 * The variables the middleware sets: `new Hono<{ Variables: PgwardenVariables }>()` types
 * `c.get('pgwarden')`.
 */
export interface PgwardenVariables {
  pgwarden: ContextHandle;
}

/** Options of `honoContext`. */
export interface HonoContextOptions extends ContextMiddlewareOptions {
  /**
   * The client address for logs. Default: the socket's peer under `@hono/node-server`
   * (`c.env.incoming`), else `unknown`. Behind a proxy, read your proxy's header here.
   */
  clientAddress?: (c: object) => string | undefined;
}

/** What `honoContext` returns. (`c` is typed `object` so that any Hono version's Context fits.) */
export interface HonoContext {
  /** `app.use(middleware)` (or `app.use('/api/*', middleware)`). */
  middleware: (c: object, next: () => Promise<void>) => Promise<Response | undefined>;
  /**
   * For `app.onError`: answers context refusals with the status table and anything else with a
   * 500 that says only `internal error`.
   */
  errorHandler: (err: Error, c: object) => Response;
  guard: ContextGuard;
}

function socketAddress(env: unknown): string | undefined {
  type Bindings = { incoming?: { socket?: { remoteAddress?: string } }; server?: Bindings };
  const bindings = env as Bindings | undefined;
  return (bindings?.server ?? bindings)?.incoming?.socket?.remoteAddress;
}

/**
 * Hono middleware for pgwarden's request context.
 *
 * @example
 * const pgw = honoContext({ contextPool, realm: 'notes' });
 * const app = new Hono<{ Variables: PgwardenVariables }>();
 * app.use(pgw.middleware);
 * app.onError(pgw.errorHandler);
 * app.get('/notes', async (c) => c.json((await c.get('pgwarden').db.query('select id, body from notes')).rows));
 */
export function honoContext(options: HonoContextOptions | ContextGuard): HonoContext {
  const guard = createContextGuard(options);
  const clientAddress = options instanceof ContextGuard ? undefined : options.clientAddress;
  const infoOf = (c: HonoContextLike): RequestInfo => ({
    method: c.req.method,
    path: pathOf(c.req.path),
    client: clientAddress?.(c) ?? socketAddress(c.env) ?? 'unknown',
  });

  const middleware = async (context: object, next: () => Promise<void>): Promise<Response | undefined> => {
    const c = context as HonoContextLike;
    const info = infoOf(c);
    const admission = await guard.admit(c.req.raw.headers.get('authorization') ?? undefined, info);
    if (!admission.ok) return toResponse(admission.rejection);
    const handle = admission.handle;
    c.set('pgwarden', handle);
    const signal = c.req.raw.signal as AbortSignal | undefined;
    const onAbort = () => void handle.end(false);
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await next();
    } catch (err) {
      // Only without an error handler does Hono let a handler's error through.
      await handle.end(false);
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    const status = c.res?.status ?? 200;
    try {
      await handle.end(c.error === undefined && status < 500);
    } catch (err) {
      // The commit failed: the response the handler made must not go out (its CORS and
      // other non-body headers do).
      const prepared = c.res;
      const failed = toResponse(guard.answer(err, info));
      for (const [name, value] of prepared?.headers ?? []) {
        if (!STALE_HEADERS.has(name) && !failed.headers.has(name)) failed.headers.append(name, value);
      }
      c.res = undefined;
      c.res = failed;
    }
    return undefined;
  };

  const errorHandler = (err: Error, context: object): Response => {
    const c = context as HonoContextLike;
    c.get('pgwarden')?.fail();
    return toResponse(guard.answer(err, infoOf(c)));
  };
  return { middleware, errorHandler, guard };
}

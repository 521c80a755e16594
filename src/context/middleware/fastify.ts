// Fastify adapter. Fastify is never imported: the plugin is typed against the few members it
// uses, so pgwarden works for applications that have only Express or Hono installed.
//
// Lifetime: `onRequest` admits the request and sets `request.pgwarden`; `onError` marks a thrown
// error; `onSend` (after the handler, before anything is written) commits below 500 or rolls
// back; the raw response's 'close' rolls back whatever a disconnected client left open.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { securityHeaders } from '../../http/index.js';
import {
  authorizationValues,
  type ContextGuard,
  type ContextMiddlewareOptions,
  createContextGuard,
  type HttpRejection,
  pathOf,
  type RequestInfo,
} from './core.js';
import type { RequestContextHandle } from './request-handle.js';

interface FastifyRequestLike {
  raw: IncomingMessage;
  method: string;
  url: string;
  ip: string;
  pgwarden: RequestContextHandle | null;
}

interface FastifyReplyLike {
  raw: ServerResponse;
  statusCode: number;
  code(status: number): FastifyReplyLike;
  headers(values: Record<string, string>): FastifyReplyLike;
  send(payload?: unknown): FastifyReplyLike;
}

interface FastifyInstanceLike {
  decorateRequest(name: string, value: null): unknown;
  addHook(name: 'onRequest', hook: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>): unknown;
  addHook(
    name: 'onError',
    hook: (request: FastifyRequestLike, reply: FastifyReplyLike, error: unknown) => Promise<void>,
  ): unknown;
  addHook(
    name: 'onSend',
    hook: (request: FastifyRequestLike, reply: FastifyReplyLike, payload: unknown) => Promise<unknown>,
  ): unknown;
}

/**
 * A Fastify plugin (`app.register(plugin)`). It skips Fastify's encapsulation, as plugins made
 * with fastify-plugin do, so its hooks cover the routes of the scope that registers it.
 * (`instance` is typed `object` so that any Fastify version's instance type fits.)
 */
export type FastifyContextPlugin = ((instance: object, options: unknown) => Promise<void>) & {
  [key: symbol]: unknown;
};

/** What `fastifyContext` returns. */
export interface FastifyContext {
  plugin: FastifyContextPlugin;
  /**
   * For `app.setErrorHandler`: answers context refusals with the status table, Fastify's own
   * 4xx errors with their status, anything else with a 500 that says only `internal error`.
   */
  errorHandler: (error: unknown, request: object, reply: object) => void;
  guard: ContextGuard;
}

const infoOf = (request: FastifyRequestLike): RequestInfo => ({
  method: request.method,
  path: pathOf(request.url),
  client: request.ip,
});

const answer = (reply: FastifyReplyLike, rejection: HttpRejection) =>
  reply
    .code(rejection.status)
    .headers({ ...securityHeaders, ...rejection.headers })
    .send(rejection.body);

/**
 * Fastify plugin for pgwarden's request context.
 *
 * @example
 * // declare module 'fastify' { interface FastifyRequest { pgwarden: ContextHandle } }
 * const pgw = fastifyContext({ contextPool, realm: 'notes' });
 * await app.register(pgw.plugin);
 * app.setErrorHandler(pgw.errorHandler);
 * app.get('/notes', async (request) => (await request.pgwarden.db.query('select id, body from notes')).rows);
 */
export function fastifyContext(options: ContextMiddlewareOptions | ContextGuard): FastifyContext {
  const guard = createContextGuard(options);
  const register = async (instance: object): Promise<void> => {
    const app = instance as FastifyInstanceLike;
    app.decorateRequest('pgwarden', null);
    app.addHook('onRequest', async (request, reply) => {
      let gone = false;
      const onClose = () => {
        gone = true;
      };
      reply.raw.once('close', onClose);
      const admission = await guard.admit(authorizationValues(request.raw.rawHeaders), infoOf(request));
      reply.raw.removeListener('close', onClose);
      if (!admission.ok) return answer(reply, admission.rejection);
      const handle = admission.handle;
      request.pgwarden = handle;
      if (gone) await handle.end(false);
      else reply.raw.once('close', () => void handle.end(false));
      return undefined;
    });
    app.addHook('onError', async (request) => {
      request.pgwarden?.fail();
    });
    app.addHook('onSend', async (request, reply, payload) => {
      // A failed commit throws here: Fastify then answers through the error handler instead.
      await request.pgwarden?.end(reply.statusCode < 500);
      return payload;
    });
  };
  const plugin: FastifyContextPlugin = Object.assign(register, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'pgwarden-context',
  });
  const errorHandler = (error: unknown, req: object, rep: object): void => {
    const request = req as FastifyRequestLike;
    request.pgwarden?.fail();
    answer(rep as FastifyReplyLike, guard.answer(error, infoOf(request)));
  };
  return { plugin, errorHandler, guard };
}

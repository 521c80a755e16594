import Fastify from 'fastify';
import { type ContextHandle, fastifyContext } from '../../src/context/index.js';
import { middlewareSuite } from './middleware-fixture.js';

declare module 'fastify' {
  interface FastifyRequest {
    pgwarden: ContextHandle;
  }
}

middlewareSuite('fastify', async (guard, routes) => {
  const pgw = fastifyContext(guard);
  const app = Fastify();
  await app.register(pgw.plugin);
  app.setErrorHandler(pgw.errorHandler);
  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.path,
      handler: async (request, reply) => {
        const result = await route.run(request.pgwarden, (request.body ?? {}) as Record<string, unknown>);
        return reply.code(result.status ?? 200).send(result.body);
      },
    });
  }
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
});

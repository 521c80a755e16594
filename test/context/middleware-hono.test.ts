import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { honoContext, type PgwardenVariables } from '../../src/context/index.js';
import { middlewareSuite } from './middleware-fixture.js';

middlewareSuite('hono', async (guard, routes) => {
  const pgw = honoContext(guard);
  const app = new Hono<{ Variables: PgwardenVariables }>();
  app.use(pgw.middleware);
  app.onError(pgw.errorHandler);
  for (const route of routes) {
    app.on(route.method, route.path, async (c) => {
      const body = route.method === 'POST' ? ((await c.req.json()) as Record<string, unknown>) : {};
      const result = await route.run(c.get('pgwarden'), body);
      return c.json(result.body as object, (result.status ?? 200) as ContentfulStatusCode);
    });
  }
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  if (!server.listening) await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      if ('closeAllConnections' in server) server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
});

import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { expressContext } from '../../src/context/index.js';
import { middlewareSuite } from './middleware-fixture.js';

middlewareSuite('express', async (guard, routes) => {
  const pgw = expressContext(guard);
  const app = express();
  app.use(express.json());
  app.use(pgw.middleware);
  for (const route of routes) {
    const handler: express.RequestHandler = async (req, res) => {
      const result = await route.run(req.pgwarden, (req.body ?? {}) as Record<string, unknown>);
      res.status(result.status ?? 200).json(result.body);
    };
    if (route.method === 'GET') app.get(route.path, handler);
    else app.post(route.path, handler);
  }
  app.use(pgw.errorHandler);
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
});

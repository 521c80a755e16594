import { createServer } from 'node:net';

/**
 * Asks the kernel for a currently free TCP port on 127.0.0.1. The port is released before this
 * resolves, so another process may take it first; callers that bind later must handle that race
 * (`LocalCluster.start` retries with a new port).
 *
 * @example
 * const port = await findFreePort(); // e.g. 41873
 */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close((err) => {
        if (err) reject(err);
        else if (port === undefined) reject(new Error('could not read the bound port'));
        else resolve(port);
      });
    });
  });
}

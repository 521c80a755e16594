import { createSocket } from 'node:dgram';
import { type AddressInfo, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';

// Real listeners on 127.0.0.1 that keep what they receive: the far ends of the syslog exports.

/** A UDP listener on 127.0.0.1 collecting datagrams. */
export async function udpCollector(): Promise<{ port: number; messages: string[]; close: () => Promise<void> }> {
  const socket = createSocket('udp4');
  const messages: string[] = [];
  socket.on('message', (m) => messages.push(m.toString('utf8')));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    port: socket.address().port,
    messages,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** A TCP (or TLS) listener on 127.0.0.1 keeping every byte received. */
export async function streamCollector(
  tls?: TlsOptions,
): Promise<{ port: number; received: () => Buffer; close: () => Promise<void> }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  const onSocket = (socket: Socket) => {
    sockets.add(socket);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  };
  const server: Server = tls ? createTlsServer(tls, onSocket) : createNetServer(onSocket);
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received: () => Buffer.concat(chunks),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

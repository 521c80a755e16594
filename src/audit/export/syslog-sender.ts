import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';

/** How messages reach the collector. */
export type SyslogTransport = 'udp' | 'tcp' | 'tls';

/** Where to send syslog messages. */
export interface SyslogDestination {
  host: string;
  port: number;
  /** `udp` (RFC 5426, one datagram per message), `tcp` (RFC 6587 octet counting) or `tls` (RFC 5425). */
  transport: SyslogTransport;
  /** TLS only: PEM CA certificates to trust instead of the system's. The host name is always verified. */
  ca?: string | Buffer;
  /** Connect (and DNS) timeout. Default 10,000 ms. */
  timeoutMs?: number;
}

/** An open connection to a syslog collector. */
export interface SyslogSender {
  /** Sends one formatted message (framed for stream transports); resolves once it is handed to the OS. */
  send(message: string): Promise<void>;
  /** Flushes and closes. */
  close(): Promise<void>;
}

/**
 * Largest UDP payload over IPv4 (65,535 − 8 UDP − 20 IP header bytes).
 *
 * @example
 * Buffer.byteLength(message) <= MAX_UDP_BYTES;
 */
export const MAX_UDP_BYTES = 65_507;

function destinationError(destination: SyslogDestination, err: unknown): PgwardenError {
  const code = (err as { code?: string }).code;
  const reason = code ?? (err instanceof Error ? err.message : String(err));
  return new PgwardenError(
    ErrorCodes.AUDIT_EXPORT,
    `syslog destination ${destination.host}:${destination.port} (${destination.transport}) failed: ${reason}`,
    {
      hint: `check --syslog-host, --syslog-port and --syslog-transport, and that the collector listens on ${destination.transport}`,
      cause: err,
    },
  );
}

/**
 * RFC 6587 octet-counting framing: `MSG-LEN SP SYSLOG-MSG`, the length in bytes.
 *
 * @example
 * octetFrame('<133>1 - - - - - -'); // '18 <133>1 - - - - - -'
 */
export function octetFrame(message: string): string {
  return `${Buffer.byteLength(message, 'utf8')} ${message}`;
}

/**
 * Opens a sender to a syslog collector: one datagram per message over UDP, octet-counted
 * frames over TCP and TLS. Failures (refused, unreachable, timeout, TLS verification) throw
 * `PW423` (AUDIT_EXPORT); over UDP a refusal shows up on the send after the ICMP answer.
 *
 * @example
 * const sender = await openSyslogSender({ host: 'siem.example', port: 6514, transport: 'tls' });
 * await sender.send(formatSyslog(record, { hostname: 'db1' }));
 * await sender.close();
 */
export async function openSyslogSender(destination: SyslogDestination): Promise<SyslogSender> {
  const { port, transport } = destination;
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new PgwardenError(ErrorCodes.AUDIT_EXPORT, `syslog port ${port} is not a port number`, {
      hint: '--syslog-port takes 1-65535 (514 udp/tcp, 6514 tls)',
    });
  }
  const timeoutMs = destination.timeoutMs ?? 10_000;
  if (transport === 'udp') return openUdp(destination, timeoutMs);
  if (transport === 'tcp' || transport === 'tls') return openStream(destination, timeoutMs);
  throw new PgwardenError(ErrorCodes.AUDIT_EXPORT, `unknown syslog transport ${JSON.stringify(transport)}`, {
    hint: '--syslog-transport takes udp, tcp or tls',
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`${what} timed out`), { code: 'ETIMEDOUT' })), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function openUdp(destination: SyslogDestination, timeoutMs: number): Promise<SyslogSender> {
  let opened: UdpSocket | undefined;
  try {
    const { address, family } = await withTimeout(lookup(destination.host), timeoutMs, 'DNS lookup');
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    opened = socket;
    // A connected socket reports an ICMP "port unreachable" as ECONNREFUSED on a later send.
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.connect(destination.port, address, () => {
          socket.off('error', reject);
          resolve();
        });
      }),
      timeoutMs,
      'connect',
    );
  } catch (err) {
    try {
      opened?.close();
    } catch {
      // already closed by the error
    }
    throw destinationError(destination, err);
  }
  const socket = opened;
  let failure: unknown;
  socket.on('error', (err) => {
    failure ??= err;
  });
  return {
    send: (message) =>
      new Promise<void>((resolve, reject) => {
        if (failure) return reject(destinationError(destination, failure));
        const bytes = Buffer.from(message, 'utf8');
        if (bytes.length > MAX_UDP_BYTES) {
          return reject(
            new PgwardenError(
              ErrorCodes.AUDIT_EXPORT,
              `a syslog message of ${bytes.length} bytes does not fit in a UDP datagram`,
              {
                hint: 'its structured data alone is too large for UDP; use --syslog-transport tcp',
              },
            ),
          );
        }
        socket.send(bytes, (err) => (err ? reject(destinationError(destination, err)) : resolve()));
      }),
    close: () =>
      new Promise<void>((resolve) => {
        socket.close(() => resolve());
      }),
  };
}

async function openStream(destination: SyslogDestination, timeoutMs: number): Promise<SyslogSender> {
  let socket: Socket;
  try {
    socket = await withTimeout(
      new Promise<Socket>((resolve, reject) => {
        const s =
          destination.transport === 'tls'
            ? tlsConnect(
                {
                  host: destination.host,
                  port: destination.port,
                  // SNI takes names only; an IP address is still checked against the certificate.
                  servername: isIP(destination.host) ? undefined : destination.host,
                  ca: destination.ca,
                },
                () => resolve(s),
              )
            : netConnect({ host: destination.host, port: destination.port }, () => resolve(s));
        s.once('error', (err) => {
          s.destroy();
          reject(err);
        });
        s.setTimeout(timeoutMs, () => s.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })));
      }),
      timeoutMs + 1000,
      'connect',
    );
  } catch (err) {
    throw destinationError(destination, err);
  }
  socket.setTimeout(0);
  let failure: unknown;
  socket.on('error', (err) => {
    failure ??= err;
  });
  socket.on('close', () => {
    failure ??= Object.assign(new Error('the collector closed the connection'), { code: 'ECONNRESET' });
  });
  return {
    send: (message) =>
      new Promise<void>((resolve, reject) => {
        if (failure) return reject(destinationError(destination, failure));
        // Wait for 'drain' when the socket's buffer is full, so a slow collector holds the
        // export back instead of filling memory.
        if (socket.write(octetFrame(message), 'utf8')) return resolve();
        const onDrain = () => {
          socket.off('close', onClose);
          resolve();
        };
        const onClose = () => {
          socket.off('drain', onDrain);
          reject(destinationError(destination, failure));
        };
        socket.once('drain', onDrain);
        socket.once('close', onClose);
      }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (socket.destroyed) {
          return failure ? reject(destinationError(destination, failure)) : resolve();
        }
        socket.once('error', (err) => reject(destinationError(destination, err)));
        // Once everything is handed to the kernel (it still delivers it after the close), do
        // not wait for the collector to close its side: some never do.
        socket.end(() => {
          socket.destroy();
          resolve();
        });
      }),
  };
}

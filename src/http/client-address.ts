import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/** How far to believe `X-Forwarded-For`. */
export interface ClientAddressOptions {
  /**
   * `false` or `0`: ignore the header, use the socket's peer. A number `n`: there are `n` proxies
   * of ours in front, each appending the address it saw, so the client is the `n`-th entry from
   * the right. `true` means `1`. Entries further left are written by the client and are never
   * trusted, which is why `true` is not "the left-most entry".
   */
  trustProxy: boolean | number;
}

/**
 * The address of the client that sent `req`, for rate limiting and audit. When the forwarded
 * entry is missing or not an IP address, the socket's peer is used instead. IPv4-mapped IPv6
 * addresses (`::ffff:192.0.2.1`) come back as plain IPv4.
 *
 * @example
 * // behind one reverse proxy that appends to X-Forwarded-For
 * const ip = clientAddress(req, { trustProxy: 1 });
 */
export function clientAddress(req: IncomingMessage, options: ClientAddressOptions): string {
  const socketAddress = normalise(req.socket.remoteAddress ?? '') || 'unknown';
  const hops = options.trustProxy === true ? 1 : options.trustProxy === false ? 0 : options.trustProxy;
  if (!Number.isInteger(hops) || hops < 1) return socketAddress;
  const header = req.headers['x-forwarded-for'];
  if (typeof header !== 'string') return socketAddress;
  const entries = header.split(',').map((entry) => entry.trim());
  const entry = entries[entries.length - hops];
  if (entry === undefined || isIP(entry) === 0) return socketAddress;
  return normalise(entry);
}

function normalise(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped?.[1] !== undefined && isIP(mapped[1]) === 4) return mapped[1];
  // One spelling per address, so 2001:DB8::1 and 2001:db8::1 share a rate-limit bucket.
  return address.toLowerCase();
}

import { isIP } from 'node:net';

/**
 * The key the dashboard's login limiter counts a client by: an IPv4 address as it is, an IPv6
 * address by its /64. One subscriber, one host or one cloud instance is routinely handed a whole
 * /64, so counting IPv6 addresses one by one would give an attacker 2^64 fresh buckets. Anything
 * that is not an IP address (a test harness's `unknown`) is used as it is.
 *
 * @example
 * loginLimitKey('203.0.113.9'); // '203.0.113.9'
 * loginLimitKey('2001:db8:0:0:1:2:3:4'); // '2001:db8:0:0::/64'
 * loginLimitKey('2001:db8::ab'); // '2001:db8:0:0::/64'
 */
export function loginLimitKey(address: string): string {
  const bare = address.replace(/%.*$/, '');
  if (isIP(bare) !== 6) return address;
  // An IPv4 client seen through a dual-stack socket is that IPv4 address, not one of a shared /64.
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
  if (mapped?.[1] !== undefined) return mapped[1];
  const groups = ipv6Groups(bare.toLowerCase());
  if (!groups) return address;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address, a dotted IPv4 tail counted as two. */
function ipv6Groups(address: string): string[] | undefined {
  let text = address;
  const dotted = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    const hex = (hi: number, lo: number) => ((hi << 8) | lo).toString(16);
    text = `${text.slice(0, dotted.index)}${hex(a, b)}:${hex(c, d)}`;
  }
  const [head = '', tail = ''] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = text.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return groups.length === 8 ? groups : undefined;
}

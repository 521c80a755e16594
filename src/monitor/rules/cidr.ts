/** An address as 16 bytes (IPv4 as IPv4-mapped IPv6), or undefined when the text is not one. */
export function parseAddress(text: string): Uint8Array | undefined {
  const bare = text
    .trim()
    .replace(/^\[|\]$/g, '')
    .replace(/%[\w.-]+$/, '');
  const v4 = parseV4(bare);
  if (v4) return mapped(v4);
  if (!bare.includes(':')) return undefined;
  let head = bare;
  let tailV4: number[] | undefined;
  const lastColon = bare.lastIndexOf(':');
  if (bare.slice(lastColon + 1).includes('.')) {
    tailV4 = parseV4(bare.slice(lastColon + 1));
    if (!tailV4) return undefined;
    head = `${bare.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...right];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i += 1) {
    const g = groups[i] ?? '';
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined;
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  }
  if (tailV4) out.set(tailV4, 12);
  return out;
}

function parseV4(text: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : undefined;
}

function mapped(v4: number[]): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(v4, 12);
  return out;
}

/** A compiled address block. */
export interface Cidr {
  bytes: Uint8Array;
  bits: number;
}

/** Parses `10.0.0.0/8`, `::1/128` or a bare address; undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const [addr = '', prefix, extra] = text.split('/');
  if (extra !== undefined) return undefined;
  const bytes = parseAddress(addr);
  if (!bytes) return undefined;
  const isV4 = parseV4(addr.trim()) !== undefined;
  const max = isV4 ? 32 : 128;
  const n = prefix === undefined ? max : /^\d{1,3}$/.test(prefix) ? Number(prefix) : Number.NaN;
  if (!(n >= 0 && n <= max)) return undefined;
  return { bytes, bits: isV4 ? n + 96 : n };
}

/** True when the address lies in the block. */
export function inCidr(addr: Uint8Array, cidr: Cidr): boolean {
  let bits = cidr.bits;
  for (let i = 0; i < 16 && bits > 0; i += 1, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((addr[i] ?? 0) & mask) !== ((cidr.bytes[i] ?? 0) & mask)) return false;
  }
  return true;
}

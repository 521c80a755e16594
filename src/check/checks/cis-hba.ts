/**
 * Pure readers of pg_hba_file_rules rows, shared by the CIS connection checks and their tests.
 */
import type { HbaRule, ScanContext } from '../scan-context.js';
import type { Severity } from '../types.js';

/**
 * What an hba address column covers.
 *
 * @example
 * const a: HbaAddress = { kind: 'keyword', keyword: 'samehost' };
 */
export type HbaAddress =
  | { kind: 'cidr'; family: 4 | 6; prefix: number; loopback: boolean }
  | { kind: 'keyword'; keyword: 'all' | 'samehost' | 'samenet' }
  | { kind: 'hostname'; name: string; loopback: boolean };

function ipv4(address: string): number[] | null {
  const parts = address.split('.');
  if (parts.length !== 4) return null;
  const nums = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  return nums.every((n) => n >= 0 && n <= 255) ? nums : null;
}

/** The eight 16-bit groups of an IPv6 address (an embedded IPv4 tail counts as two groups). */
function ipv6(address: string): number[] | null {
  let text = address.split('%')[0]!.toLowerCase();
  const v4 = /:(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = ipv4(v4[1]!);
    if (!b) return null;
    text = `${text.slice(0, v4.index)}:${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array<string>(Math.max(fill, 0)).fill('0'), ...tail];
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => Number.parseInt(g, 16));
}

/** Leading one bits of a netmask given as groups of `width` bits. */
function maskBits(groups: number[], width: number): number {
  let bits = 0;
  for (const g of groups) {
    for (let b = width - 1; b >= 0; b--) {
      if ((g >> b) & 1) bits++;
      else return bits;
    }
  }
  return bits;
}

/**
 * Reads the address and netmask columns of a pg_hba_file_rules row (the view splits
 * `10.0.0.0/8` into address 10.0.0.0 and netmask 255.0.0.0). Null for local lines.
 *
 * @example
 * hbaAddress('127.0.0.1', '255.255.255.255'); // { kind: 'cidr', family: 4, prefix: 32, loopback: true }
 */
export function hbaAddress(address: string | null, netmask: string | null): HbaAddress | null {
  if (address === null || address === '') return null;
  if (address === 'all' || address === 'samehost' || address === 'samenet')
    return { kind: 'keyword', keyword: address };
  const v4 = ipv4(address);
  if (v4) {
    const mask = netmask ? ipv4(netmask) : null;
    const prefix = mask ? maskBits(mask, 8) : 32;
    return { kind: 'cidr', family: 4, prefix, loopback: v4[0] === 127 && prefix >= 8 };
  }
  const v6 = ipv6(address);
  if (v6) {
    const mask = netmask ? ipv6(netmask) : null;
    const prefix = mask ? maskBits(mask, 16) : 128;
    const isLoopback = prefix === 128 && v6.slice(0, 7).every((g) => g === 0) && v6[7] === 1;
    // ::ffff:127.x.y.z is IPv4 loopback written as IPv6.
    const mappedLoopback =
      v6.slice(0, 5).every((g) => g === 0) && v6[5] === 0xffff && v6[6]! >> 8 === 127 && prefix >= 104;
    return { kind: 'cidr', family: 6, prefix, loopback: isLoopback || mappedLoopback };
  }
  const name = address.toLowerCase();
  return { kind: 'hostname', name, loopback: name === 'localhost' || name === 'localhost.' };
}

/**
 * Whether traffic matched by this address never leaves the server's machine: loopback ranges,
 * `localhost`, and `samehost` (the server's own addresses, which the kernel routes internally).
 *
 * @example
 * stayOnHost(hbaAddress('127.0.0.1', '255.255.255.255')); // true
 */
export const stayOnHost = (a: HbaAddress | null): boolean =>
  a === null || (a.kind === 'keyword' ? a.keyword === 'samehost' : a.loopback);

/**
 * How wide an address range is, as a finding severity: any address is critical; more than
 * 65,536 IPv4 addresses (wider than /16) or an IPv6 range wider than one /64 subnet is medium;
 * `samenet` (every subnet the server is on, size unknown here) is low. Null: narrow enough.
 *
 * @example
 * rangeSeverity(hbaAddress('10.0.0.0', '255.0.0.0')); // 'medium'
 */
export function rangeSeverity(a: HbaAddress | null): Severity | null {
  if (a === null) return null;
  if (a.kind === 'keyword') return a.keyword === 'all' ? 'critical' : a.keyword === 'samenet' ? 'low' : null;
  if (a.kind === 'hostname') return null;
  if (a.prefix === 0) return 'critical';
  if (a.family === 4 ? a.prefix < 16 : a.prefix < 64) return 'medium';
  return null;
}

/**
 * The address as written in pg_hba.conf, for messages.
 *
 * @example
 * addressText(rule); // '10.0.0.0/8'
 */
export function addressText(rule: HbaRule): string {
  const a = hbaAddress(rule.address, rule.netmask);
  return a?.kind === 'cidr' ? `${rule.address}/${a.prefix}` : (rule.address ?? '');
}

/**
 * Severity of an authentication method on a line: trust critical, password (clear text) high,
 * md5 medium, ident over TCP high (it trusts the client machine's identd). Null: acceptable.
 * On `local` lines the server turns ident into peer.
 *
 * @example
 * methodSeverity('host', 'trust'); // 'critical'
 */
export function methodSeverity(type: string, method: string): Severity | null {
  switch (method) {
    case 'trust':
      return 'critical';
    case 'password':
      return 'high';
    case 'md5':
      return 'medium';
    case 'ident':
      return type === 'local' ? null : 'high';
    default:
      return null;
  }
}

/**
 * A superuser that can log in, with every role it belongs to (directly or through other roles).
 *
 * @example
 * const su: SuperuserInfo = { name: 'postgres', memberOf: ['postgres'] };
 */
export interface SuperuserInfo {
  name: string;
  memberOf: string[];
}

/**
 * The superusers an hba user column lets in: `all` covers all of them, `+group` those that
 * belong to group (a role belongs to itself), `/regex` (PostgreSQL 16+) those whose name
 * matches, other tokens by name. pg_hba_file_rules shows tokens unquoted, so a quoted "all"
 * is read as the keyword: the safe side. An invalid regex is assumed to match.
 *
 * @example
 * superusersAllowed(['+admins'], [{ name: 'postgres', memberOf: ['postgres'] }, { name: 'ops', memberOf: ['ops', 'admins'] }]); // ['ops']
 */
export function superusersAllowed(tokens: readonly string[], superusers: readonly SuperuserInfo[]): string[] {
  const allowed = new Set<string>();
  for (const token of tokens) {
    for (const su of superusers) {
      if (token === 'all' || token === su.name) allowed.add(su.name);
      else if (token.startsWith('+') && su.memberOf.includes(token.slice(1))) allowed.add(su.name);
      else if (token.startsWith('/') && regexMatches(token.slice(1), su.name)) allowed.add(su.name);
    }
  }
  return [...allowed].sort();
}

function regexMatches(pattern: string, name: string): boolean {
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return true;
  }
}

/**
 * Login superusers with their memberships (recursively), read with pg_roles and pg_auth_members.
 *
 * @example
 * superusersAllowed(['all'], await loginSuperusers(ctx)); // ['postgres']
 */
export function loginSuperusers(ctx: ScanContext): Promise<SuperuserInfo[]> {
  return ctx.query<SuperuserInfo>(
    'cis.login_superusers',
    `with recursive member_of(super, roleid) as (
       select r.oid, r.oid from pg_catalog.pg_roles r where r.rolsuper and r.rolcanlogin
       union
       select m.super, a.roleid from member_of m join pg_catalog.pg_auth_members a on a.member = m.roleid
     )
     select s.rolname::text as name,
            array(select g.rolname::text from member_of m join pg_catalog.pg_roles g on g.oid = m.roleid
                   where m.super = s.oid order by 1) as "memberOf"
       from pg_catalog.pg_roles s
      where s.rolsuper and s.rolcanlogin
      order by 1`,
  );
}

/**
 * pg_hba.conf lines the server would use (rules without a parse error) that are not `reject`.
 *
 * @example
 * const hostLines = (await activeRules(ctx)).filter((r) => r.type !== 'local');
 */
export async function activeRules(ctx: ScanContext): Promise<HbaRule[]> {
  return (await ctx.hbaRules()).filter((r) => r.error === null && r.authMethod !== 'reject');
}

/**
 * hostssl/hostgssenc lines can never match while SSL or GSSAPI is unavailable: the server
 * warns but loads the file, so these are inert rather than invalid.
 *
 * @example
 * INERT_LINE.test('hostssl record cannot match because SSL is disabled'); // true
 */
export const INERT_LINE = /record cannot match because (SSL is disabled|GSSAPI is not supported)/;

/**
 * The object name of a line in findings: `pg_hba.conf line 92`, or the included file's path.
 *
 * @example
 * lineObject(rule); // 'pg_hba.conf line 92'
 */
export function lineObject(rule: HbaRule): string {
  const file = rule.fileName && !rule.fileName.endsWith('/pg_hba.conf') ? rule.fileName : 'pg_hba.conf';
  return `${file} line ${rule.lineNumber}`;
}

/**
 * Evidence of one hba line: never a secret (options such as ldapbindpasswd are left out).
 *
 * @example
 * lineEvidence(rule); // { line: 92, type: 'host', database: ['all'], user: ['all'], address: '0.0.0.0/0', method: 'md5' }
 */
export function lineEvidence(rule: HbaRule): Record<string, unknown> {
  return {
    line: rule.lineNumber,
    type: rule.type,
    database: rule.database,
    user: rule.userName,
    ...(rule.address !== null ? { address: addressText(rule) } : {}),
    method: rule.authMethod,
  };
}

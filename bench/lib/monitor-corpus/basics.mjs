// Monitor corpus: time units, the seeded random source, address allocation, labels' entity sets.

/** Milliseconds in a second, minute, hour and day. */
export const SEC = 1000;
export const MIN = 60 * SEC;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;

/** Monday 2026-11-23 00:00 UTC: the measured day (warm-up days come before it). */
export const MEASURED_DAY = Date.UTC(2026, 10, 23);

/** Attack classes, in report order. */
export const ATTACK_CLASSES = [
  'brute_force',
  'distributed_brute_force',
  'password_spraying',
  'credential_stuffing',
  'account_compromise',
  'privilege_escalation',
  'audit_tampering',
  'rls_bypass',
  'sql_injection',
  'token_forgery',
  'mass_read',
  'superuser_remote_login',
  'unusual_access',
];

/** A small seeded PRNG (mulberry32) with the helpers the generator uses. */
export class Rng {
  #a;
  constructor(seed) {
    this.#a = seed >>> 0;
  }
  next() {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  float(a, b) {
    return a + (b - a) * this.next();
  }
  int(a, b) {
    return a + Math.floor(this.next() * (b - a + 1));
  }
  chance(p) {
    return this.next() < p;
  }
  pick(list) {
    return list[Math.floor(this.next() * list.length)];
  }
  /** Exponential with the given mean (gaps between independent events). */
  exp(mean) {
    return -Math.log(1 - this.next()) * mean;
  }
  poisson(lambda) {
    let n = 0;
    for (let p = Math.exp(-lambda), s = p, u = this.next(); u > s; n++) {
      p *= lambda / (n + 1);
      s += p;
    }
    return n;
  }
  hex(n) {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(this.next() * 16)];
    return s;
  }
  uuid() {
    return `${this.hex(8)}-${this.hex(4)}-4${this.hex(3)}-${this.pick(['8', '9', 'a', 'b'])}${this.hex(3)}-${this.hex(12)}`;
  }
  shuffle(list) {
    const out = [...list];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }
}

/** Allocates public-looking addresses, never the same one twice, attackers apart from users. */
export class Addresses {
  #used = new Set();
  #rng;
  constructor(rng) {
    this.#rng = rng;
  }
  #take(make) {
    for (;;) {
      const a = make();
      if (!this.#used.has(a)) {
        this.#used.add(a);
        return a;
      }
    }
  }
  /** A residential or office address in a /24 of its own. */
  user() {
    const r = this.#rng;
    return this.#take(
      () =>
        `${r.pick([24, 31, 62, 73, 77, 81, 86, 92, 95, 109, 151, 176, 178, 212, 217])}.${r.int(1, 254)}.${r.int(0, 254)}.${r.int(2, 250)}`,
    );
  }
  /** A home IPv6 address (its /64 is the household). */
  user6() {
    const r = this.#rng;
    return this.#take(() => `2a02:${r.hex(4)}:${r.hex(4)}:${r.hex(4)}::${r.hex(3)}`);
  }
  /** An address of an attacker's host (VPS, proxy, botnet member), in a /24 no user is in. */
  attacker() {
    const r = this.#rng;
    return this.#take(
      () =>
        `${r.pick([5, 45, 91, 103, 141, 146, 185, 193, 194, 195])}.${r.int(1, 254)}.${r.int(0, 254)}.${r.int(2, 250)}`,
    );
  }
  /** `n` distinct addresses of one /24. */
  neighbours(n) {
    const r = this.#rng;
    const base = this.attacker().replace(/\.\d+$/, '');
    const out = new Set();
    while (out.size < n) out.add(`${base}.${r.int(2, 250)}`);
    return [...out].map((a) => (this.#used.add(a), a));
  }
}

/** A 16-hex digest like the one pgwarden's login records for the account name (FNV-1a, twice). */
export function accountDigest(email) {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < email.length; i++) {
    const c = email.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ c, 0x5bd1e995) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}

/** Browsers and the mobile app of benign users. */
export const USER_AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0',
  'AcmeApp/4.12.1 (iPhone; iOS 18.1)',
];
/** What attack tools send (one of them pretends to be a browser). */
export const ATTACK_AGENTS = ['python-requests/2.32.3', 'Go-http-client/1.1', 'curl/8.5.0', USER_AGENTS[0]];

/** The application's tables (schema app). */
export const TABLES = [
  'app.orders',
  'app.order_items',
  'app.customers',
  'app.invoices',
  'app.payments',
  'app.contacts',
  'app.tickets',
  'app.comments',
  'app.documents',
  'app.projects',
  'app.tasks',
  'app.time_entries',
  'app.products',
  'app.stock_moves',
];
/** UTC offsets (hours) of the tenants' offices: a global customer base keeps the app busy round the clock. */
export const TENANT_ZONES = [-8, -6, -5, -5, -3, 0, 1, 1, 1, 2, 5, 8, 9, 10];

/** Monday to Friday (UTC). */
export const isWeekday = (day) => {
  const d = new Date(day).getUTCDay();
  return d >= 1 && d <= 5;
};

/** Rough share of the app's users active at `t`, for the app role's row volume. */
export function activeShare(pop, t) {
  let active = 0;
  for (const ten of pop.tenants) {
    const local = (((t / HOUR + ten.tz) % 24) + 24) % 24;
    if (local >= 8 && local < 18) active += 1;
    else if (local >= 7 && local < 20) active += 0.3;
    else active += 0.02;
  }
  return active / pop.tenants.length;
}

/** The /24 or /64 of a generated address, as the monitor writes it (`addressBlock`). */
function blockOf(addr) {
  const v4 = /^(\d+\.\d+\.\d+)\.\d+$/.exec(addr);
  if (v4) return `${v4[1]}.0/24`;
  const v6 = /^([0-9a-f]+):([0-9a-f]+):([0-9a-f]+):([0-9a-f]+)::/i.exec(addr);
  if (!v6) return undefined;
  return `${v6
    .slice(1, 5)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** A benign scenario worth naming when a false alert lands in it (window and entities as for attacks). */
export function benignLabel(scenario, start, end, entities, extra = {}) {
  return { scenario, start, end, entities: entitySet(entities), ...extra };
}

/** The lower-cased values an alert's group may name, each address with its /24 or /64 block. */
export function entitySet(values) {
  const set = new Set();
  for (const v of values) {
    if (v === undefined) continue;
    set.add(String(v).toLowerCase());
    const block = blockOf(String(v));
    if (block) set.add(block);
  }
  return set;
}

// Monitor corpus: injected attacks on authentication: brute force, distributed brute force, spraying,
// credential stuffing, account compromise, forged tokens, unusual access.
import { ATTACK_AGENTS, DAY, HOUR, MIN, SEC, accountDigest } from './basics.mjs';
import { appLogin, dbLoginFailure, tokenRejected } from './benign.mjs';

/** `n` changes saved by an intruder in `u`'s session after `t`, about `gapMs` apart; returns the last one's time. */
function intruderEdits(env, u, t, n, gapMs) {
  const { b, r, pop } = env;
  let x = t;
  for (let k = 0; k < n; k++) {
    x += r.exp(gapMs);
    b.audit(x, u.id, u.tenant, r.pick(pop.appHosts), r.pick(u.tables), r.pick(['UPDATE', 'DELETE']), r.int(1, 50));
  }
  return x;
}

/** A user of the app as a login target. */
const known = (u) => ({ user: u.id, account: u.account, tenant: u.tenant, known: true });
/** An e-mail from a leaked list with no account here: the event names the digest of the account name. */
function unknownAccount(env) {
  const email = `${env.r.pick(['info', 'admin', 'sales', 'j.smith', 'maria', 'test', 'it', 'ceo', 'hr'])}${env.r.int(1, 99999)}@${env.r.pick(['gmail.com', 'yahoo.com', 'outlook.com', 'example.org'])}`;
  const account = accountDigest(email);
  return { user: account, account, tenant: undefined, known: false };
}

/**
 * One guess at an application account through pgwarden's login, as its throttle answers it: from
 * the fifth failure of an account and address on, attempts inside the growing delay are refused
 * as throttled, and the tenth locks the pair.
 */
function guess(env, t, target, addr, k, paceMs, agent) {
  const { b, r } = env;
  const host = r.pick(env.pop.appHosts);
  const throttled = k >= 10 || (k >= 4 && paceMs < SEC * 2 ** (k - 4));
  const reason = throttled ? 'throttled' : target.known ? 'wrong_password' : 'unknown_user';
  const fields = { reason, account: target.account, user_agent: agent };
  b.sec(t, throttled ? 'auth.login_throttled' : 'auth.login_failed', {
    user: target.user,
    tenant: target.tenant,
    addr,
    host,
    severity: throttled ? 'warning' : 'notice',
    fields,
  });
  if (k === 9) {
    b.sec(t, 'auth.account_locked', {
      user: target.user,
      tenant: target.tenant,
      addr,
      host,
      severity: 'warning',
      fields: { failures: 10, locked_for: '00:15:00', account: target.account },
    });
  }
}

/** A gap between attempts: mostly `fast` (seconds, as [min, max]), `slowShare` of the time `slow`. */
const pace = (r, fast, slow, slowShare) => (r.chance(slowShare) ? r.float(...slow) : r.float(...fast)) * SEC;

/** M-01: 10–60 guesses on one account from one address, through the app or at the database port. */
export function bruteForce(env, start, i) {
  const { r, addrs } = env;
  const attacker = addrs.attacker();
  const kind = ['app-known', 'app-unknown', 'db'][i % 3];
  const n = r.int(10, 60);
  const gap = pace(r, [0.3, 3], [10, 27], 0.3);
  const agent = r.pick(ATTACK_AGENTS);
  const times = [];
  let user;
  const target = kind === 'app-known' ? known(env.single()) : kind === 'app-unknown' ? unknownAccount(env) : undefined;
  if (kind === 'db') user = r.pick(['postgres', 'postgres', 'app', 'admin']);
  else user = target.user;
  for (let k = 0, t = start; k < n; k++, t += gap * r.float(0.8, 1.2)) {
    if (target) guess(env, t, target, attacker, k, gap, agent);
    else dbLoginFailure(env, t, user, attacker, user !== 'admin');
    times.push(t);
  }
  return {
    kind,
    end: times.at(-1),
    detectable: times[9],
    entities: [user, attacker],
    attempts: n,
    gapMs: Math.round(gap),
  };
}

/** M-02: 10–40 guesses on one account from 4–20 addresses. */
export function distributedBruteForce(env, start, i) {
  const { r, addrs } = env;
  const ips = Array.from({ length: r.int(4, 20) }, () => addrs.attacker());
  const kind = i % 3 === 2 ? 'db' : 'app';
  const n = r.int(10, 40);
  const gap = r.float(1, 15) * SEC;
  const target = kind === 'db' ? undefined : known(env.single());
  const user = target?.user ?? 'postgres';
  const perIp = new Map();
  const times = [];
  let t = start;
  for (let k = 0; k < n; k++, t += gap * r.float(0.5, 1.5)) {
    times.push(t);
    const ip = ips[k % ips.length];
    const j = perIp.get(ip) ?? 0;
    perIp.set(ip, j + 1);
    if (target) guess(env, t, target, ip, j, ips.length * gap, r.pick(ATTACK_AGENTS));
    else dbLoginFailure(env, t, user, ip);
  }
  return {
    kind,
    end: times.at(-1),
    detectable: times[9],
    entities: [user, ...ips],
    attempts: n,
    addresses: ips.length,
  };
}

/** Role names an internet scanner tries against a PostgreSQL port. */
const DB_NAMES = (
  'postgres admin root test user oracle guest pgadmin ubuntu dbadmin sa backup replicator odoo gitlab web api ' +
  'dev demo sysadmin app postgresql administrator'
).split(' ');

/** M-03: 11–40 accounts, one or two guesses each, from one address or a few of one /24, or role names at the port. */
export function passwordSpraying(env, start, i) {
  const { r, addrs } = env;
  const kind = ['single', 'rotated', 'single', 'db'][i % 4];
  const ips = kind === 'rotated' ? addrs.neighbours(r.int(2, 4)) : [addrs.attacker()];
  const m = kind === 'db' ? r.int(11, DB_NAMES.length) : r.int(11, 40);
  const tries = r.chance(0.3) ? 2 : 1;
  let gap = pace(r, [1, 10], [20, 90], 0.25);
  gap = Math.min(gap, (25 * MIN) / (m * tries));
  const agent = r.pick(ATTACK_AGENTS);
  const targets =
    kind === 'db'
      ? r.shuffle(DB_NAMES).slice(0, m)
      : env
          .crowd(Math.round(m * 0.6))
          .map(known)
          .concat(Array.from({ length: m - Math.round(m * 0.6) }, () => unknownAccount(env)));
  let t = start;
  let j = 0;
  const times = [];
  for (let pass = 0; pass < tries; pass++) {
    for (const target of r.shuffle(targets)) {
      times.push(t);
      const ip = ips[j++ % ips.length];
      if (kind === 'db') dbLoginFailure(env, t, target, ip, target === 'postgres' || target === 'app');
      else guess(env, t, target, ip, pass, gap, agent);
      t += gap * r.float(0.7, 1.3);
    }
  }
  const users = targets.map((x) => (typeof x === 'string' ? x : x.user));
  return {
    kind,
    end: times.at(-1),
    detectable: times[10],
    entities: [...ips, ...users],
    primary: kind === 'rotated' ? 'pg-password-spray-block' : 'pg-password-spray',
    accounts: m,
    gapMs: Math.round(gap),
  };
}

/** M-05: 100–500 leaked pairs from 10–50 addresses within 1–8 minutes, 2 % of them working. */
export function credentialStuffing(env, start) {
  const { b, r, addrs, pop } = env;
  const pairs = r.int(100, 500);
  const ips = Array.from({ length: r.int(10, 50) }, () => addrs.attacker());
  const duration = r.float(1, 8) * MIN;
  // A leaked list from elsewhere: a few of its addresses have an account here (o.stuffingKnownShare).
  const knownN = Math.max(Math.round(pairs * 0.02) + 2, Math.round(pairs * env.o.stuffingKnownShare));
  const hits = Math.max(1, Math.round(pairs * 0.02));
  const working = new Set(Array.from({ length: hits }, () => known(env.single())));
  const list = r.shuffle([
    ...env.crowd(knownN - hits).map(known),
    ...Array.from({ length: pairs - knownN }, () => unknownAccount(env)),
  ]);
  // The pairs that work come in the second half, once their address has failed on a few accounts.
  for (const target of working) list.splice(r.int(Math.floor(list.length / 2), list.length), 0, target);
  const agent = r.pick(ATTACK_AGENTS);
  let t = start;
  let failing = 0;
  let detectable = Infinity;
  list.forEach((target, j) => {
    t = start + (j * duration) / pairs + r.float(0, 300);
    const ip = ips[j % ips.length];
    if (!working.has(target)) {
      if (++failing === 100) detectable = Math.min(detectable, t);
      return guess(env, t, target, ip, 0, duration / pairs, agent);
    }
    // A hit once its address failed five times (on as many accounts) is enough for the success rule.
    if (j >= 5 * ips.length) detectable = Math.min(detectable, t);
    b.sec(t, 'auth.login_succeeded', {
      user: target.user,
      tenant: target.tenant,
      addr: ip,
      host: r.pick(pop.appHosts),
      fields: { aal: 'aal1', user_agent: agent },
    });
  });
  return {
    kind: 'many-addresses',
    end: t,
    detectable,
    entities: [...ips, ...list.map((x) => x.user)],
    pairs,
    addresses: ips.length,
    hits: working.size,
  };
}

/** M-06: 5–9 failures on one account from one address, then the guess works and the intruder edits data. */
export function accountCompromise(env, start) {
  const { b, r, addrs, pop } = env;
  const u = env.single();
  const attacker = addrs.attacker();
  const f = r.int(5, 9);
  const gap = r.float(5, 40) * SEC;
  const agent = r.pick(ATTACK_AGENTS);
  let t = start;
  for (let k = 0; k < f; k++, t += gap * r.float(0.8, 1.2)) guess(env, t, known(u), attacker, k, gap, agent);
  b.sec(t, 'auth.login_succeeded', {
    user: u.id,
    tenant: u.tenant,
    addr: attacker,
    host: r.pick(pop.appHosts),
    fields: { aal: 'aal1', user_agent: agent },
  });
  const end = intruderEdits(env, u, t, r.int(1, 5), 2 * MIN);
  return { kind: 'success-after-failures', end, detectable: t, entities: [u.id, attacker], failures: f };
}

/** M-11: 20–300 forged or tampered tokens from one address (some expired ones among them). */
export function tokenForgery(env, start) {
  const { r, addrs } = env;
  const attacker = addrs.attacker();
  const n = r.int(20, 300);
  const gap = pace(r, [0.05, 1], [1.5, 2.9], 0.3);
  const host = r.pick(env.pop.appHosts);
  const reasons = ['signature', 'algorithm', 'audience', 'malformed', 'issuer', 'crit'];
  let t = start;
  let end = start;
  let detectable;
  for (let forged = 0; forged < n; t += gap * r.float(0.8, 1.2)) {
    // A stolen token replayed after it expired now and then: not counted by the rule.
    const expired = r.chance(0.08);
    tokenRejected(env, t, attacker, expired ? 'expired' : r.pick(reasons), host);
    if (!expired && ++forged === 20) detectable = t;
    end = t;
  }
  return { kind: gap > 1.4 * SEC ? 'slow' : 'fast', end, detectable, entities: [attacker], tokens: n };
}

/** An established user's account used at their local 02:00–04:30 from an address they never used. */
export function unusualAccess(env, day) {
  const { r, addrs } = env;
  const u = env.reserved.pop();
  let at = day + (2 - u.tz) * HOUR + r.int(0, 150) * MIN;
  if (at < day) at += DAY;
  if (at > day + DAY - HOUR) at -= DAY;
  const addr = addrs.attacker();
  const t = appLogin(env, { ...u, agent: r.pick(ATTACK_AGENTS) }, at, addr);
  const end = intruderEdits(env, u, t, r.int(2, 8), 4 * MIN);
  return { start: at, kind: 'night login from a new address', end, detectable: t, entities: [u.id, addr] };
}

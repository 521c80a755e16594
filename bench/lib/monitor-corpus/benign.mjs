// Monitor corpus: the organisation (tenants, users, roles) and its users' benign days: logins with
// the odd typo, forgotten passwords, expired tokens, saved changes, role grants, travel.
import { HOUR, MIN, SEC, TABLES, TENANT_ZONES, USER_AGENTS, accountDigest, benignLabel, isWeekday } from './basics.mjs';

/** The organisation: tenants with their offices, their users, the database roles and hosts. */
export function population(rng, addrs, o) {
  const tenants = Array.from({ length: o.tenants }, (_, i) => {
    const office = rng.chance(0.85) ? addrs.user() : undefined;
    return { name: `tenant-${String(i + 1).padStart(2, '0')}`, tz: TENANT_ZONES[i % TENANT_ZONES.length], office };
  });
  const users = Array.from({ length: o.users }, (_, i) => {
    const tenant = tenants[Math.floor(Math.pow(rng.next(), 1.6) * tenants.length)];
    const email = `user${i}@${tenant.name}.example`;
    const startHour = rng.int(7, 10);
    return {
      id: rng.uuid(),
      email,
      account: accountDigest(email),
      tenant: tenant.name,
      tz: tenant.tz,
      office: tenant.office,
      officeShare: tenant.office ? rng.float(0.3, 0.95) : 0,
      home: rng.chance(0.2) ? addrs.user6() : addrs.user(),
      startHour,
      endHour: startHour + rng.int(7, 9),
      // Changes saved per working hour, log-uniform 0.5 … 6.
      pace: 0.5 * Math.pow(12, rng.next()),
      tables: rng.shuffle(TABLES).slice(0, rng.int(3, 8)),
      agent: rng.pick(USER_AGENTS),
      admin: false,
    };
  });
  for (const t of tenants) {
    const admin = users.find((u) => u.tenant === t.name);
    if (admin) admin.admin = true;
  }
  return {
    tenants,
    users,
    appHosts: ['10.20.0.11', '10.20.0.12', '10.20.0.13'],
    analysts: Array.from({ length: 10 }, (_, i) => ({
      role: `analyst_${String(i + 1).padStart(2, '0')}`,
      host: `10.8.${rng.int(1, 40)}.${rng.int(2, 250)}`,
      tz: rng.pick([0, 1, -5]),
    })),
    support: Array.from({ length: 8 }, (_, i) => ({
      role: `support_${String(i + 1).padStart(2, '0')}`,
      host: `10.8.${rng.int(41, 80)}.${rng.int(2, 250)}`,
      tz: rng.pick([0, 1, -5, 8]),
    })),
    services: ['svc_billing', 'svc_search', 'svc_notify', 'svc_export'].map((role, i) => ({
      role,
      host: `10.21.0.${11 + i}`,
    })),
  };
}

const HBA =
  'Connection matched file "/etc/postgresql/17/main/pg_hba.conf" line 118: "host all all 0.0.0.0/0 scram-sha-256"';

/** One failed password login to the database server itself (log_connections on). */
export function dbLoginFailure(env, t, role, addr, exists = true) {
  const s = env.b.session(t, { user: role, host: addr, failed: true });
  s.rec(t + 8, {
    errorSeverity: 'FATAL',
    sqlstate: '28P01',
    message: `password authentication failed for user "${role}"`,
    detail: exists ? HBA : `Role "${role}" does not exist.\n${HBA}`,
  });
}

/** A login through the application's pgwarden login: failures first (typos or guesses), then the session. */
export function appLogin(env, u, at, addr, failures = 0, gap = [5, 25]) {
  const { b, r, pop } = env;
  const host = r.pick(pop.appHosts);
  let t = at;
  for (let i = 0; i < failures; i++) {
    const fields = { reason: 'wrong_password', account: u.account, user_agent: u.agent };
    b.sec(t, 'auth.login_failed', { user: u.id, tenant: u.tenant, addr, host, severity: 'notice', fields });
    t += r.int(gap[0], gap[1]) * SEC;
  }
  if (failures > 0) {
    b.sec(t, 'auth.success_after_failures', {
      user: u.id,
      tenant: u.tenant,
      addr,
      host,
      severity: 'notice',
      fields: { failures },
    });
  }
  b.sec(t, 'auth.login_succeeded', {
    user: u.id,
    tenant: u.tenant,
    addr,
    host,
    fields: { aal: 'aal1', user_agent: u.agent },
  });
  return t;
}

/** A refused bearer token (the context middleware's context.token_rejected). */
export function tokenRejected(env, t, addr, reason, host) {
  const path = env.r.pick(['/api/orders', '/api/projects', '/api/me', '/api/tickets', '/api/search']);
  env.b.sec(t, 'context.token_rejected', {
    addr,
    host: host ?? env.r.pick(env.pop.appHosts),
    severity: 'notice',
    dbUser: 'app',
    fields: { reason, code: 'PW320', status: 401, method: 'GET', path },
  });
}

/** One working day (or a weekend visit) of one application user. */
export function userDay(env, u, day) {
  const { b, r, o, addrs } = env;
  const weekday = isWeekday(day);
  if (!weekday && !r.chance(0.04)) return;
  const start = day + (u.startHour - u.tz) * HOUR + r.int(-25, 25) * MIN;
  const end = start + (weekday ? u.endHour - u.startHour + r.float(-0.5, 0.8) : r.float(0.5, 2)) * HOUR;
  let addr = u.office && r.chance(u.officeShare) ? u.office : u.home;
  // A network the user was never on (a hotel, tethering), during ordinary hours.
  if (r.chance(o.newNetworkRate)) addr = addrs.user();
  if (r.chance(o.forgotRate)) forgotPassword(env, u, start, addr);
  else appLogin(env, u, start, addr, r.chance(o.typoRate) ? r.pick([1, 1, 1, 1, 1, 1, 1, 2, 2, 3]) : 0);
  const lunch = start + r.float(3, 4.5) * HOUR;
  for (let t = start + r.exp(HOUR / u.pace); t < end; t += r.exp(HOUR / u.pace)) {
    b.audit(
      t,
      u.id,
      u.tenant,
      r.pick(env.pop.appHosts),
      r.pick(u.tables),
      r.pick(['INSERT', 'UPDATE', 'UPDATE', 'DELETE']),
      r.int(1, 12),
    );
  }
  // Back from lunch: the tab's access token expired; some log in again.
  if (weekday && lunch < end) {
    tokenRejected(env, lunch, addr, 'expired');
    if (r.chance(0.4)) appLogin(env, u, lunch + r.int(2, 20) * SEC, addr, r.chance(o.typoRate) ? 1 : 0);
  }
  for (let i = r.poisson(1.2); i > 0; i--) tokenRejected(env, r.float(start, end + 2 * HOUR), addr, 'expired');
  if (r.chance(0.5))
    b.sec(end, 'auth.logout', {
      user: u.id,
      tenant: u.tenant,
      addr,
      host: r.pick(env.pop.appHosts),
      fields: { reason: 'logout' },
    });
}

/** Forgot the password: a few failures, a reset by the help desk, then a login. */
function forgotPassword(env, u, at, addr, failures = env.r.int(2, 6)) {
  const { b, r } = env;
  let end = at;
  for (let i = 0; i < failures; i++, end += r.int(8, 40) * SEC) {
    b.sec(end, 'auth.login_failed', {
      user: u.id,
      tenant: u.tenant,
      addr,
      host: r.pick(env.pop.appHosts),
      severity: 'notice',
      fields: { reason: 'wrong_password', account: u.account, user_agent: u.agent },
    });
  }
  const reset = end + r.int(3, 25) * MIN;
  b.sec(reset, 'auth.password_reset', {
    user: u.id,
    tenant: u.tenant,
    dbUser: 'pgw_security_admin',
    severity: 'notice',
    fields: { by: 'helpdesk' },
  });
  const login = appLogin(env, u, reset + r.int(1, 5) * MIN, addr);
  env.benign.push(benignLabel('forgot-password', at, login, [u.id, addr], { failures }));
  return login;
}

/** Tenant admins handing out roles; now and then an admin role (rate per day: o.adminGrantsPerDay). */
export function roleGrants(env, day, measured) {
  const { b, r, o, pop } = env;
  if (!isWeekday(day)) return;
  const grant = (role, label) => {
    const admin = r.pick(pop.users.filter((u) => u.admin));
    const peers = pop.users.filter((u) => u.tenant === admin.tenant && u !== admin);
    if (peers.length === 0) return;
    const subject = r.pick(peers);
    const t = day + (r.float(admin.startHour + 1, admin.endHour - 1) - admin.tz) * HOUR;
    b.sec(t, 'rbac.role_granted', {
      user: admin.id,
      tenant: admin.tenant,
      dbUser: 'pgw_security_admin',
      severity: 'notice',
      fields: { role, subject: subject.id },
    });
    if (label && measured) env.benign.push(benignLabel('admin-role-granted', t, t, [admin.id, subject.id]));
  };
  for (let i = r.poisson(o.roleGrantsPerDay); i > 0; i--)
    grant(r.pick(['editor', 'viewer', 'approver', 'billing']), false);
  for (let i = r.poisson(o.adminGrantsPerDay); i > 0; i--) grant('tenant_admin', true);
}

/**
 * Users abroad (rate per user and working day: o.travelRate): a login at their home office hours
 * from a hotel in another time zone, i.e. a new address at an hour they never work.
 */
export function travel(env, day) {
  const { r, o, pop, addrs } = env;
  for (const u of pop.users) {
    if (!isWeekday(day) || !r.chance(o.travelRate)) continue;
    const shift = r.pick([-9, -8, -7, 7, 8, 9]);
    const at = day + (u.startHour - u.tz - shift) * HOUR + r.int(0, 50) * MIN;
    const addr = addrs.user();
    const end = appLogin(env, u, at, addr);
    for (let i = r.int(2, 6), t = end; i > 0; i--, t += r.exp(20 * MIN))
      env.b.audit(t, u.id, u.tenant, r.pick(pop.appHosts), r.pick(u.tables), 'UPDATE', r.int(1, 4));
    env.benign.push(benignLabel('travel', at, end + 2 * HOUR, [u.id, addr]));
  }
}

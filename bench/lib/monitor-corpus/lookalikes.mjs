// Monitor corpus: benign look-alikes of attacks, just below each rule's threshold (measured day only).
import { HOUR, MIN, SEC, benignLabel } from './basics.mjs';
import { appLogin, tokenRejected } from './benign.mjs';

/** Benign look-alikes of attacks, just below each threshold, on the measured day. */
export function lookalikes(env, day) {
  const { b, r, pop, stats } = env;
  const office = (u) => u.office ?? u.home;
  const workTime = (u, h) => day + (h - u.tz) * HOUR + r.int(0, 50) * MIN;
  // Nine failures within a few minutes, then the help desk resets the password much later.
  for (let i = 0; i < 3; i++) {
    const u = env.single();
    const at = workTime(u, u.startHour + 1 + i);
    let t = at;
    for (let k = 0; k < 9; k++, t += r.int(12, 25) * SEC) {
      b.sec(t, 'auth.login_failed', {
        user: u.id,
        tenant: u.tenant,
        addr: office(u),
        host: r.pick(pop.appHosts),
        severity: 'notice',
        fields: { reason: 'wrong_password', account: u.account, user_agent: u.agent },
      });
    }
    const reset = t + r.int(20, 40) * MIN;
    b.sec(reset, 'auth.password_reset', {
      user: u.id,
      tenant: u.tenant,
      dbUser: 'pgw_security_admin',
      severity: 'notice',
      fields: { by: 'helpdesk' },
    });
    const login = appLogin(env, u, reset + r.int(2, 6) * MIN, office(u));
    env.benign.push(benignLabel('nine-failures', at, login, [u.id, office(u)]));
  }
  // A tenant's office behind one NAT address: after a forced password rotation ten colleagues
  // mistype the new password within half an hour, then get in.
  const tenant = pop.tenants.find(
    (ten) => ten.office && pop.users.filter((u) => u.tenant === ten.name && u.office).length >= 10,
  );
  if (tenant) {
    const staff = r.shuffle(pop.users.filter((u) => u.tenant === tenant.name)).slice(0, 10);
    const at = day + (9 - tenant.tz) * HOUR + r.int(0, 20) * MIN;
    let last = at;
    staff.forEach((u, i) => {
      const t = at + i * r.int(100, 170) * SEC;
      last = Math.max(last, appLogin(env, u, t, tenant.office, r.int(1, 2), [6, 20]));
    });
    const colleagues = pop.users.filter((u) => u.tenant === tenant.name).map((u) => u.id);
    env.benign.push(benignLabel('nat-ten-accounts', at, last, [tenant.office, ...colleagues]));
  }
  // An analyst's four syntax errors within a minute.
  {
    const a = r.pick(pop.analysts);
    const at = day + (11 - a.tz) * HOUR;
    const s = b.session(at - 2 * MIN, { user: a.role, host: a.host });
    for (let k = 0; k < 4; k++)
      s.rec(at + k * 12 * SEC, {
        errorSeverity: 'ERROR',
        sqlstate: '42601',
        message: 'syntax error at or near "by"',
        statement: `select tenant_id, count(*) from app.orders grup by ${k + 1}`,
      });
    s.end(at + 3 * MIN);
    env.benign.push(benignLabel('four-syntax-errors', at, at + MIN, [a.role, a.host]));
  }
  // An analyst's 90 k rows in eight minutes (the mass-read threshold is 100 k in ten).
  {
    const a = r.pick(pop.analysts);
    const at = day + (14 - a.tz) * HOUR;
    for (let t = at; t < at + 8 * MIN; t += stats.interval)
      stats.read(a.role, t, (90_000 * stats.interval) / (8 * MIN));
    env.benign.push(benignLabel('analyst-90k-rows', at, at + 8 * MIN, [a.role]));
  }
  // Four RLS violations by the app within a minute (a client bug); the burst rule wants five.
  {
    const at = day + 15 * HOUR;
    for (let k = 0; k < 4; k++) {
      b.log(at + k * 13 * SEC, {
        user: 'app',
        database: 'app',
        remoteHost: '10.20.0.11',
        application: 'app-api',
        pid: 51020,
        errorSeverity: 'ERROR',
        sqlstate: '42501',
        message: 'new row violates row-level security policy for table "tickets"',
        statement: 'insert into app.tickets (tenant_id, subject) values ($1, $2)',
      });
    }
    env.benign.push(benignLabel('four-rls-violations', at, at + MIN, ['app', '10.20.0.11']));
  }
  // Nineteen tokens with a bad signature from one office within a minute (a client holding
  // tokens of a rotated key); token forgery needs twenty.
  {
    const ten = r.pick(pop.tenants.filter((x) => x.office));
    const at = day + (10 - ten.tz) * HOUR;
    for (let k = 0; k < 19; k++) tokenRejected(env, at + k * 3 * SEC, ten.office, 'signature');
    env.benign.push(benignLabel('nineteen-bad-tokens', at, at + MIN, [ten.office]));
  }
}

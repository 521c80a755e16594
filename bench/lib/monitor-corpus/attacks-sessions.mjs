// Monitor corpus: injected attacks from database sessions: RLS bypass attempts, SQL-injection probes,
// mass reads, superuser logins from remote addresses.
import { MIN, SEC, TABLES } from './basics.mjs';

/**
 * The acting role of an RLS-bypass or injection attack: the app role (an attack through the app)
 * or one of `direct`. Attacks by one role within 20 minutes would be one incident of the rules
 * grouped by principal (pg-rls-bypass-attempt sees the catalog probes of an injection too), which
 * says nothing about either attack: a role busy then is not picked.
 */
function actor(env, start, viaApp, direct) {
  env.busy ??= new Map();
  const free = (role) => !(env.busy.get(role) ?? []).some((t) => Math.abs(t - start) < 20 * MIN);
  const choices = [...(viaApp ? [{ role: 'app', host: env.r.pick(env.pop.appHosts) }] : []), ...env.r.shuffle(direct)];
  const who = choices.find((c) => free(c.role)) ?? choices.at(-1);
  env.busy.set(who.role, [...(env.busy.get(who.role) ?? []), start]);
  return { who, viaApp: who.role === 'app' };
}

/** M-10: leaving the role, switching row security off, reading role catalogs, writing other tenants' rows. */
export function rlsBypass(env, start, i) {
  const { b, r, pop } = env;
  const kinds = ['set-role', 'set-session-authorization', 'row-security-off', 'catalog-probe', 'violation-burst'];
  const kind = kinds[i % kinds.length];
  const { who, viaApp } = actor(env, start, r.chance(0.5), [...pop.analysts, ...pop.support]);
  const pid = r.int(3000, 90000);
  const err = (t, rec) =>
    b.log(t, {
      user: who.role,
      database: 'app',
      remoteHost: who.host,
      application: viaApp ? 'app-api' : 'psql',
      pid,
      backendType: 'client backend',
      errorSeverity: 'ERROR',
      sqlstate: '42501',
      ...rec,
    });
  const shapes = {
    'set-role': { message: 'permission denied to set role "postgres"', statement: 'set role postgres' },
    'set-session-authorization': {
      message: 'permission denied to set session authorization "postgres"',
      statement: 'set session authorization postgres',
    },
    'row-security-off': {
      message: `query would be affected by row-level security policy for table "${r.pick(TABLES).slice(4)}"`,
      hint: "To disable the policy for the table's owner, use ALTER TABLE NO FORCE ROW LEVEL SECURITY.",
      statement: 'select * from app.invoices',
    },
    'catalog-probe': {
      message: 'permission denied for table pg_authid',
      statement: 'select rolname, rolpassword from pg_catalog.pg_authid',
    },
    'violation-burst': {
      message: `new row violates row-level security policy for table "${r.pick(TABLES).slice(4)}"`,
      statement: 'insert into app.invoices (tenant_id, customer_id, total) values ($1, $2, $3)',
    },
  };
  const n = kind === 'violation-burst' ? r.int(5, 15) : r.int(1, 3);
  const gap = kind === 'violation-burst' ? r.float(20, 55) / n : r.float(5, 30);
  const times = [];
  for (let k = 0, t = start; k < n; k++, t += gap * SEC) {
    err(t, shapes[kind]);
    times.push(t);
  }
  return {
    kind: `${kind}${viaApp ? ' via app' : ''}`,
    end: times.at(-1),
    detectable: kind === 'violation-burst' ? times[4] : times[0],
    entities: [who.role, who.host],
    primary: kind === 'violation-burst' ? 'pg-rls-violation-burst' : 'pg-rls-bypass-attempt',
  };
}

/** Injection payloads and the error a vulnerable query answers them with. */
const PROBES = [
  [
    "'",
    '42601',
    'unterminated quoted string at or near "\'"',
    (p) => `select id, name from app.products where name = '${p}' order by name`,
  ],
  [
    "' UNION SELECT null, usename, passwd FROM pg_shadow--",
    '42601',
    'each UNION query must have the same number of columns',
    (p) => `select id, name from app.products where name = '${p}'`,
  ],
  [
    "1'; select pg_sleep(10)--",
    '42601',
    'cannot insert multiple commands into a prepared statement',
    (p) => `select * from app.orders where id = '${p}'`,
  ],
  ['1) or (1=1', '42601', 'syntax error at or near ")"', (p) => `select * from app.orders where (id = ${p}) limit 20`],
  [
    '1/**/UNION/**/SELECT/**/1,2,3--',
    '42601',
    'syntax error at or near "UNION"',
    (p) => `select * from app.tickets where id = ${p}`,
  ],
  [
    '%27%20OR%20%271%27%3D%271',
    '22P02',
    'invalid input syntax for type integer: "1%27%20OR%20%271%27%3D%271"',
    (p) => `select * from app.orders where id = '1${p}'`,
  ],
  [
    '%2527%20or%201=1--',
    '22P02',
    'invalid input syntax for type uuid: "%2527%20or%201=1--"',
    (p) => `select * from app.projects where id = '${p}'`,
  ],
  [
    '2024-01-01’ OR ’1’=’1',
    '22007',
    'invalid input syntax for type date: "2024-01-01’ OR ’1’=’1"',
    (p) => `select * from app.time_entries where started_at > '${p}'`,
  ],
  [
    "' AND 1=CAST((SELECT current_user) AS int)--",
    '22P02',
    'invalid input syntax for type integer: "app"',
    (p) => `select * from app.customers where email = '${p}'`,
  ],
  [
    "admin'--",
    '42601',
    'syntax error at end of input',
    (p) => `select * from app.contacts where name = '${p}' and tenant_id = $1`,
  ],
];

/** M-08: 3–25 payloads within 15 s – 3 min; those that form valid SQL run and leave no line. */
export function sqlInjection(env, start) {
  const { b, r, pop } = env;
  const { who, viaApp } = actor(env, start, r.chance(0.6), [...pop.analysts, ...pop.support, ...pop.services]);
  const n = r.int(3, 25);
  const gap = (r.float(15, 180) * SEC) / n;
  const pid = r.int(3000, 90000);
  let t = start;
  let logged = 0;
  let detectable;
  let end = start;
  for (let k = 0; k < n; k++, t += gap * r.float(0.5, 1.5)) {
    // Payloads that happen to form valid SQL run and leave no line (log_statement = ddl).
    if (!r.chance(0.65) && !(k === n - 1 && logged === 0)) continue;
    const [payload, sqlstate, message, stmt] = r.pick(PROBES);
    b.log(t, {
      user: who.role,
      database: 'app',
      remoteHost: who.host,
      application: viaApp ? 'app-api' : 'psql',
      pid,
      backendType: 'client backend',
      errorSeverity: 'ERROR',
      sqlstate,
      message,
      statement: stmt(payload),
    });
    logged += 1;
    detectable ??= t;
    end = t;
  }
  return {
    kind: viaApp ? 'through the app' : 'direct',
    end,
    detectable,
    entities: [who.role, who.host],
    probes: n,
    logged,
  };
}

/** Exfiltration by a taken-over role: a dump (0.3–4.8 M rows in 0.5–3 min) or a slower read (120–200 k rows per 10 min). */
export function massRead(env, start, i) {
  const { b, r, addrs, stats } = env;
  const pool = env.readers;
  const who = pool[i % pool.length];
  const fast = r.chance(0.8);
  const duration = fast ? r.float(0.5, 3) * MIN : r.float(10, 15) * MIN;
  const total = fast
    ? Math.round(300_000 * Math.pow(16, r.next()))
    : Math.round((r.float(120_000, 200_000) * duration) / (10 * MIN));
  const host = r.chance(0.5) ? who.host : addrs.attacker();
  const s = b.session(start, { user: who.role, host });
  stats.backend(who.role, start, start + duration, host, false, s.pid);
  const step = Math.min(stats.interval, duration);
  let sum = 0;
  let detectable;
  for (let t = start; t < start + duration; t += step) {
    stats.read(who.role, t, (total * step) / duration);
    sum += (total * step) / duration;
    if (sum >= 100_000) detectable ??= stats.slot(t);
  }
  s.end(start + duration + 5 * SEC);
  return {
    kind: `${fast ? 'dump' : 'slow'} from ${host === who.host ? 'its usual host' : 'a new address'}`,
    end: start + duration,
    detectable,
    entities: [who.role, host],
    rows: total,
  };
}

/**
 * The login line of session `pid` as the daemon hands it to the rules: `connection authorized:
 * user=…` does not say whether the role is a superuser, so the daemon's RoleAttributes, which reads
 * pg_roles, marks the logins of superuser roles with fields.superuser before the pipeline
 * (daemon.ts: `pipeline.push(roles.mark(events))`). replayCorpus has no role catalog to run that
 * step with; without it a scripted session of a few seconds, which no statistics sample catches,
 * reached the rules as a login of an ordinary role.
 */
function markSuperuserLogin(b, pid) {
  const login = b.entries.findLast((x) => x.event.type === 'pg.login' && x.event.fields.pid === pid);
  if (login) login.event.fields = { ...login.event.fields, superuser: true };
}

/**
 * A superuser session from a remote address: interactive (minutes) or scripted (seconds). Its
 * server-log login is detectable whatever the length; the statistics source sees the session
 * only when it is alive at a sample.
 */
export function superuserRemoteLogin(env, start) {
  const { b, r, addrs, stats } = env;
  const role = r.chance(0.8) ? 'postgres' : 'pgadmin';
  const host = r.chance(0.7) ? addrs.attacker() : `10.${r.int(50, 99)}.${r.int(0, 254)}.${r.int(2, 250)}`;
  const quick = r.chance(0.15);
  const duration = quick ? r.float(1, 5) * SEC : r.float(0.5, 20) * MIN;
  const s = b.session(start, { user: role, host, database: 'postgres' });
  markSuperuserLogin(b, s.pid);
  stats.backend(role, start, start + duration, host, true, s.pid);
  s.end(start + duration);
  return {
    kind: quick ? 'scripted (seconds)' : 'interactive',
    end: start + duration,
    detectable: start,
    entities: [role, host],
  };
}

// Monitor corpus: the benign database side: the app role's pool and errors, the services, the nightly
// batch, analysts and support in psql, the DBAs' maintenance and the evening migration.
import { DAY, HOUR, MIN, SEC, TABLES, activeShare, benignLabel, isWeekday } from './basics.mjs';
import { pgauditMessage } from './builder.mjs';

/** The app role's errors per (busy) day: bugs, races, timeouts; none of them an attack. */
const APP_ERRORS = [
  [
    40,
    {
      sqlstate: '23505',
      message: 'duplicate key value violates unique constraint "contacts_tenant_email_key"',
      detail: 'Key (tenant_id, email)=(tenant-03, a.lee@example.com) already exists.',
      statement: 'insert into app.contacts (tenant_id, name, email) values ($1, $2, $3)',
    },
  ],
  [
    8,
    {
      sqlstate: '40001',
      message: 'could not serialize access due to concurrent update',
      statement: 'update app.stock_moves set qty = qty - $1 where id = $2',
    },
  ],
  [
    4,
    {
      sqlstate: '57014',
      message: 'canceling statement due to statement timeout',
      statement: 'select count(*) from app.time_entries where tenant_id = $1 and started_at > $2',
    },
  ],
  [
    6,
    {
      sqlstate: '22P02',
      message: 'invalid input syntax for type uuid: "undefined"',
      statement: 'select * from app.projects where tenant_id = $1 and id = $2',
    },
  ],
  [
    2,
    {
      sqlstate: '40P01',
      message: 'deadlock detected',
      detail: 'Process 41250 waits for ShareLock on transaction 98123; blocked by process 41377.',
      statement: 'update app.orders set status = $1 where id = $2',
    },
  ],
  [
    2,
    {
      sqlstate: '42501',
      message: 'new row violates row-level security policy for table "documents"',
      statement: 'insert into app.documents (tenant_id, title, body) values ($1, $2, $3)',
    },
  ],
  // A customer whose name has an apostrophe: the legacy import builds its statement with literals.
  [
    2,
    {
      sqlstate: '23505',
      message: 'duplicate key value violates unique constraint "contacts_tenant_email_key"',
      statement:
        "insert into app.contacts (tenant_id, name, email) values ('tenant-05', 'Siobhán O''Brien', 'siobhan.obrien@example.ie')",
    },
  ],
];

/** The application's own database traffic: the app role's pool, errors, the worker and services. */
export function appDatabase(env, day) {
  const { b, r, o, pop, stats } = env;
  const step = stats.interval;
  for (let t = day; t < day + DAY; t += step) {
    const share = activeShare(pop, t);
    const perSample = (o.appRowsPerMinute * share * step) / MIN;
    stats.read('app', t, perSample * r.float(0.7, 1.3));
    stats.write('app', t, (perSample / 12) * r.float(0.5, 1.5));
    stats.read('app_worker', t, ((600 * step) / MIN) * r.float(0.5, 1.5));
  }
  for (const svc of pop.services) {
    for (let t = day + r.exp(8 * MIN); t < day + DAY; t += r.exp(8 * MIN)) stats.read(svc.role, t, r.int(50, 4000));
  }
  // The pool: 8 connections per app host, each recycled after 30–90 min.
  for (const host of pop.appHosts) {
    for (let c = 0; c < 8; c++) {
      for (let t = day + r.float(0, 60) * MIN; t < day + DAY;) {
        const end = t + r.float(30, 90) * MIN;
        const s = b.session(t, { user: 'app', host, app: 'app-api' });
        stats.backend('app', t, end, host, false, s.pid);
        s.end(end);
        t = end + r.int(1, 30) * SEC;
      }
    }
  }
  const appError = (t, r2) =>
    b.log(t, {
      user: 'app',
      database: 'app',
      remoteHost: r.pick(pop.appHosts),
      application: 'app-api',
      pid: r.int(3000, 90000),
      backendType: 'client backend',
      errorSeverity: 'ERROR',
      ...r2,
    });
  const during = (perDay, make) => {
    for (let i = r.poisson(perDay); i > 0; i--) {
      let t = day + r.float(0, DAY);
      while (!r.chance(activeShare(pop, t))) t = day + r.float(0, DAY);
      make(t);
    }
  };
  for (const [perDay, record] of APP_ERRORS) during(perDay, (t) => appError(t, record));
  during(30, (t) =>
    b.log(t, {
      user: 'app',
      database: 'app',
      remoteHost: r.pick(pop.appHosts),
      application: 'app-api',
      pid: r.int(3000, 90000),
      message: `duration: ${r.float(1000, 4000).toFixed(3)} ms  execute <unnamed>: select o.id, o.total, c.name from app.orders o join app.customers c on c.id = o.customer_id where o.tenant_id = $1 order by o.created_at desc limit 50`,
    }),
  );
  // The server's own lines: checkpoints every 5 minutes, autovacuum now and then.
  for (let t = day + r.float(0, 5) * MIN; t < day + DAY; t += 5 * MIN) {
    b.log(t, { pid: 61, backendType: 'checkpointer', message: 'checkpoint starting: time' });
    b.log(t + r.float(150, 270) * SEC, {
      pid: 61,
      backendType: 'checkpointer',
      message: `checkpoint complete: wrote ${r.int(200, 9000)} buffers (${r.float(0.5, 12).toFixed(1)}%); 0 WAL file(s) added, 0 removed, ${r.int(0, 3)} recycled; write=${r.float(100, 269).toFixed(3)} s, sync=0.004 s, total=${r.float(100, 270).toFixed(3)} s`,
    });
  }
  for (let i = r.poisson(30); i > 0; i--) {
    b.log(day + r.float(0, DAY), {
      pid: r.int(3000, 90000),
      backendType: 'autovacuum worker',
      message: `automatic vacuum of table "app.${r.pick(TABLES).slice(4)}": index scans: 1\npages: 0 removed, ${r.int(100, 90000)} remain`,
    });
  }
}

/** Analysts, support staff, the nightly batch, the morning report, the DBAs and the migration. */
export function staffDay(env, day, measured) {
  const { b, r, pop, stats } = env;
  const weekday = isWeekday(day);
  // Nightly batch 01:00–02:30 UTC: a warehouse extract reading 1–1.5 M rows every night.
  const etlStart = day + HOUR + r.int(0, 10) * MIN;
  const etlEnd = etlStart + r.int(80, 95) * MIN;
  const etl = b.session(etlStart, { user: 'etl_batch', host: '10.40.0.7', app: 'warehouse-extract' });
  stats.backend('etl_batch', etlStart, etlEnd, '10.40.0.7', false, etl.pid);
  const etlRows = r.int(1_000_000, 1_500_000);
  for (let t = etlStart; t < etlEnd; t += stats.interval)
    stats.read('etl_batch', t, (etlRows * stats.interval) / (etlEnd - etlStart));
  etl.end(etlEnd);
  if (measured)
    env.benign.push(benignLabel('nightly-batch', etlStart, etlEnd, ['etl_batch', '10.40.0.7'], { rows: etlRows }));
  // The morning report (06:00 UTC), 40–70 k rows.
  const rep = day + 6 * HOUR + r.int(0, 5) * MIN;
  for (let t = rep, rows = r.int(40_000, 70_000); t < rep + 5 * MIN; t += stats.interval)
    stats.read('reporting', t, (rows * stats.interval) / (5 * MIN));
  if (!weekday) return;
  for (const a of [...pop.analysts, ...pop.support]) {
    if (!r.chance(0.65)) continue;
    for (let n = r.int(1, 3); n > 0; n--) humanSession(env, a, day + (r.int(8, 17) - a.tz) * HOUR + r.int(0, 59) * MIN);
  }
  dbaMaintenance(env, day);
  if (measured || new Date(day).getUTCDay() === 2 || new Date(day).getUTCDay() === 4)
    migration(env, day + 21 * HOUR + r.int(30, 45) * MIN, measured);
}

/** An analyst's or a support agent's psql session: reads, slow queries, the odd typo. */
function humanSession(env, person, start) {
  const { b, r, stats } = env;
  const end = start + r.float(15, 90) * MIN;
  const s = b.session(start, { user: person.role, host: person.host });
  stats.backend(person.role, start, end, person.host, false, s.pid);
  const analyst = person.role.startsWith('analyst');
  for (let t = start + r.exp(3 * MIN); t < end; t += r.exp(4 * MIN)) {
    stats.read(person.role, t, analyst ? Math.round(50 * Math.pow(160, r.next())) : r.int(1, 60));
    if (r.chance(0.06)) {
      s.rec(
        t,
        r.pick([
          {
            errorSeverity: 'ERROR',
            sqlstate: '42601',
            message: 'syntax error at or near "form"',
            statement: "select count(*) form app.orders where created_at > now() - interval '7 days'",
          },
          {
            errorSeverity: 'ERROR',
            sqlstate: '42703',
            message: 'column "custmer_id" does not exist',
            hint: 'Perhaps you meant to reference the column "orders.customer_id".',
            statement: 'select custmer_id, sum(total) from app.orders group by 1',
          },
        ]),
      );
    }
    if (!analyst && r.chance(0.15)) {
      const name = r.pick(["O''Brien", "D''Angelo", 'O’Neill', "N''Diaye", "L''Oréal"]);
      s.rec(t + 500, {
        message: `duration: ${r.float(1000, 2500).toFixed(3)} ms  statement: select id, name, email from app.customers where tenant_id = 'tenant-0${r.int(1, 9)}' and name ilike '%${name}%' order by name`,
      });
    }
  }
  s.end(end);
}

/** The DBAs' maintenance: an index, storage settings, a logging setting, a stuck backend. */
function dbaMaintenance(env, day) {
  const { b, r, stats } = env;
  const t = day + r.float(9.5, 11) * HOUR;
  const s = b.session(t, { user: 'dba_jane', host: '10.0.0.10' });
  stats.backend('dba_jane', t, t + 25 * MIN, '10.0.0.10', false, s.pid);
  s.rec(t + 2 * MIN, {
    message: 'statement: create index concurrently if not exists orders_status_idx on app.orders (tenant_id, status)',
  });
  s.rec(t + 9 * MIN, {
    message: 'statement: alter table app.time_entries set (autovacuum_vacuum_scale_factor = 0.02)',
  });
  stats.read('dba_jane', t + 12 * MIN, r.int(100, 3000));
  s.end(t + 25 * MIN);
  if (r.chance(0.3)) {
    // The superuser on the database host itself (Unix socket: no address).
    const p = t + r.float(1, 4) * HOUR;
    const su = b.session(p, { user: 'postgres', host: '[local]', database: 'postgres' });
    stats.backend('postgres', p, p + 4 * MIN, undefined, true, su.pid);
    su.rec(p + MIN, { message: "statement: alter system set log_min_duration_statement = '1s'" });
    b.log(p + MIN + 500, {
      pid: 58,
      backendType: 'postmaster',
      message: 'received SIGHUP, reloading configuration files',
    });
    b.log(p + MIN + 600, {
      pid: 58,
      backendType: 'postmaster',
      message: 'parameter "log_min_duration_statement" changed to "1s"',
    });
    su.rec(p + 2 * MIN, { message: 'statement: select pg_catalog.pg_terminate_backend(48211)' });
    b.log(p + 2 * MIN + 50, {
      user: 'app',
      database: 'app',
      remoteHost: '10.20.0.12',
      pid: 48211,
      errorSeverity: 'FATAL',
      sqlstate: '57P01',
      message: 'terminating connection due to administrator command',
    });
    su.end(p + 4 * MIN);
  }
}

/**
 * A security admin approves a change window ahead of the change (monitor.open_change_window()),
 * as the security-event source delivers it: the window read back from monitor.change_windows.
 */
function approveWindow(env, at, principal, startsAt, endsAt, reason, ticket) {
  const id = (env.changeWindows = (env.changeWindows ?? 0) + 1);
  env.b.sec(at, 'monitor.change_window_opened', {
    user: 'lena.ops@example.com',
    dbUser: 'pgw_security_admin',
    addr: '10.0.0.21',
    severity: 'warning',
    fields: {
      window_id: id,
      principal,
      starts_at: new Date(startsAt).toISOString(),
      ends_at: new Date(endsAt).toISOString(),
      reason,
      ticket,
      approved_by: 'pgw_security_admin',
      window_verified: true,
      window_principal: principal,
      window_starts: startsAt,
      window_ends: endsAt,
    },
  });
}

/** An evening deploy's migration: a table with RLS and a policy, a grant, a column, an index, one policy replaced. */
function migration(env, at, measured) {
  const { b, r, stats } = env;
  const ticket = `CHG-${r.int(1000, 9999)}`;
  // The deploy's change ticket was approved in the afternoon, for the evening's release window.
  approveWindow(env, at - r.int(3, 5) * HOUR, 'migrator', at - 30 * MIN, at + 90 * MIN, 'release migration', ticket);
  const s = b.session(at, { user: 'migrator', host: '10.30.0.5', app: 'migrate' });
  stats.backend('migrator', at, at + 3 * MIN, '10.30.0.5', false, s.pid);
  const n = r.int(100, 999);
  const table = `app.approvals_${n}`;
  let t = at + 5 * SEC;
  const stmt = (sql, events = []) => {
    s.rec(t, { message: `statement: ${sql}` });
    if (/^grant /i.test(sql)) s.rec(t + 1, { message: pgauditMessage(r.int(1, 99), 'ROLE', 'GRANT', sql) });
    for (const [type, severity, fields] of events) {
      b.sec(t + r.int(50, 900), type, {
        user: 'migrator',
        dbUser: 'migrator',
        addr: '10.30.0.5',
        severity,
        fields: { session_user: 'migrator', current_user: 'migrator', query: sql, ...fields },
      });
    }
    t += r.int(1, 8) * SEC;
  };
  const base = (tag, type, identity) => ({
    command_tag: tag,
    object_type: type,
    object_identity: identity,
    schema: 'app',
    in_extension: false,
  });
  stmt(
    `create table ${table} (id bigint generated always as identity primary key, tenant_id text not null, order_id bigint not null, approved_by uuid, created_at timestamptz not null default now())`,
  );
  stmt(`alter table ${table} enable row level security`, [
    ['ddl.rls', 'notice', { ...base('ALTER TABLE', 'table', table), row_security: '{"after":true,"before":false}' }],
  ]);
  stmt(
    `create policy tenant_isolation on ${table} using (tenant_id = auth.tenant_id()) with check (tenant_id = auth.tenant_id())`,
    [
      [
        'ddl.policy',
        'notice',
        { ...base('CREATE POLICY', 'policy', `tenant_isolation on ${table}`), action: 'create' },
      ],
    ],
  );
  stmt(`grant select, insert, update, delete on ${table} to app`, [
    ['ddl.grant', 'notice', base('GRANT', 'table', table)],
  ]);
  stmt(`alter table app.orders add column approved_at_${n} timestamptz`);
  stmt(`create index concurrently orders_approved_${n}_idx on app.orders (tenant_id, approved_at_${n})`);
  stmt('drop policy if exists orders_read on app.orders', [
    ['ddl.policy', 'warning', { ...base('DROP POLICY', 'policy', 'orders_read on app.orders'), action: 'drop' }],
  ]);
  stmt(
    'create policy orders_read on app.orders for select using (tenant_id = auth.tenant_id() and deleted_at is null)',
    [['ddl.policy', 'notice', { ...base('CREATE POLICY', 'policy', 'orders_read on app.orders'), action: 'create' }]],
  );
  s.end(t + 10 * SEC);
  if (!measured) return;
  env.benign.push(benignLabel('migration', at, t + 10 * SEC, ['migrator', '10.30.0.5']));
  // The DBA grants a predefined role in the window, as the change ticket approved: one window for
  // the DBA's statement, one for the role that changes (the role catalog names no actor).
  const g = t + r.int(1, 4) * MIN;
  approveWindow(env, at - 2 * HOUR, 'dba_jane', at - 30 * MIN, at + 90 * MIN, 'reporting reads all data', ticket);
  approveWindow(env, at - 2 * HOUR, 'reporting', at - 30 * MIN, at + 90 * MIN, 'reporting reads all data', ticket);
  const d = b.session(g, { user: 'dba_jane', host: '10.0.0.10' });
  d.rec(g + 20 * SEC, { message: 'statement: grant pg_read_all_data to reporting' });
  d.rec(g + 20 * SEC + 1, { message: pgauditMessage(3, 'ROLE', 'GRANT', 'grant pg_read_all_data to reporting') });
  d.end(g + 2 * MIN);
  env.benign.push(benignLabel('dba-approved-grant', g, g + 2 * MIN, ['dba_jane', '10.0.0.10']));
}

// The request context's cost, measured against baselines run side by side on one throwaway cluster:
//   1. queries/s of one primary-key SELECT through withRequestContext (read-only: one round trip;
//      with a session-bearing token, plus the session check in SQL; read-write: one transaction,
//      so a second round trip for COMMIT) against the same bare query on the same pool, and
//      against a naive context (BEGIN; SET LOCAL ROLE; set_config; query; COMMIT as separate
//      statements). Same pool, 8 clients (CPU-bound on 2 cores) then 1 client (latency-bound),
//      interleaved slices.
//   2. the row-level-security predicate `tenant = (select auth.tenant_id())` on a 1,000,000-row
//      table with 1,000 tenants against the same query with an explicit WHERE on an identical
//      table without RLS, both through the context; and, for contrast, a policy calling a
//      plpgsql function per row (not wrapped in a sub-select), run once.
//
//   npm run build && node bench/context.mjs [rounds] [ms-per-slice]
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ContextKey } from '../dist/context/context-seal.js';
import { registerContextKey } from '../dist/context/context-keys.js';
import { createContextPool, withRequestContext } from '../dist/context/request-context.js';
import { withClient } from '../dist/db/client.js';
import { LocalCluster } from '../dist/db/embedded/index.js';
import { install } from '../dist/install/index.js';

const rounds = Number(process.argv[2] ?? 10);
const sliceMs = Number(process.argv[3] ?? 300);
let concurrency = 8;
const dir = await mkdtemp(join(tmpdir(), 'pgwarden-bench-context-'));
const cluster = new LocalCluster({ dataDir: join(dir, 'data'), ephemeral: true });

try {
  await cluster.init();
  const admin = { ...(await cluster.start()) };
  await withClient(admin, (c) => c.query('create database bench'));
  const db = { ...admin, database: 'bench' };
  const key = new ContextKey(randomBytes(32));
  const password = randomBytes(12).toString('hex');
  await withClient(db, async (c) => {
    await install(c, { tier: 'standard', rolePrefix: 'pgw_' });
    await registerContextKey(c, key);
    await c.query(`alter role pgw_authenticator password '${password}'`);
    await c.query(`
      create schema bench;
      grant usage on schema bench to pgw_app_user, pgw_authenticator;
      create table bench.items (id int primary key, tenant text not null, body text not null);
      insert into bench.items select g, 't' || (g % 1000), md5(g::text) from generate_series(1, 100000) g;
      grant select on bench.items to pgw_app_user, pgw_authenticator;

      create table bench.rls_rows (id bigint primary key, tenant text not null, amount int not null);
      create table bench.plain_rows (id bigint primary key, tenant text not null, amount int not null);
      create table bench.slow_rows (id bigint primary key, tenant text not null, amount int not null);
      insert into bench.rls_rows select g, 't' || (g % 1000), g % 97 from generate_series(1, 1000000) g;
      insert into bench.plain_rows select * from bench.rls_rows;
      insert into bench.slow_rows select * from bench.rls_rows;
      create index on bench.rls_rows (tenant);
      create index on bench.plain_rows (tenant);
      create index on bench.slow_rows (tenant);
      alter table bench.rls_rows enable row level security, force row level security;
      create policy tenant_rows on bench.rls_rows to pgw_app_user using (tenant = (select auth.tenant_id()));
      -- the anti-pattern: a VOLATILE plpgsql function called per row, so no index can be used
      create function bench.current_tenant() returns text language plpgsql volatile as
        $$ begin return auth.tenant_id(); end $$;
      alter table bench.slow_rows enable row level security, force row level security;
      create policy tenant_rows on bench.slow_rows to pgw_app_user using (tenant = bench.current_tenant());
      grant execute on function bench.current_tenant() to pgw_app_user;
      grant select on bench.rls_rows, bench.plain_rows, bench.slow_rows to pgw_app_user;
    `);
    await c.query('vacuum analyze bench.items, bench.rls_rows, bench.plain_rows, bench.slow_rows');
  });
  const pool = new pg.Pool({ ...db, user: 'pgw_authenticator', password, max: 8 });
  const ctx = createContextPool({ pool, key });
  const claims = { sub: '00000000-0000-4000-8000-000000000001', tenant: 't42', roles: ['member'] };
  const identity = await ctx.identify(claims);
  // A token of a real pgwarden session (sid, av): each request also checks the session in SQL.
  const sessionClaims = await withClient(db, async (c) => {
    const { rows: u } = await c.query(
      "insert into auth.users (email, tenant) values ('bench@example.test', 't42') returning id, authz_version",
    );
    const { rows: ses } = await c.query(
      `insert into auth.sessions (user_id, tenant, created_at, last_seen_at, idle_expires_at, absolute_expires_at, aal)
       values ($1, 't42', now(), now(), now() + interval '1 hour', now() + interval '1 day', 'aal1') returning id`,
      [u[0].id],
    );
    return { sub: u[0].id, tenant: 't42', roles: ['member'], sid: ses[0].id, av: Number(u[0].authz_version) };
  });
  const sessionIdentity = await ctx.identify(sessionClaims);
  const Q = 'select id, tenant, body from bench.items where id = $1';
  let n = 0;
  const nextId = () => 1 + (n++ % 100000);
  const check = (rows) => {
    if (rows.length !== 1) throw new Error('expected one row');
  };

  const ops = {
    bare: async () => check((await pool.query(Q, [nextId()])).rows),
    'context, read-only': () =>
      withRequestContext(ctx, identity, async (q) => check((await q.query(Q, [nextId()])).rows), { readOnly: true }),
    'context, read-only, session checked': () =>
      withRequestContext(ctx, sessionIdentity, async (q) => check((await q.query(Q, [nextId()])).rows), {
        readOnly: true,
      }),
    'context, read-write': () =>
      withRequestContext(ctx, identity, async (q) => check((await q.query(Q, [nextId()])).rows)),
    'naive context': async () => {
      const c = await pool.connect();
      try {
        await c.query('begin');
        await c.query('set local role pgw_app_user');
        await c.query("select set_config('request.jwt.claims', $1, true)", [JSON.stringify(claims)]);
        await c.query("select set_config('request.jwt.claim.sub', $1, true)", [claims.sub]);
        check((await c.query(Q, [nextId()])).rows);
        await c.query('commit');
      } finally {
        c.release();
      }
    },
  };

  async function slice(op, ms) {
    let count = 0;
    const end = performance.now() + ms;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          await op();
          count++;
        }
      }),
    );
    return count / (ms / 1000);
  }

  for (const op of Object.values(ops)) await slice(op, 200); // warm-up: connections, plans, JIT of V8
  const version = await withClient(db, async (c) => (await c.query('show server_version')).rows[0].server_version);
  console.log(`PostgreSQL ${version}, pool of 8, ${rounds} rounds × ${sliceMs} ms per variant, interleaved`);
  console.log('1. one primary-key SELECT per request, queries/s');
  for (const clients of [8, 1]) {
    concurrency = clients;
    const totals = Object.fromEntries(Object.keys(ops).map((k) => [k, 0]));
    for (let r = 0; r < rounds; r++)
      for (const [name, op] of Object.entries(ops)) totals[name] += await slice(op, sliceMs);
    console.log(`   ${clients} client(s)`);
    for (const [name, total] of Object.entries(totals)) {
      const qps = total / rounds;
      console.log(
        `     ${name.padEnd(36)} ${qps.toFixed(0).padStart(7)} q/s   ratio ${(total / totals.bare).toFixed(2)}`,
      );
    }
  }

  // 2. RLS predicate against an explicit WHERE, both through the context (read-only).
  const time = async (sql, params, reps) => {
    const times = [];
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await withRequestContext(ctx, identity, (q) => q.query(sql, params), { readOnly: true });
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  };
  const RLS = 'select count(*), sum(amount) from bench.rls_rows';
  const WHERE = 'select count(*), sum(amount) from bench.plain_rows where tenant = $1';
  await time(RLS, [], 20);
  await time(WHERE, ['t42'], 20);
  let rls = 0;
  let where = 0;
  for (let r = 0; r < rounds; r++) {
    rls += await time(RLS, [], 30);
    where += await time(WHERE, ['t42'], 30);
  }
  const [{ count: seen }] = (
    await withRequestContext(ctx, identity, (q) => q.query('select count(*) from bench.rls_rows'), { readOnly: true })
  ).rows;
  console.log(`2. 1,000,000 rows, 1,000 tenants (${seen} rows visible to the tenant), median ms per request`);
  console.log(`   explicit WHERE tenant = $1      ${(where / rounds).toFixed(3).padStart(8)} ms`);
  console.log(
    `   RLS (select auth.tenant_id())   ${(rls / rounds).toFixed(3).padStart(8)} ms   ratio ${(rls / where).toFixed(2)}×`,
  );
  const slow = await time('select count(*), sum(amount) from bench.slow_rows', [], 1);
  console.log(
    `   RLS calling a volatile plpgsql function per row ${slow.toFixed(1).padStart(8)} ms   ratio ${(slow / (where / rounds)).toFixed(0)}×`,
  );
  await pool.end();
} finally {
  await cluster.stop().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}

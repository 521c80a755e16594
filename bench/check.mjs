// Compliance scanner speed: one full scan of one database (every check, host checks included,
// over one read-only connection) against the same scan made the way pgdsat works, one new
// connection per query; and a fleet of 20 databases scanned concurrently against one after the
// other. Both sides of each pair run interleaved on one throwaway cluster, so noise hits both.
//
//   npm run build && node bench/check.mjs [rounds] [fleet-size]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { scanDatabase, scanWithClient } from '../dist/check/index.js';
import { scanFleet } from '../dist/check/fleet.js';
import { withClient } from '../dist/db/client.js';
import { LocalCluster } from '../dist/db/embedded/index.js';
import { install } from '../dist/install/index.js';

const rounds = Number(process.argv[2] ?? 9);
const fleetSize = Number(process.argv[3] ?? 20);
const dir = await mkdtemp(join(tmpdir(), 'pgwarden-bench-'));
const cluster = new LocalCluster({ dataDir: join(dir, 'data'), ephemeral: true });
await cluster.init();
const admin = { ...(await cluster.start()) };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => `${x.toFixed(0)} ms`;

// A database that looks like a real multi-tenant app: pgwarden installed, 40 tenant tables with
// policies and indexes, views and functions, so every lint has catalog rows to read.
async function appTemplate() {
  await withClient(admin, (c) => c.query('create database bench_app'));
  const db = { ...admin, database: 'bench_app' };
  await withClient(db, async (c) => {
    await install(c, { tier: 'advanced', rolePrefix: 'pgw_' });
    await c.query('create schema api; grant usage on schema api to pgw_app_user');
    for (let i = 0; i < 40; i++) {
      await c.query(`create table api.t${i} (id bigint generated always as identity primary key,
        tenant_id text not null, body text, created_at timestamptz default now());
        create index on api.t${i} (tenant_id);
        alter table api.t${i} enable row level security;
        create policy tenant on api.t${i} to pgw_app_user using (tenant_id = auth.tenant_id())
          with check (tenant_id = auth.tenant_id());
        grant select, insert, update, delete on api.t${i} to pgw_app_user;
        create view api.v${i} with (security_invoker) as select id, body from api.t${i};
        create function api.f${i}(x int) returns int language sql immutable set search_path = pg_catalog as 'select x + ${i}';`);
    }
  });
  await withClient(admin, (c) => c.query('alter database bench_app is_template true'));
  return db;
}

/** The pgdsat cost model: every query on a connection of its own. */
class ConnectionPerQuery {
  constructor(conn) {
    this.conn = conn;
  }
  async query(sql, params) {
    const c = new pg.Client({
      ...this.conn,
      options: '-c default_transaction_read_only=on -c statement_timeout=10000',
    });
    await c.connect();
    try {
      return await c.query(sql, params);
    } finally {
      await c.end();
    }
  }
}

try {
  const db = await appTemplate();
  const report = await scanDatabase(db, {});
  const s = report.summary;
  console.log(
    `one database: ${s.checks} checks (${s.pass} pass, ${s.fail} fail, ${s.notEvaluated} not evaluated, ${s.manual} manual, ${s.notApplicable} n/a), host checks ${report.host ? 'on' : 'off'}`,
  );
  const times = { one: [], perQuery: [] };
  for (let i = 0; i < rounds; i++) {
    let t = performance.now();
    await scanDatabase(db, {});
    times.one.push(performance.now() - t);
    t = performance.now();
    await scanWithClient(new ConnectionPerQuery(db), {});
    times.perQuery.push(performance.now() - t);
  }
  const one = median(times.one);
  const perQuery = median(times.perQuery);
  console.log(`full scan, one connection (pgwarden)        median ${ms(one)} wall (goal < 500 ms)`);
  console.log(`full scan, a connection per query (pgdsat)  median ${ms(perQuery)} wall`);
  console.log(
    `ratio: ${(perQuery / one).toFixed(2)}x faster on one connection; vs pgdsat's 1.8 s: ${(1800 / one).toFixed(1)}x`,
  );

  const names = [];
  for (let i = 0; i < fleetSize; i++) {
    const name = `fleet_${i}`;
    await withClient(admin, (c) => c.query(`create database ${name} template bench_app`));
    names.push(name);
  }
  const targets = names.map((name) => ({ name, connection: { ...admin, database: name } }));
  const fleet = { concurrent: [], sequential: [] };
  for (let i = 0; i < Math.max(3, Math.floor(rounds / 3)); i++) {
    let t = performance.now();
    const r = await scanFleet(targets, { concurrency: 4 });
    fleet.concurrent.push(performance.now() - t);
    if (r.some((x) => x.error))
      throw new Error(`a fleet target failed: ${JSON.stringify(r.find((x) => x.error).error)}`);
    t = performance.now();
    await scanFleet(targets, { concurrency: 1 });
    fleet.sequential.push(performance.now() - t);
  }
  const conc = median(fleet.concurrent);
  const seq = median(fleet.sequential);
  console.log(
    `fleet of ${fleetSize}, 4 at a time       median ${ms(conc)} wall (${ms(conc / fleetSize)} per database)`,
  );
  console.log(`fleet of ${fleetSize}, one after another median ${ms(seq)} wall`);
  console.log(`ratio: ${(seq / conc).toFixed(2)}x faster concurrently`);
} finally {
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
}

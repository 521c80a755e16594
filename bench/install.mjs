// Installer overhead: `install()` (preflight, ledger checks, advisory lock, one transaction per
// file, ledger rows, event) against the same SQL files applied raw, one transaction each, with
// nothing else. Both run interleaved on one throwaway cluster, so machine noise hits both alike.
// Also `getStatus()` against a single `select version()` round trip.
//
//   npm run build && node bench/install.mjs [rounds]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withClient } from '../dist/db/client.js';
import { LocalCluster } from '../dist/db/embedded/index.js';
import { defaultCatalog, getStatus, install, roleNames } from '../dist/install/index.js';
import { renderSql } from '../dist/install/render-sql.js';

const rounds = Number(process.argv[2] ?? 15);
const dir = await mkdtemp(join(tmpdir(), 'pgwarden-bench-'));
const cluster = new LocalCluster({ dataDir: join(dir, 'data'), ephemeral: true });
await cluster.init();
const conn = await cluster.start();
// ClusterConnection already points at the maintenance database 'postgres'.
const admin = { ...conn };
const catalog = defaultCatalog();
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function freshDb(name) {
  await withClient(admin, (c) => c.query(`create database ${name}`));
  return { ...admin, database: name };
}

async function baseline(db, prefix) {
  const roles = roleNames(prefix);
  await withClient(db, async (c) => {
    for (const file of catalog.files) {
      const schema = (
        await c.query(
          `select n.nspname as s from pg_extension e join pg_namespace n on n.oid = e.extnamespace where extname = 'pgcrypto'`,
        )
      ).rows[0]?.s;
      await c.query('begin');
      if (!file.privileged) await c.query(`set local role ${roles.owner}`);
      await c.query(renderSql(file, { prefix, roles, pgcryptoSchema: schema }));
      await c.query('commit');
    }
  });
}

const times = { baseline: [], install: [], select: [], status: [] };
try {
  for (let i = 0; i < rounds; i++) {
    // Each round uses its own role prefix so neither side benefits from roles made by the other.
    const a = await freshDb(`b_raw_${i}`);
    const b = await freshDb(`b_inst_${i}`);
    let t = performance.now();
    await baseline(a, `braw${i}_`);
    times.baseline.push(performance.now() - t);
    t = performance.now();
    await withClient(b, (c) => install(c, { tier: 'advanced', rolePrefix: `binst${i}_` }));
    times.install.push(performance.now() - t);
    await withClient(b, async (c) => {
      for (let j = 0; j < 20; j++) {
        let s = performance.now();
        await c.query('select version()');
        times.select.push(performance.now() - s);
        s = performance.now();
        await getStatus(c, { rolePrefix: `binst${i}_`, tier: 'advanced' });
        times.status.push(performance.now() - s);
      }
    });
  }
  const row = (name, base, cand) =>
    `${name.padEnd(34)} baseline ${median(base).toFixed(2).padStart(8)} ms   pgwarden ${median(cand).toFixed(2).padStart(8)} ms   ratio ${(median(cand) / median(base)).toFixed(2)}×`;
  console.log(
    `PostgreSQL ${await cluster.serverMajor()} embedded, ${catalog.files.length} SQL files, ${rounds} rounds, medians`,
  );
  console.log(row('install advanced vs raw SQL', times.baseline, times.install));
  console.log(row('getStatus vs select version()', times.select, times.status));
} finally {
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
}

// The audit trail's cost on writes, and the ledger's sealing and verification speed, each against
// a baseline measured side by side in the same run on one throwaway cluster (advanced tier):
//   1. pgbench (TPC-B-like, scale 10, 4 clients, 2 threads, prepared statements) TPS in four
//      variants alternating in rounds on one database: plain (no audit); trigger capture
//      (audit.enable(…, 'trigger') on all four pgbench tables: the records written in each
//      transaction); WAL capture + ledger, deferred (audit.enable(…, 'wal'): the writers' cost,
//      with the capture and the sealer run after the timed run, and timed themselves); WAL
//      capture + ledger, live (the capture service and the sealer each running every second in
//      this process during the run, on the same two cores, as `pgwarden up` runs them). The
//      figure is each variant's median TPS as a ratio to plain's. Then one short WAL-captured run
//      with function statistics on, to show what the context trigger costs.
//   2. rows/s of sealLedger() over freshly written trail rows, and of verifyLedger() over the
//      whole ledger, against SHA-256 alone in Node over the same leaf texts (and 1 KiB buffers),
//      against reading those leaf texts (built in PostgreSQL) from the database and hashing them,
//      and against reading the leaf fields and building and hashing the leaves in Node.
//
// pgbench is Debian's PostgreSQL 15 client (`pg_config --bindir`); the embedded package ships
// none, and a PostgreSQL 15 pgbench drives the PostgreSQL 17 server fine. `--only=ledger` runs
// section 2 alone (pgbench only initialises its tables): a minute instead of several.
//
//   npm run build && node bench/audit.mjs [--only=ledger] [rounds] [seconds-per-run] [rows-to-seal]
import { execFile } from 'node:child_process';
import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { captureWal, setupWalCapture } from '../dist/audit/capture/index.js';
import { CopyLeafReader, copyRows } from '../dist/audit/ledger/copy-leaves.js';
import {
  leafFieldsSql,
  leafHashOfText,
  leafTextFromFields,
  leafTextSql,
  LedgerSource,
  rawTextTypes,
} from '../dist/audit/ledger/encoding.js';
import { initLedger, sealLedger, verifyLedger } from '../dist/audit/ledger/index.js';
import { generateMasterKey, parseMasterKey } from '../dist/auth/crypto/index.js';
import { connect, withClient } from '../dist/db/client.js';
import { LocalCluster } from '../dist/db/embedded/index.js';
import { install } from '../dist/install/index.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
if (only !== undefined && only !== 'ledger') {
  console.error(`unknown section ${only}: --only=ledger is the one there is`);
  process.exit(1);
}
const rounds = Number(args[0] ?? 3);
const seconds = Number(args[1] ?? 25);
const sealRows = Number(args[2] ?? 200000);
const run = promisify(execFile);
const TABLES = ['pgbench_accounts', 'pgbench_tellers', 'pgbench_branches', 'pgbench_history'];
const VARIANTS = ['plain', 'trigger capture', 'WAL + ledger, deferred', 'WAL + ledger, live'];
const MODE = {
  plain: 'off',
  'trigger capture': 'trigger',
  'WAL + ledger, deferred': 'wal',
  'WAL + ledger, live': 'wal',
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const PROBE_SECONDS = 10;
const fmt = (n, width = 9) => Math.round(n).toLocaleString('en-US').padStart(width);

const pgbenchPath = await (async () => {
  try {
    const bindir = (await run('pg_config', ['--bindir'])).stdout.trim();
    await access(join(bindir, 'pgbench'));
    return join(bindir, 'pgbench');
  } catch {
    return undefined;
  }
})();
if (pgbenchPath === undefined) {
  console.error(
    'bench/audit.mjs needs pgbench, which the embedded PostgreSQL does not ship: install the Debian\n' +
      'PostgreSQL client programs (`apt-get install postgresql-15`, or postgresql-client-15) so that\n' +
      '`$(pg_config --bindir)/pgbench` exists, then run it again.',
  );
  process.exit(1);
}

const dir = await mkdtemp(join(tmpdir(), 'pgwarden-bench-audit-'));
// ephemeral (no fsync) like the other benches: the machine's disk would otherwise set the pace.
// The whole pgbench data set and the trail written during the run fit in shared_buffers, and a
// large max_wal_size keeps checkpoints (an uneven cost) out of the timed runs.
const cluster = new LocalCluster({
  dataDir: join(dir, 'data'),
  ephemeral: true,
  settings: { shared_buffers: '1GB', max_wal_size: '8GB', checkpoint_timeout: '30min' },
});

try {
  await cluster.init();
  const admin = { ...(await cluster.start()) };
  await withClient(admin, (c) => c.query('create database bench'));
  const db = { ...admin, database: 'bench' };
  const env = { ...process.env, PGHOST: db.host, PGPORT: String(db.port), PGUSER: db.user, PGPASSWORD: db.password };
  const pgbench = async (args, extraEnv = {}) =>
    (await run(pgbenchPath, [...args, 'bench'], { env: { ...env, ...extraEnv }, maxBuffer: 1 << 24 })).stdout;

  await pgbench(['-i', '-s', '10', '-q', '-I', 'dtGvp']);
  const masterKey = parseMasterKey(generateMasterKey());
  const c = await connect(db);
  // The sealer and the capture have a connection each, as `pgwarden up` would.
  const sealer = await connect(db);
  const capturer = await connect(db);
  try {
    await install(c, { tier: 'advanced', rolePrefix: 'pgw_' });
    // audit.enable() needs a primary key; every variant gets the column, so all do the same work.
    await c.query('alter table pgbench_history add column hid bigint generated always as identity primary key');
    await initLedger(c, { masterKey, hybrid: true });
    await setupWalCapture(c);
    const version = (await c.query('show server_version')).rows[0].server_version;
    const pgbenchVersion = (await run(pgbenchPath, ['--version'])).stdout.trim();

    // One database for all variants: the variants differ only in the triggers, which are created
    // and dropped between runs (a few ms of DDL, outside the timing). Separate databases would
    // each carry their own cache state and bloat; here every run starts from the same tables,
    // vacuumed, with pgbench_history emptied, as pgbench itself prepares a run.
    const setAudit = async (on) => {
      for (const t of TABLES) await c.query(`select audit.${on ? 'enable' : 'disable'}($1::regclass)`, [`public.${t}`]);
    };
    // off, trigger or wal on all four tables.
    const setMode = async (mode) => {
      for (const t of TABLES) {
        if (mode === 'off') await c.query('select audit.disable($1::regclass)', [`public.${t}`]);
        else await c.query(`select audit.enable($1::regclass, '{}', '{}', $2)`, [`public.${t}`, mode]);
      }
    };
    // Applies the log and seals everything, outside any timing, so each run starts with nothing
    // left over; returns what it did and how long it took.
    const catchUp = async () => {
      const t0 = performance.now();
      let captured = 0;
      for (;;) {
        const r = await captureWal(capturer);
        captured += r?.rows ?? 0;
        if (!r || r.rows === 0) break;
      }
      const t1 = performance.now();
      let sealed = 0;
      for (;;) {
        const r = await sealLedger(sealer, { masterKey, batchSize: 10000 });
        sealed += r.sealed;
        if (r.sealed === 0) break;
      }
      return { captured, sealed, captureMs: t1 - t0, sealMs: performance.now() - t1 };
    };
    const prepare = async () => {
      await c.query('truncate pgbench_history');
      await c.query('vacuum analyze pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history');
      await c.query('checkpoint');
    };
    const pgbenchRun = async (s, extraEnv) => {
      const out = await pgbench(['-c', '4', '-j', '2', '-T', String(s), '-M', 'prepared', '-n'], extraEnv);
      const tps = /^tps = ([\d.]+)/m.exec(out);
      const txns = /^number of transactions actually processed: (\d+)/m.exec(out);
      const latency = /^latency average = ([\d.]+) ms/m.exec(out);
      if (!tps || !txns || !latency) throw new Error(`unexpected pgbench output:\n${out}`);
      return { tps: Number(tps[1]), txns: Number(txns[1]), latencyMs: Number(latency[1]) };
    };
    // Runs `step` every second while the run lasts, like one of the daemon's loops.
    const every = (step) => {
      const stats = { runs: 0, rows: 0, ms: 0, maxMs: 0 };
      let stopped = false;
      let failure;
      // A failing step is kept and rethrown at stop, so the cluster is still stopped below.
      const loop = (async () => {
        while (!stopped) {
          const t0 = performance.now();
          const rows = await step();
          const ms = performance.now() - t0;
          stats.runs++;
          stats.rows += rows;
          stats.ms += ms;
          stats.maxMs = Math.max(stats.maxMs, ms);
          const until = t0 + 1000;
          while (!stopped && performance.now() < until) await sleep(Math.min(50, until - performance.now()));
        }
      })().catch((err) => {
        failure = err;
      });
      return async () => {
        stopped = true;
        await loop;
        if (failure) throw failure;
        return stats;
      };
    };
    const startServices = () => {
      const capture = every(async () => (await captureWal(capturer))?.rows ?? 0);
      const seal = every(async () => (await sealLedger(sealer, { masterKey, batchSize: 10000 })).sealed);
      return async () => ({ capture: await capture(), seal: await seal() });
    };

    if (only === 'ledger') {
      console.log(`PostgreSQL ${version}, section 2 only (--only=ledger); load average ${loadavg()[0].toFixed(1)}`);
    } else {
      console.log(
        `PostgreSQL ${version}, ${pgbenchVersion}, scale 10, 4 clients, 2 threads, -M prepared, ` +
          `${rounds} rounds × ${seconds} s per variant, alternating; load average ${loadavg()[0].toFixed(1)}`,
      );
      console.log('1. pgbench TPC-B-like, audit on all four tables');
      const tps = Object.fromEntries(VARIANTS.map((v) => [v, []]));
      const deferred = [];
      const live = [];
      let mode = 'off';
      await setMode('off');
      await pgbenchRun(5); // warm-up
      for (let r = 0; r < rounds; r++) {
        for (const variant of VARIANTS) {
          if (MODE[variant] !== mode) await setMode((mode = MODE[variant]));
          await prepare();
          await catchUp();
          const stop = variant === 'WAL + ledger, live' ? startServices() : undefined;
          const result = await pgbenchRun(seconds);
          tps[variant].push(result.tps);
          if (stop) live.push({ ...(await stop()), backlog: await catchUp(), txns: result.txns });
          else if (variant === 'WAL + ledger, deferred') deferred.push({ ...(await catchUp()), txns: result.txns });
        }
      }
      const plain = median(tps.plain);
      for (const variant of VARIANTS) {
        const runs = tps[variant].map((t) => t.toFixed(0)).join(' ');
        console.log(
          `   ${variant.padEnd(24)} ${fmt(median(tps[variant]), 6)} TPS median   ratio ${(median(tps[variant]) / plain).toFixed(2)}   (runs: ${runs})`,
        );
      }
      const sum = (xs, f) => xs.reduce((a, x) => a + f(x), 0);
      const captured = sum(deferred, (d) => d.captured);
      console.log(
        `   deferred catch-up after each run: ${fmt(captured, 0)} rows (${(captured / sum(deferred, (d) => d.txns)).toFixed(1)} per transaction) ` +
          `applied from the log at ${fmt((captured * 1000) / sum(deferred, (d) => d.captureMs), 0)} rows/s, ` +
          `sealed at ${fmt((sum(deferred, (d) => d.sealed) * 1000) / sum(deferred, (d) => d.sealMs), 0)} rows/s; ` +
          `${(sum(deferred, (d) => d.captureMs + d.sealMs) / 1000 / rounds).toFixed(1)} s per ${seconds} s run`,
      );
      const busy = (k) => ((sum(live, (l) => l[k].ms) / (rounds * seconds * 1000)) * 100).toFixed(0);
      console.log(
        `   live services: capture ${fmt(
          sum(live, (l) => l.capture.rows),
          0,
        )} rows in ${sum(live, (l) => l.capture.runs)} passes ` +
          `(busy ${busy('capture')} %, longest ${Math.max(...live.map((l) => l.capture.maxMs)).toFixed(0)} ms), ` +
          `sealer ${fmt(
            sum(live, (l) => l.seal.rows),
            0,
          )} rows (busy ${busy('seal')} %); ` +
          `left at the end ${live.map((l) => l.backlog.captured + l.backlog.sealed).join(', ')} rows`,
      );

      // What the writers pay under WAL capture: one WAL-captured run with function timing on
      // (it costs a little itself, so it is kept out of the comparison above).
      await setMode((mode = 'wal'));
      await prepare();
      await catchUp();
      await c.query('select pg_stat_reset()');
      const probe = await pgbenchRun(PROBE_SECONDS, { PGOPTIONS: '-c track_functions=all' });
      const { rows: fns } = await c.query(
        `select schemaname || '.' || funcname as fn, calls, total_time, self_time from pg_stat_user_functions
          where schemaname in ('audit', 'auth') order by total_time desc`,
      );
      console.log(
        `   where the writers' time goes under WAL capture (one ${PROBE_SECONDS} s run, track_functions = all: ${fmt(probe.tps, 0)} TPS, ` +
          `latency ${probe.latencyMs.toFixed(2)} ms)`,
      );
      for (const f of fns) {
        const perTxn = f.total_time / probe.txns;
        console.log(
          `     ${f.fn.padEnd(22)} ${(f.calls / probe.txns).toFixed(1)} calls/txn  ` +
            `${((f.total_time / f.calls) * 1000).toFixed(1).padStart(6)} µs/call (self ${((f.self_time / f.calls) * 1000).toFixed(1)})  ` +
            `${(perTxn * 1000).toFixed(0).padStart(4)} µs/txn`,
        );
      }
      await catchUp();
    }

    // 2. Sealing and verification throughput.
    // The trail rows come from one bulk UPDATE, timed with the triggers off and then on.
    const bulkUpdate = async () => {
      await c.query('vacuum pgbench_accounts');
      const t = performance.now();
      await c.query('update pgbench_accounts set abalance = abalance + 1 where aid <= $1', [sealRows]);
      return performance.now() - t;
    };
    await setAudit(false);
    const plainFillMs = await bulkUpdate();
    // Trigger capture: the rows are in the trail at commit, and the fill time shows its cost.
    await c.query(`select audit.enable($1::regclass, '{}', '{}', 'trigger')`, ['public.pgbench_accounts']);
    const { rows: before } = await c.query('select coalesce(max(id), 0) as id from audit.row_changes');
    const fillMs = await bulkUpdate();
    // "On one core": no parallel workers, whose CPU time the backend's own would not show.
    for (const client of [c, sealer]) await client.query('set max_parallel_workers_per_gather = 0');
    // Fresh statistics for every query below (autovacuum would get there, at a time of its own).
    await c.query('analyze audit.row_changes, logs.notification_log, ledger.entries');
    const fresh = await hashBaseline(c, before[0].id);
    if (fresh.read.rows !== sealRows) throw new Error(`expected ${sealRows} new trail rows, found ${fresh.read.rows}`);
    const seal = await measure(sealer, async () => {
      const r = await sealLedger(sealer, { masterKey, batchSize: 10000 });
      return { rows: r.sealed, result: r };
    });
    if (seal.rows < sealRows) throw new Error(`sealed ${seal.rows} rows, expected at least ${sealRows}`);
    await c.query('analyze ledger.entries');
    const whole = await hashBaseline(c, 0);
    const verify = await measure(sealer, async () => {
      const r = await verifyLedger(sealer, { masterKey });
      return { rows: r.rows, result: r };
    });
    const v = verify.result;
    if (v.status !== 'ok') throw new Error(`the ledger did not verify: ${JSON.stringify(v.findings).slice(0, 500)}`);
    const kib = sha256OfBuffers(sealRows, 1024);

    // Two rates per line: rows per second of wall time, and rows per CPU-second (this process plus
    // the PostgreSQL backend serving it), which is the "on one core" figure and moves less when
    // other work shares the machine.
    const wall = (m) => (m.rows / m.wallMs) * 1000;
    const cpu = (m) => (m.rows / m.cpuMs) * 1000;
    const line = (name, m) => `   ${name.padEnd(44)} ${fmt(wall(m))} rows/s  ${fmt(cpu(m))} rows/CPU-s`;
    const ratios = (m, base) =>
      `     ratio to SHA-256 alone ${(wall(m) / wall(base.hash)).toFixed(2)} (CPU ${(cpu(m) / cpu(base.hash)).toFixed(2)}), ` +
      `to read + SHA-256 ${(wall(m) / wall(base.read)).toFixed(2)} (CPU ${(cpu(m) / cpu(base.read)).toFixed(2)}), ` +
      `to COPY + leaves from bytes ${(wall(m) / wall(base.copied)).toFixed(2)} (CPU ${(cpu(m) / cpu(base.copied)).toFixed(2)})`;
    const split = (m) =>
      `     CPU: Node ${m.nodeMs.toFixed(0)} ms + its PostgreSQL backend ${m.backendMs.toFixed(0)} ms, wall ${m.wallMs.toFixed(0)} ms`;
    console.log(
      `2. sealing ${fmt(sealRows, 0)} trail rows from one bulk UPDATE of pgbench_accounts (${fillMs.toFixed(0)} ms audited, ` +
        `${plainFillMs.toFixed(0)} ms plain: ${(fillMs / plainFillMs).toFixed(1)}×); leaf texts ` +
        `${Math.round(fresh.bytes / fresh.read.rows)} bytes on average; batches of 10,000`,
    );
    console.log(line('SHA-256 alone, 1 KiB buffers', kib));
    console.log(line('SHA-256 alone, the leaf texts (leaf hash)', fresh.hash));
    console.log(line('leaf texts built in PostgreSQL, not sent', fresh.server));
    console.log(line('read the leaf texts + SHA-256', fresh.read));
    console.log(line('leaves built in Node + SHA-256 (Node only)', fresh.build));
    console.log(line('read the leaf fields, leaves built in Node', fresh.fields));
    console.log(line('COPY the leaf fields, leaves from the bytes', fresh.copied));
    console.log(line(`sealLedger (${seal.result.batches} batches)`, seal));
    console.log(ratios(seal, fresh));
    console.log(split(seal));
    console.log(`   verifying the whole ledger (${fmt(v.rows, 0)} rows, ${v.checkpoints.stored} signed checkpoints)`);
    console.log(line('SHA-256 alone, the leaf texts (leaf hash)', whole.hash));
    console.log(line('leaf texts built in PostgreSQL, not sent', whole.server));
    console.log(line('read the leaf texts + SHA-256', whole.read));
    console.log(line('leaves built in Node + SHA-256 (Node only)', whole.build));
    console.log(line('read the leaf fields, leaves built in Node', whole.fields));
    console.log(line('COPY the leaf fields, leaves from the bytes', whole.copied));
    console.log(line('verifyLedger', verify));
    console.log(ratios(verify, whole));
    console.log(split(verify));
    console.log(`load average at the end ${loadavg()[0].toFixed(1)}`);
  } finally {
    await sealer.end().catch(() => undefined);
    await capturer.end().catch(() => undefined);
    await c.end().catch(() => undefined);
  }
} finally {
  await cluster.stop().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}

/**
 * Runs `fn` (which returns `{ rows, result }`) and measures its wall time and CPU time: this
 * process's and that of the PostgreSQL backend serving `client`.
 */
async function measure(client, fn) {
  const meter = await cpuMeter(client);
  const t0 = performance.now();
  const { rows, result } = await fn();
  const wallMs = performance.now() - t0;
  const { node, backend } = await meter();
  return { rows, result, wallMs, cpuMs: node + backend, nodeMs: node, backendMs: backend };
}

/**
 * The floor under the sealer and the verifier, over the audit rows after `afterId`:
 *   server: PostgreSQL building their leaf texts (leafTextSql, the encoding's definition)
 *           without sending them, in one aggregate query;
 *   read:   reading those texts in keyset batches of 10,000 and hashing them as RFC 6962 leaves;
 *   hash:   the hashing alone (Node only);
 *   fields: reading the leaf fields instead (leafFieldsSql) in the same batches, and building
 *           and hashing the leaves in Node (leafTextFromFields);
 *   build:  the building and hashing alone (Node only);
 *   copied: the leaf fields read through one COPY instead, each leaf built and hashed from the
 *           row's bytes as it arrives (CopyLeafReader: what the sealer and the verifier do).
 */
async function hashBaseline(client, afterId) {
  const leaf = leafTextSql(LedgerSource.rowChange, 'r');
  await client.query('set search_path = pg_catalog, pg_temp');
  const server = await measure(client, async () => {
    const { rows } = await client.query(
      `select pg_catalog.count(*)::int as n, pg_catalog.sum(pg_catalog.octet_length(${leaf}))
         from audit.row_changes r where r.id > $1`,
      [afterId],
    );
    return { rows: rows[0].n };
  });
  const hash = { rows: 0, wallMs: 0, cpuMs: 0 };
  let bytes = 0;
  const read = await measure(client, async () => {
    let cursor = afterId;
    let rows = 0;
    for (;;) {
      const { rows: batch } = await client.query(
        `select r.id, ${leaf} as leaf from audit.row_changes r where r.id > $1 order by r.id limit 10000`,
        [cursor],
      );
      if (batch.length === 0) return { rows };
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      for (const row of batch) leafHashOfText(row.leaf);
      const c1 = process.cpuUsage(c0);
      hash.wallMs += performance.now() - t0;
      hash.cpuMs += (c1.user + c1.system) / 1000;
      hash.rows += batch.length;
      for (const row of batch) bytes += Buffer.byteLength(row.leaf);
      rows += batch.length;
      cursor = batch[batch.length - 1].id;
    }
  });
  // The same rows' leaf fields, read unparsed, the leaves built and hashed in Node.
  const build = { rows: 0, wallMs: 0, cpuMs: 0 };
  const fields = await measure(client, async () => {
    let cursor = afterId;
    let rows = 0;
    for (;;) {
      const { rows: batch } = await client.query({
        text: `select r.id, ${leafFieldsSql(LedgerSource.rowChange, 'r')} from audit.row_changes r where r.id > $1 order by r.id limit 10000`,
        values: [cursor],
        rowMode: 'array',
        types: rawTextTypes,
      });
      if (batch.length === 0) return { rows };
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      for (const row of batch) leafHashOfText(leafTextFromFields(LedgerSource.rowChange, row, 1));
      const c1 = process.cpuUsage(c0);
      build.wallMs += performance.now() - t0;
      build.cpuMs += (c1.user + c1.system) / 1000;
      build.rows += batch.length;
      rows += batch.length;
      cursor = batch[batch.length - 1][0];
    }
  });
  // The same through COPY, the leaves built and hashed from the rows' bytes (as the sealer and
  // the verifier do).
  const reader = new CopyLeafReader();
  const copied = await measure(client, async () => {
    const rows = await copyRows(
      client,
      `copy (select ${leafFieldsSql(LedgerSource.rowChange, 'r')} from audit.row_changes r
              where r.id > ${Number(afterId)} order by r.id) to stdout`,
      (row) => reader.reset(row).leafHash(LedgerSource.rowChange),
    );
    return { rows };
  });
  await client.query('reset search_path');
  return { server, read, hash, bytes, fields, build, copied };
}

/** SHA-256 of `count` buffers of `size` random bytes with node:crypto: rows, wall and CPU ms. */
function sha256OfBuffers(count, size) {
  const buffers = Array.from({ length: 256 }, () => randomBytes(size));
  for (let i = 0; i < 10000; i++)
    createHash('sha256')
      .update(buffers[i & 255])
      .digest(); // warm-up
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < count; i++)
    createHash('sha256')
      .update(buffers[i & 255])
      .digest();
  const c1 = process.cpuUsage(c0);
  return { rows: count, wallMs: performance.now() - t0, cpuMs: (c1.user + c1.system) / 1000 };
}

/**
 * Starts measuring CPU time: this process's, and that of the PostgreSQL backend serving `client`
 * (from /proc; it runs on this machine). The returned function gives both in ms so far.
 */
async function cpuMeter(client) {
  const pid = (await client.query('select pg_backend_pid() as pid')).rows[0].pid;
  // utime and stime, fields 14 and 15 of /proc/<pid>/stat, in clock ticks (USER_HZ, 100 on Linux).
  const backend = async () => {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  };
  const node0 = process.cpuUsage();
  const backend0 = await backend();
  return async () => {
    const node = process.cpuUsage(node0);
    return { node: (node.user + node.system) / 1000, backend: (await backend()) - backend0 };
  };
}

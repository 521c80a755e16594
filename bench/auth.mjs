// Identity throughput at the default argon2id cost (m=19456 KiB, t=2, p=1):
//   * logins/s through AuthService (begin_login, argon2 verify, finish_login, session, EdDSA JWT)
//     against the bare argon2 verify rate, both at the same concurrency, interleaved in rounds on
//     one throwaway cluster so machine noise hits both alike; p50/p99 latency of each;
//   * memory under 200 logins started at once (the hashing limiter bounds argon2 memory);
//   * refreshes/s (rotation with reuse detection) against a bare single-row UPDATE round trip.
//
//   npm run build && node bench/auth.mjs [rounds] [seconds-per-round]
import argon2 from 'argon2';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { AuthService } from '../dist/auth/auth-service.js';
import { generateMasterKey, parseMasterKey } from '../dist/auth/crypto/index.js';
import { loadDefaultBlocklist, PasswordHasher } from '../dist/auth/password/index.js';
import { withClient } from '../dist/db/client.js';
import { LocalCluster } from '../dist/db/embedded/index.js';
import { install } from '../dist/install/index.js';

const rounds = Number(process.argv[2] ?? 3);
const seconds = Number(process.argv[3] ?? 4);
const concurrency = availableParallelism();
const dir = await mkdtemp(join(tmpdir(), 'pgwarden-bench-auth-'));
const cluster = new LocalCluster({ dataDir: join(dir, 'data'), ephemeral: true });
await cluster.init();
const admin = { ...(await cluster.start()) };
await withClient(admin, (c) => c.query('create database bench'));
const db = { ...admin, database: 'bench' };
await withClient(db, (c) => install(c, { tier: 'basic', rolePrefix: 'pgw_' }));
const pool = new pg.Pool({ ...db, max: 16 });

const hasher = new PasswordHasher({ concurrency, maxQueue: 1000 });
const auth = new AuthService({
  pool,
  masterKey: parseMasterKey(generateMasterKey()),
  hasher,
  blocklist: await loadDefaultBlocklist(),
  issuer: 'bench',
  audience: 'bench',
  accessTokenTtlSeconds: 900,
  signingAlg: 'EdDSA',
  passwordMinLength: 8,
  passwordMaxLength: 256,
  productWords: ['pgwarden'],
  totpIssuer: 'bench',
  adminRole: 'admin',
  adminRequiresMfa: true,
});

const password = 'benchmark passphrase for logins';
const users = [];
for (let i = 0; i < 64; i++) {
  const email = `u${i}@bench.example`;
  await auth.register({ email, password, tenant: 'bench' });
  users.push(email);
}
const stored = await argon2.hash(password, { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];
const fmt = (n, w = 8) => n.toFixed(1).padStart(w);

// CPU seconds used so far by every postgres process (Linux /proc), to split the cost of a login
// between this process and the database server.
async function postgresCpuSeconds() {
  let ticks = 0;
  for (const pid of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const m = /^\d+ \((postgres)\) (.*)$/.exec(stat.trim());
    if (!m) continue;
    const f = m[2].split(' ');
    ticks += Number(f[11]) + Number(f[12]); // utime, stime
  }
  return ticks / 100;
}

/** Runs `op` from `workers` concurrent clients for `ms`; returns ops/s, latencies and CPU used. */
async function run(op, ms, workers = concurrency) {
  const cpu0 = process.cpuUsage();
  const pg0 = await postgresCpuSeconds();
  const latencies = [];
  const end = performance.now() + ms;
  let n = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (performance.now() < end) {
        const t = performance.now();
        await op(w, n++);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  const pgCpu = (await postgresCpuSeconds()) - pg0;
  const ops = latencies.length;
  return {
    perSecond: (ops * 1000) / ms,
    latencies,
    nodeCpuMsPerOp: (cpu.user + cpu.system) / 1000 / ops,
    pgCpuMsPerOp: (pgCpu * 1000) / ops,
  };
}

// Each login comes from its own address, as real users do, so the per-source throttle sees one
// attempt each and the per-account hourly cap (100) never triggers: rotate across 64 users.
let addr = 0;
const nextSource = () => {
  addr += 1;
  return `10.${(addr >> 16) & 255}.${(addr >> 8) & 255}.${addr & 255}`;
};
const login = async (w, n) => {
  const r = await auth.login({ email: users[n % users.length], password }, { source: nextSource() });
  if (r.kind !== 'session') throw new Error('login failed');
};
const bare = async () => {
  if (!(await argon2.verify(stored, password))) throw new Error('verify failed');
};

const bareRuns = [];
const loginRuns = [];
// The bare rate is argon2 alone on every core. Logins come from 4 clients per core, as a loaded
// service sees them: while one waits on the database, the limiter gives its core to the next hash.
const clients = 4 * concurrency;
for (let r = 0; r < rounds; r++) {
  bareRuns.push(await run(bare, seconds * 1000));
  loginRuns.push(await run(login, seconds * 1000, clients));
}
const rate = (runs) => runs.reduce((s, x) => s + x.perSecond, 0) / runs.length;
const avg = (runs, key) => runs.reduce((s, x) => s + x[key], 0) / runs.length;
const lat = (runs) => runs.flatMap((x) => x.latencies);

// Memory: 200 logins at once. Baseline RSS after a GC, then the peak while they run.
globalThis.gc?.();
const rssBefore = process.memoryUsage().rss;
let peak = rssBefore;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
let maxActive = 0;
const watch = setInterval(() => (maxActive = Math.max(maxActive, hasher.stats().active)), 2);
const burst = performance.now();
const settled = await Promise.allSettled(Array.from({ length: 200 }, (_, i) => login(0, i)));
const burstMs = performance.now() - burst;
clearInterval(sampler);
clearInterval(watch);
const ok = settled.filter((s) => s.status === 'fulfilled').length;

// Refreshes: rotate one family per worker; baseline: a single-row UPDATE ... RETURNING round trip.
await pool.query('create table if not exists public.bench_row (id int primary key, n bigint)');
await pool.query('insert into public.bench_row select g, 0 from generate_series(0, 63) g on conflict do nothing');
const tokens = [];
for (let w = 0; w < concurrency; w++) {
  const r = await auth.login({ email: users[w], password }, { source: nextSource() });
  tokens.push(r.refreshToken);
}
const refresh = async (w) => {
  const t = await auth.refresh(tokens[w]);
  tokens[w] = t.refreshToken;
};
const update = async (w) => {
  await pool.query('update public.bench_row set n = n + 1 where id = $1 returning n', [w]);
};
const updRuns = [];
const refRuns = [];
for (let r = 0; r < rounds; r++) {
  updRuns.push(await run(update, 2000));
  refRuns.push(await run(refresh, 2000));
}

const b = rate(bareRuns);
const l = rate(loginRuns);
console.log(
  `PostgreSQL ${await cluster.serverMajor()} embedded, argon2id m=19456 t=2 p=1, ${concurrency} hashing slots, ${rounds} rounds × ${seconds} s`,
);
console.log(
  `logins (${clients} clients) vs bare argon2 verify (${concurrency} at once)\n                               baseline ${fmt(b)} /s  p50 ${fmt(pct(lat(bareRuns), 50))} ms  p99 ${fmt(pct(lat(bareRuns), 99))} ms`,
);
console.log(
  `                               pgwarden ${fmt(l)} /s  p50 ${fmt(pct(lat(loginRuns), 50))} ms  p99 ${fmt(pct(lat(loginRuns), 99))} ms  ratio ${(l / b).toFixed(2)}`,
);
const verifyCpu = avg(bareRuns, 'nodeCpuMsPerOp');
const loginNodeCpu = avg(loginRuns, 'nodeCpuMsPerOp');
const loginPgCpu = avg(loginRuns, 'pgCpuMsPerOp');
console.log(
  `CPU per login                  argon2 verify ${fmt(verifyCpu, 5)} ms; pgwarden in Node +${fmt(loginNodeCpu - verifyCpu, 4)} ms; PostgreSQL ${fmt(loginPgCpu, 4)} ms`,
);
console.log(
  `  with PostgreSQL on its own host the service would reach ${(verifyCpu / loginNodeCpu).toFixed(2)} of the bare verify rate`,
);
console.log(
  `200 logins at once             ${ok} ok in ${burstMs.toFixed(0)} ms; argon2 running at most ${maxActive} (limit ${concurrency}); RSS +${((peak - rssBefore) / 2 ** 20).toFixed(0)} MiB (peak ${(peak / 2 ** 20).toFixed(0)} MiB)`,
);
const u = rate(updRuns);
const f = rate(refRuns);
console.log(
  `refreshes vs UPDATE round trip baseline ${fmt(u)} /s   pgwarden ${fmt(f)} /s  p50 ${fmt(pct(lat(refRuns), 50))} ms  p99 ${fmt(pct(lat(refRuns), 99))} ms  ratio ${(f / u).toFixed(2)}`,
);

await pool.end();
await cluster.stop();
await rm(dir, { recursive: true, force: true });

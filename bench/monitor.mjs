// The security monitor: three measurements, each against what it can be compared with in the same run.
//   1. Server-log throughput on one core: a sample of real log text captured once from a throwaway
//      cluster (jsonlog, csvlog and stderr with the recommended log_line_prefix; connections,
//      statements, errors, failed passwords, pgaudit-format lines), amplified with other clients,
//      users and times, then parser → classifyLogRecord → MonitorPipeline (the whole built-in pack
//      and UserAnalytics, no database) in this process. Baseline side by side: splitting the same
//      bytes into lines (and JSON.parse per line for jsonlog); the parser and the classifier alone
//      show where the time goes. Repeated, min and median.
//   2. Event-to-alert latency on live traffic: the monitor server (default intervals, the server
//      log tailed) on a throwaway cluster with app traffic, benign logins and connection churn
//      running, and brute-force incidents (10 failed logins on a fresh account from a fresh
//      address, written as pgwarden's login writes them) at a steady rate; from the commit of the
//      10th failure to the monitor-alert event of the new alert.
//   3. Detection quality on the labelled corpus of bench/lib/monitor-corpus.mjs (case M-15).
//
//   npm run build && node bench/monitor.mjs [--only=throughput|latency|quality] [--seeds=1,2,3]
//                                           [--save-sample=DIR] [repetitions] [lines-per-format] [incidents]
// --save-sample writes the amplified logs (sample.json, .csv, .log) for `pgwarden monitor replay` or a profiler.
import { Buffer } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { configSchema } from '../dist/config/index.js';
import { quoteLiteral, withClient } from '../dist/db/client.js';
import { LocalCluster } from '../dist/db/embedded/index.js';
import { install } from '../dist/install/index.js';
import { UserAnalytics } from '../dist/monitor/analytics/index.js';
import { ChangeWindows } from '../dist/monitor/change-windows.js';
import { startMonitorServer } from '../dist/monitor/monitor-server.js';
import { MonitorPipeline } from '../dist/monitor/pipeline.js';
import { loadRules, RuleEngine } from '../dist/monitor/rules/index.js';
import {
  classifyLogRecord,
  createLogParser,
  recommendedLogLinePrefix,
} from '../dist/monitor/sources/server-log/index.js';
import { ATTACK_CLASSES, generateCorpus, quantile, replayCorpus, scoreCorpus } from './lib/monitor-corpus.mjs';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flag = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const only = flag('only');
if (only !== undefined && !['throughput', 'latency', 'quality'].includes(only)) {
  console.error(`unknown section ${only}: --only=throughput, latency or quality`);
  process.exit(1);
}
const reps = Number(args[0] ?? 5);
const targetLines = Number(args[1] ?? 100_000);
const incidents = Number(args[2] ?? 120);
const seeds = (flag('seeds') ?? '1,2,3').split(',').map(Number);
const FORMATS = ['jsonlog', 'csvlog', 'stderr'];
const CHUNK = 64 * 1024;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n, width = 9) => Math.round(n).toLocaleString('en-US').padStart(width);
const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
const logSettings = {
  logging_collector: 'on',
  log_destination: 'stderr,csvlog,jsonlog',
  log_line_prefix: recommendedLogLinePrefix,
  log_connections: 'on',
  log_disconnections: 'on',
  log_min_error_statement: 'error',
  log_timezone: 'UTC',
  lc_messages: 'C',
};

/** A throwaway cluster with the recommended log settings (logging_collector needs a restart). */
async function loggingCluster(name, extra = {}) {
  const dir = await mkdtemp(join(tmpdir(), `pgwarden-bench-${name}-`));
  const cluster = new LocalCluster({ dataDir: join(dir, 'data'), ephemeral: true });
  await cluster.init();
  await withClient(await cluster.start(), async (c) => {
    for (const [k, v] of Object.entries({ ...logSettings, ...extra }))
      await c.query(`alter system set ${k} = ${quoteLiteral(v)}`);
  });
  await cluster.stop();
  const admin = { ...(await cluster.start()) };
  return { dir, cluster, admin, logDir: join(cluster.dataDir, 'log') };
}

// ------------------------------------------------------------------------------- 1. throughput

/** Client sessions whose log lines make the sample: statements, errors, failed logins, pgaudit lines. */
async function driveSample(admin) {
  const users = Array.from({ length: 20 }, (_, i) => `bench_u${String(i).padStart(2, '0')}`);
  await withClient(admin, async (c) => {
    await c.query(`create table public.items (id bigint generated always as identity primary key,
      tenant text not null, name text not null unique, qty int not null default 0)`);
    for (const u of users)
      await c.query(`create role ${u} login password 'pw-${u}'; grant select, insert, update on public.items to ${u}`);
  });
  const statements = [
    (i) => `select id, name, qty from public.items where tenant = 'tenant-${i % 7}' order by id desc limit 25`,
    (i) => `insert into public.items (tenant, name) values ('tenant-${i % 7}', 'item ${i}')`,
    (i) => `update public.items set qty = qty + 1 where id = ${i}`,
    () => `select count(*) from public.items where name ilike '%O''Brien%'`,
    () => `insert into public.items (tenant, name) values ('t', 'dup')`, // 23505 after the first
    () => 'selec id from public.items', // 42601
    () => `select * from public.items where id = 'abc'`, // 22P02
    () => 'set role postgres', // 42501
    () =>
      `do $$ begin raise log 'AUDIT: SESSION,1,1,ROLE,GRANT,TABLE,public.items,"grant select on public.items to bench_u01",<not logged>'; end $$`,
  ];
  const weights = [30, 12, 12, 4, 2, 2, 2, 1, 3];
  const pick = (i) => {
    let x = (i * 7919) % weights.reduce((a, b) => a + b);
    for (const [k, w] of weights.entries()) if ((x -= w) < 0) return statements[k];
    return statements[0];
  };
  for (let s = 0; s < 120; s++) {
    const user = users[s % users.length];
    if (s % 12 === 5) {
      const bad = new pg.Client({ ...admin, user, password: 'wrong', application_name: 'bench-app' });
      await bad.connect().catch(() => undefined);
      await bad.end().catch(() => undefined);
      continue;
    }
    const c = new pg.Client({ ...admin, user, password: `pw-${user}`, application_name: 'bench-app' });
    await c.connect();
    for (let k = 0; k < 6 + (s % 10); k++) await c.query(pick(s * 31 + k)(s * 31 + k)).catch(() => undefined);
    await c.end();
  }
  await withClient(admin, (c) => c.query(`select 'end_of_sample'`).catch(() => undefined));
}

/** Captures the log text of `driveSample` in each format from a throwaway cluster. */
async function captureSample() {
  const env = await loggingCluster('monitor-sample', { log_statement: 'all' });
  try {
    await driveSample(env.admin);
    const texts = {};
    const ext = { jsonlog: '.json', csvlog: '.csv', stderr: '.log' };
    for (const format of FORMATS) {
      for (let i = 0; i < 200 && !texts[format]?.includes('end_of_sample'); i++) {
        const files = (await readdir(env.logDir)).filter((f) => f.endsWith(ext[format])).sort();
        texts[format] = (await Promise.all(files.map((f) => readFile(join(env.logDir, f), 'utf8')))).join('');
        await sleep(50);
      }
      // Keep whole lines up to the marker's record; the server's own start-up lines stay in.
      const text = texts[format];
      texts[format] = text.slice(0, text.indexOf('\n', text.lastIndexOf('end_of_sample')) + 1);
    }
    return texts;
  } finally {
    await env.cluster.stop();
    await rm(env.dir, { recursive: true, force: true });
  }
}

const TS = /(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC/g;
const tsText = (ms) => `${new Date(ms).toISOString().replace('T', ' ').slice(0, 23)} UTC`;

/** The sample repeated until `lines` lines, each copy from other clients and users, later in time. */
function amplify(text, lines) {
  const times = [...text.matchAll(TS)].map((m) => Date.parse(`${m[1].replace(' ', 'T')}Z`));
  const span = Math.max(...times) - Math.min(...times) + 1000;
  const perCopy = text.split('\n').length - 1;
  const parts = [];
  for (let k = 0; k * perCopy < lines; k++) {
    const addr = `10.${(k >> 8) & 255}.${k & 255}.${((k * 37) % 250) + 2}`;
    parts.push(
      text
        .replaceAll('127.0.0.1', addr)
        .replace(/bench_u(\d\d)/g, (_, d) => `bench_u${(k * 20 + Number(d)) % 1000}`)
        .replace(TS, (_, t) => tsText(Date.parse(`${t.replace(' ', 'T')}Z`) + k * span)),
    );
  }
  return Buffer.from(parts.join(''), 'utf8');
}

function timed(fn) {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  const out = fn();
  const done = (n) => {
    const used = process.cpuUsage(cpu);
    return { ms: performance.now() - t0, cpuMs: (used.user + used.system) / 1000, n };
  };
  return out instanceof Promise ? out.then(done) : done(out);
}

/** The floor: the same bytes decoded and split into lines (optionally JSON.parse each). */
function splitLines(buf, parseJson) {
  const decoder = new StringDecoder('utf8');
  let carry = '';
  let n = 0;
  for (let off = 0; off < buf.length; off += CHUNK) {
    const lines = (carry + decoder.write(buf.subarray(off, off + CHUNK))).split('\n');
    carry = lines.pop();
    for (const line of lines) if (parseJson) JSON.parse(line);
    n += lines.length;
  }
  return n;
}

/** Parser only, parser + classifier, or the whole path into the pipeline. */
async function parseAll(format, buf, stage, rules) {
  const parser = createLogParser(format);
  let logTime = 0;
  let lastFlush = 0;
  let signals = 0;
  let pipeline;
  if (stage === 'full') {
    const analytics = new UserAnalytics({ clock: () => logTime });
    pipeline = new MonitorPipeline({
      engine: new RuleEngine({ rules, clock: () => logTime }),
      analytics: { observe: (e) => analytics.observe(e).events, noteAlert: (u, s) => analytics.noteAlert(u, s) },
      clock: () => logTime,
      onSignals: async (s) => {
        signals += s.length;
      },
    });
  }
  let records = 0;
  const take = async (batch) => {
    records += batch.length;
    if (stage === 'parse' || batch.length === 0) return;
    const events = new Array(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i];
      if (r.time !== undefined && r.time > logTime) logTime = r.time;
      const e = classifyLogRecord(r, `log:bench:${r.offset}`);
      e.time = logTime;
      events[i] = e;
    }
    if (!pipeline) return;
    await pipeline.push(events);
    if (logTime - lastFlush >= 1000) {
      await pipeline.flush();
      lastFlush = logTime;
    }
  };
  for (let off = 0; off < buf.length; off += CHUNK) await take(parser.push(buf.subarray(off, off + CHUNK)));
  await take(parser.flush());
  return { records, signals };
}

async function throughput() {
  const t0 = performance.now();
  const sample = await captureSample();
  const rules = await loadRules();
  console.log(
    `1. server-log lines through parser → classifier → pipeline (${rules.length} rules + analytics), one core`,
  );
  console.log(
    `   sample captured from PostgreSQL (embedded) in ${((performance.now() - t0) / 1000).toFixed(1)} s; load average ${load()}`,
  );
  for (const format of FORMATS) {
    const types = new Map();
    for (const r of createLogParser(format).push(sample[format]).concat(createLogParser(format).flush())) {
      const t = classifyLogRecord(r, 'x').type;
      types.set(t, (types.get(t) ?? 0) + 1);
    }
    const mix = [...types]
      .sort((a, b) => b[1] - a[1])
      .map(([t, n]) => `${t} ${n}`)
      .join(', ');
    const buf = amplify(sample[format], targetLines);
    const save = flag('save-sample');
    if (save) await writeFile(join(save, `sample${{ jsonlog: '.json', csvlog: '.csv', stderr: '.log' }[format]}`), buf);
    const lines = splitLines(buf, false);
    console.log(
      `   ${format}: sample ${sample[format].split('\n').length - 1} lines (${mix}); amplified to ${fmt(lines, 0)} lines, ${(buf.length / 1048576).toFixed(1)} MiB`,
    );
    const stages = [
      ['split into lines (floor)', () => splitLines(buf, false)],
      ...(format === 'jsonlog' ? [['split + JSON.parse (floor)', () => splitLines(buf, true)]] : []),
      ['parser', () => parseAll(format, buf, 'parse', rules).then((r) => r.records)],
      ['parser + classify', () => parseAll(format, buf, 'classify', rules).then((r) => r.records)],
      ['parser + classify + pipeline', () => parseAll(format, buf, 'full', rules).then((r) => r.records)],
    ];
    const results = stages.map(() => []);
    for (let rep = 0; rep < reps; rep++) {
      for (const [i, [, fn]] of stages.entries()) results[i].push(await timed(fn));
    }
    const rate = (r) => (lines / r.ms) * 1000;
    const cpuRate = (r) => (lines / r.cpuMs) * 1000;
    const floor = median(results[format === 'jsonlog' ? 1 : 0].map(rate));
    for (const [i, [name]] of stages.entries()) {
      const rates = results[i].map(rate);
      const records = results[i][0].n;
      console.log(
        `     ${name.padEnd(30)} lines/s min ${fmt(Math.min(...rates))}  median ${fmt(median(rates))}` +
          `  per CPU-s ${fmt(median(results[i].map(cpuRate)))}  ratio to floor ${(median(rates) / floor).toFixed(3)}` +
          (name.startsWith('parser') ? `  (${fmt(records, 0)} records)` : ''),
      );
    }
  }
  console.log(`   load average at the end ${load()}`);
}

// ------------------------------------------------------------------------------- 2. latency

async function liveLatency() {
  const env = await loggingCluster('monitor-live', { log_statement: 'ddl' });
  const { admin } = env;
  const stop = [];
  try {
    await withClient(admin, (c) => c.query('create database bench'));
    const db = { ...admin, database: 'bench' };
    await withClient(db, async (c) => {
      await install(c, { tier: 'standard', rolePrefix: 'pgw_' });
      await c.query(`create schema app; create table app.items (id bigint generated always as identity primary key,
        tenant text not null, name text not null, qty int not null default 0)`);
    });
    const alerts = new Map();
    let errors = 0;
    const config = configSchema.parse({ monitor: { serverLog: 'auto', dashboard: false } });
    const server = await startMonitorServer({
      config,
      connection: db,
      cwd: env.dir,
      secrets: () => '',
      port: 0,
      onEvent: (e) => {
        if (e.kind === 'monitor-error') errors += 1;
        if (e.kind !== 'monitor-alert' || !e.created || e.rule !== 'pg-brute-force') return;
        const account = /failed logins for (\S+) from/.exec(e.summary)?.[1];
        if (account) alerts.set(account, performance.now());
      },
    });
    stop.push(() => server.close());
    const m = config.monitor;
    console.log(
      `2. event-to-alert latency on live traffic: server log ${server.serverLog.mode}, poll ${m.pollIntervalMs} ms (LISTEN/NOTIFY first), stats every ${m.statsIntervalMs} ms, ${server.rules} rules; load average ${load()}`,
    );
    const pool = new pg.Pool({ ...db, max: 10 });
    stop.push(() => pool.end());
    let running = true;
    const loops = [];
    const loop = (fn, gapMs) =>
      loops.push(
        (async () => {
          for (let i = 0; running; i++) {
            await fn(i).catch(() => undefined);
            await sleep(gapMs);
          }
        })(),
      );
    const event = (type, sev, user, addr, details) =>
      pool.query('select auth._event($1, $2, $3, null, $4::inet, $5::jsonb)', [
        type,
        sev,
        user,
        addr,
        JSON.stringify(details),
      ]);
    let queries = 0;
    let logins = 0;
    let connections = 0;
    // App traffic on three connections, benign logins (and the odd typo), connection churn.
    for (let w = 0; w < 3; w++) {
      loop(async (i) => {
        await pool.query('insert into app.items (tenant, name) values ($1, $2)', [`t${i % 9}`, `item ${w}-${i}`]);
        await pool.query('select id, name from app.items where tenant = $1 order by id desc limit 20', [`t${i % 9}`]);
        queries += 2;
      }, 5);
    }
    loop(async (i) => {
      const user = `user-${i % 200}`;
      const addr = `192.0.2.${(i % 200) + 1}`;
      if (i % 25 === 0) await event('auth.login_failed', 'notice', user, addr, { reason: 'wrong_password' });
      await event('auth.login_succeeded', 'info', user, addr, { aal: 'aal1' });
      logins += 1;
    }, 50);
    loop(async () => {
      const c = new pg.Client(db);
      await c.connect();
      await c.query('select 1');
      await c.end();
      connections += 1;
    }, 250);
    await sleep(3000);
    const committed = new Map();
    const started = performance.now();
    [queries, logins, connections] = [0, 0, 0];
    const attacks = [];
    for (let n = 0; n < incidents; n++) {
      const account = `victim-${String(n).padStart(4, '0')}`;
      const addr = `198.${18 + (n >> 8)}.${n & 255}.7`;
      attacks.push(
        (async () => {
          for (let k = 0; k < 10; k++) {
            await event('auth.login_failed', 'notice', account, addr, {
              reason: 'wrong_password',
              user_agent: 'python-requests/2.32',
            });
            if (k < 9) await sleep(30);
          }
          committed.set(account, performance.now());
        })(),
      );
      await sleep(500);
    }
    await Promise.all(attacks);
    const elapsed = (performance.now() - started) / 1000;
    for (let i = 0; i < 300 && alerts.size < incidents; i++) await sleep(100);
    running = false;
    await Promise.all(loops);
    const latencies = [...committed].filter(([a]) => alerts.has(a)).map(([a, t]) => alerts.get(a) - t);
    const ms = (x) => `${x.toFixed(0)} ms`;
    console.log(
      `   ${incidents} brute-force incidents (10 failures each, 30 ms apart) at 2/s over ${elapsed.toFixed(0)} s, with ${fmt(queries / elapsed, 0)} app queries/s, ${fmt(logins / elapsed, 0)} benign logins/s and ${fmt(connections / elapsed, 0)} new connections/s running`,
    );
    console.log(
      `   alerts ${latencies.length}/${incidents}; commit of the 10th failure → monitor-alert: p50 ${ms(quantile(latencies, 0.5))}  p95 ${ms(quantile(latencies, 0.95))}  max ${ms(Math.max(...latencies))} (goal p95 ≤ 2 s); monitor errors ${errors}; load average ${load()}`,
    );
  } finally {
    for (const s of stop.reverse()) await s().catch(() => undefined);
    await env.cluster.stop();
    await rm(env.dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------- 3. quality

async function quality() {
  const rules = await loadRules();
  const s = (ms) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : '-');
  console.log(`3. detection quality on the labelled corpus (M-15), seeds ${seeds.join(', ')}; load average ${load()}`);
  for (const seed of seeds) {
    const t0 = performance.now();
    const corpus = generateCorpus({ seed }, { classifyLogRecord });
    const generated = performance.now() - t0;
    const run = await replayCorpus(corpus, { MonitorPipeline, RuleEngine, UserAnalytics, ChangeWindows, rules });
    const score = scoreCorpus(corpus, run.alerts, { updates: run.updates });
    const o = corpus.options;
    console.log(
      `   seed ${seed}: ${o.users} users in ${o.tenants} tenants, ${o.warmupDays} warm-up days + 1 measured day, stats every ${o.statsIntervalMs / 1000} s;` +
        ` ${fmt(corpus.events.length, 0)} events (generated in ${(generated / 1000).toFixed(1)} s), replayed at ${fmt((run.events / run.cpuMs) * 1000, 0)} events per CPU-s; ${corpus.attacks.length} attacks`,
    );
    console.log(
      '     class                      recall  by primary rule  alerts/attack  latency p50 / p95  after threshold p95  missed',
    );
    for (const cls of ATTACK_CLASSES) {
      const c = score.classes[cls];
      const missed = c.missed.map((m) => `${m.id.split('#')[1]}:${m.kind}`).join('; ');
      console.log(
        `     ${cls.padEnd(26)} ${`${c.detected}/${c.instances}`.padStart(6)}  ${String(c.byPrimary).padStart(6)}           ${(c.alerts / c.instances).toFixed(1).padStart(5)}       ${s(c.p50).padStart(7)} / ${s(c.p95).padStart(7)}   ${s(c.lagP95).padStart(7)}            ${missed}${c.onlyUpdated ? ` (${c.onlyUpdated} only grew an open incident)` : ''}`,
      );
    }
    console.log(
      `     all classes: latency from attack start p50 ${s(score.latency.p50)}, p95 ${s(score.latency.p95)}, max ${s(score.latency.max)}; after the threshold was met p95 ${s(score.lag.p95)}, max ${s(score.lag.max)}`,
    );
    const after = [...new Set(score.aftermath.map((a) => a.rule))].join(', ');
    console.log(
      `     alerts on the measured day ${score.alertsOnDay}: ${score.attackAlerts} name an attack, ${score.aftermath.length} its victim within the hour after (${after || 'none'}), ${score.falseAlerts.length} false:`,
    );
    const byRule = new Map();
    for (const f of score.falseAlerts)
      byRule.set(`${f.rule} (${f.scenario})`, (byRule.get(`${f.rule} (${f.scenario})`) ?? 0) + 1);
    for (const [k, n] of byRule) console.log(`       ${String(n).padStart(3)} × ${k}`);
    const warm = score.warmup.map(
      (w) =>
        `${w.day.slice(5)} ${w.alerts.length}${w.alerts.length ? ` (${[...new Set(w.alerts.map((a) => a.rule))].join(', ')})` : ''}`,
    );
    console.log(`     false alerts on the plain benign warm-up days: ${warm.join('; ')}`);
  }
}

if (!only || only === 'throughput') await throughput();
if (!only || only === 'latency') await liveLatency();
if (!only || only === 'quality') await quality();

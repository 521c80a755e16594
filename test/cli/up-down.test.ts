import { type ChildProcessWithoutNullStreams, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../src/db/embedded/index.js';
import {
  type ClusterFile,
  cliEnv,
  finished,
  readClusterFile,
  runCli,
  selectOne,
  spawnCli,
  tempCwd,
  waitForLine,
} from './run-cli.js';

const isRoot = process.getuid?.() === 0;
const hasPsql = spawnSync('psql', ['--version']).status === 0;

// One working directory for the whole file: the first command initialises the embedded cluster
// in .pgwarden/ and the later ones reuse it, which keeps the file fast.
let cwd: string;
let remove: () => Promise<void>;
const children: ChildProcessWithoutNullStreams[] = [];

beforeAll(async () => {
  ({ dir: cwd, remove } = await tempCwd());
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await runCli(['down'], { cwd, timeoutMs: 30_000 }).catch(() => undefined);
  await remove();
});

const clusterFile = (): Promise<ClusterFile> => readClusterFile(cwd);

/** Starts `pgwarden up --json` and waits for its `up-ready` line. */
async function startUp(): Promise<{
  child: ChildProcessWithoutNullStreams;
  exited: ReturnType<typeof finished>;
}> {
  // Once a test has installed the auth module, up serves it too: on a free port, never 8787.
  const child = spawnCli(['up', '--json'], { cwd, env: cliEnv({ PGWARDEN_AUTH_PORT: '0' }) });
  children.push(child);
  const exited = finished(child, 120_000);
  exited.catch(() => undefined);
  const line = await waitForLine(child, (l) => l.includes('"up-ready"'), 90_000);
  expect(JSON.parse(line)).toMatchObject({ kind: 'up-ready', embedded: true });
  return { child, exited };
}

/** Resolves with the result, or rejects when the process takes longer than `ms`. */
const within = <T>(promise: Promise<T>, ms: number): Promise<T> =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`not within ${ms} ms`)), ms)),
  ]);

describe('pgwarden up / down', () => {
  it('serves the embedded cluster until `pgwarden down` stops it', async () => {
    const { exited } = await startUp();
    const state = await clusterFile();
    expect(await selectOne(state.port, state)).toBe(1);

    const down = await runCli(['down'], { cwd, timeoutMs: 45_000 });
    expect(down.code).toBe(0);
    const up = await within(exited, 30_000);
    expect(up.code).toBe(0);
    expect(up.stdout).toContain('"up-stopping"');
    await expect(selectOne(state.port, state)).rejects.toThrow();
    // stderr carries pino's JSON events, and never the cluster's password.
    const events = up.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind?: string });
    expect(events.map((e) => e.kind)).toEqual(['up-ready', 'up-stopping']);
    expect(up.stderr).not.toContain(state.password);
  });

  it('stops cleanly with exit 0 on Ctrl-C', async () => {
    const { child, exited } = await startUp();
    const state = await clusterFile();
    expect(await selectOne(state.port, state)).toBe(1);

    child.kill('SIGINT');
    const up = await within(exited, 30_000);
    expect(up.code).toBe(0);
    await expect(selectOne(state.port, state)).rejects.toThrow();
  });

  it('runs the auth API once the auth module is installed, with a master key file only it can read', async () => {
    const installed = await runCli(['install', '--tier', 'basic', '--json'], { cwd, timeoutMs: 90_000 });
    expect(installed.code).toBe(0);
    const child = spawnCli(['up', '--json'], { cwd, env: cliEnv({ PGWARDEN_AUTH_PORT: '0' }) });
    children.push(child);
    const exited = finished(child, 120_000);
    exited.catch(() => undefined);
    const ready = JSON.parse(await waitForLine(child, (l) => l.includes('"up-ready"'), 90_000)) as { auth: string };
    expect(ready.auth).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${ready.auth}/ready`)).status).toBe(200);
    const jwks = (await (await fetch(`${ready.auth}/.well-known/jwks.json`)).json()) as { keys: unknown[] };
    expect(jwks.keys.length).toBeGreaterThan(0);
    expect((await stat(join(cwd, '.pgwarden', 'master.key'))).mode & 0o077).toBe(0);
    expect((await runCli(['down'], { cwd, timeoutMs: 45_000 })).code).toBe(0);
    expect((await within(exited, 30_000)).code).toBe(0);
    await expect(fetch(`${ready.auth}/live`)).rejects.toThrow();
  });

  it('runs the security monitor once its module is installed, with its dashboard, metrics and health', async () => {
    const installed = await runCli(['install', '--tier', 'standard', '--json'], { cwd, timeoutMs: 90_000 });
    expect(installed.code).toBe(0);
    const child = spawnCli(['up', '--json'], {
      cwd,
      env: cliEnv({ PGWARDEN_AUTH_PORT: '0', PGWARDEN_MONITOR_PORT: '0' }),
    });
    children.push(child);
    const exited = finished(child, 120_000);
    exited.catch(() => undefined);
    const ready = JSON.parse(await waitForLine(child, (l) => l.includes('"up-ready"'), 90_000)) as {
      monitor: { url: string; rules: number; dashboard: boolean; sinks: string[] };
    };
    expect(ready.monitor).toMatchObject({ dashboard: true, sinks: [] });
    expect(ready.monitor.rules).toBeGreaterThan(20);
    expect((await fetch(`${ready.monitor.url}/live`)).status).toBe(200);
    expect((await fetch(`${ready.monitor.url}/ready`)).status).toBe(200);
    expect(await (await fetch(`${ready.monitor.url}/metrics`)).text()).toContain(
      'pgwarden_monitor_heartbeat_timestamp_seconds',
    );
    const page = await fetch(`${ready.monitor.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect((await runCli(['down'], { cwd, timeoutMs: 45_000 })).code).toBe(0);
    expect((await within(exited, 30_000)).code).toBe(0);
    await expect(fetch(`${ready.monitor.url}/live`)).rejects.toThrow();
  });

  it('says nothing is running when `down` finds no cluster', async () => {
    const r = await runCli(['down', '--json'], { cwd });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, stopped: 'nothing' });
  });

  it('refuses a second `up` on the same directory (PW155) and keeps the first one serving', async () => {
    const { child, exited } = await startUp();
    const second = await runCli(['up'], { cwd, timeoutMs: 60_000 });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/^error PW155: .*\n\s+hint: .*pgwarden down/);
    expect(child.exitCode).toBeNull();
    const state = await clusterFile();
    expect(await selectOne(state.port, state)).toBe(1);
    expect((await readFile(join(cwd, '.pgwarden', 'up.pid'), 'utf8')).trim()).toBe(String(child.pid));

    expect((await runCli(['down'], { cwd, timeoutMs: 45_000 })).code).toBe(0);
    expect((await within(exited, 30_000)).code).toBe(0);
  });

  it('does not signal a process that reused the pid of a stale up.pid, and removes the file', async () => {
    // As if `up` had been SIGKILLed and its pid given to an unrelated process since.
    const unrelated = spawn('sleep', ['30']);
    children.push(unrelated);
    const pidFile = join(cwd, '.pgwarden', 'up.pid');
    await mkdir(join(cwd, '.pgwarden'), { recursive: true });
    await writeFile(pidFile, `${unrelated.pid}\n`);

    const down = await runCli(['down', '--json'], { cwd, timeoutMs: 45_000 });
    expect(down.code).toBe(0);
    expect(JSON.parse(down.stdout)).toEqual({ ok: true, stopped: 'nothing' });
    await sleep(200);
    expect([unrelated.exitCode, unrelated.signalCode]).toEqual([null, null]);
    expect(existsSync(pidFile)).toBe(false);
    unrelated.kill('SIGKILL');
  });
});

// pgpass holds the superuser password and up.pid decides whom `down` signals: both are written
// afresh (temp file + rename), never through what was there before.
describe('files pgwarden writes beside the embedded cluster', () => {
  const fileIn = (name: string) => join(cwd, '.pgwarden', name);

  it('replaces a 0644 pgpass with a 0600 one', async () => {
    await mkdir(join(cwd, '.pgwarden'), { recursive: true });
    await rm(fileIn('pgpass'), { force: true });
    await writeFile(fileIn('pgpass'), 'stale\n');
    await chmod(fileIn('pgpass'), 0o644);

    const r = await runCli(['status', '--json'], { cwd, timeoutMs: 90_000 });
    expect(r.code).toBe(0);
    expect((await stat(fileIn('pgpass'))).mode & 0o777).toBe(0o600);
    const { superuser, password } = await clusterFile();
    expect(await readFile(fileIn('pgpass'), 'utf8')).toMatch(new RegExp(`^127\\.0\\.0\\.1:\\d+:\\*:${superuser}:`));
    expect(await readFile(fileIn('pgpass'), 'utf8')).toContain(password);
    if (isRoot) {
      // The directory stays the invoking user's; the server owns only its data dir and log.
      const postgresUid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
      expect((await stat(join(cwd, '.pgwarden'))).uid).toBe(0);
      expect((await stat(fileIn('data'))).uid).toBe(postgresUid);
      expect((await stat(fileIn('server.log'))).uid).toBe(postgresUid);
    }
  });

  it('replaces a planted pgpass symlink instead of writing the password through it', async () => {
    const victim = join(cwd, 'victim-pgpass.txt');
    await writeFile(victim, 'untouched\n');
    await rm(fileIn('pgpass'), { force: true });
    await symlink(victim, fileIn('pgpass'));

    const r = await runCli(['status', '--json'], { cwd, timeoutMs: 90_000 });
    expect(r.code).toBe(0);
    expect(await readFile(victim, 'utf8')).toBe('untouched\n');
    const pgpass = await lstat(fileIn('pgpass'));
    expect(pgpass.isFile()).toBe(true);
    expect(pgpass.mode & 0o777).toBe(0o600);
  });

  it('replaces a planted up.pid symlink with a 0600 file naming `up`', async () => {
    const victim = join(cwd, 'victim-up-pid.txt');
    await writeFile(victim, 'untouched\n');
    await rm(fileIn('up.pid'), { force: true });
    await symlink(victim, fileIn('up.pid'));

    const { child, exited } = await startUp();
    expect(await readFile(victim, 'utf8')).toBe('untouched\n');
    const pidFile = await lstat(fileIn('up.pid'));
    expect(pidFile.isFile()).toBe(true);
    expect(pidFile.mode & 0o777).toBe(0o600);
    expect((await readFile(fileIn('up.pid'), 'utf8')).trim()).toBe(String(child.pid));

    expect((await runCli(['down'], { cwd, timeoutMs: 45_000 })).code).toBe(0);
    expect((await within(exited, 30_000)).code).toBe(0);
  });
});

describe('the psql line', () => {
  it("names the cluster's real superuser, and connects as printed", async () => {
    // A cluster initialised with another superuser name than the default "postgres".
    const { dir, remove } = await tempCwd();
    const dataDir = join(dir, '.pgwarden', 'data');
    await new LocalCluster({
      dataDir,
      superuser: 'pgw_admin',
      bindir: process.env.PGWARDEN_PG_BINDIR || undefined,
      ephemeral: true,
    }).init();
    const child = spawnCli(['up'], { cwd: dir });
    children.push(child);
    const exited = finished(child, 120_000);
    exited.catch(() => undefined);
    try {
      const line = await waitForLine(child, (l) => l.includes('psql:'), 90_000);
      const command = line.slice(line.indexOf('psql:') + 'psql:'.length).trim();
      expect(command).toMatch(/^PGPASSFILE=\.pgwarden\/pgpass psql -h 127\.0\.0\.1 -p \d+ -U pgw_admin pgwarden$/);
      if (hasPsql) {
        const who = execFileSync('sh', ['-c', `${command} -Atc 'select current_user'`], {
          cwd: dir,
          env: cliEnv(),
          encoding: 'utf8',
        });
        expect(who.trim()).toBe('pgw_admin');
      }
      child.kill('SIGINT');
      expect((await within(exited, 30_000)).code).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await new LocalCluster({ dataDir }).stop();
      await remove();
    }
  });
});

describe('pgwarden demo', () => {
  it('runs the tour on the embedded cluster and reports every check passed', async () => {
    const r = await runCli(['demo'], { cwd, timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('checks passed');
    expect(r.stdout).not.toContain('✗');
  });

  it('leaves the cluster running with --keep, printing a psql line without the password', async () => {
    const r = await runCli(['demo', '--keep'], { cwd, timeoutMs: 120_000 });
    expect(r.code).toBe(0);
    const psql = r.stdout.split('\n').find((l) => l.includes('psql '));
    expect(psql).toBeDefined();
    expect(psql).toContain('PGPASSFILE=');
    const state = await clusterFile();
    expect(r.stdout + r.stderr).not.toContain(state.password);
    const port = Number(/-p (\d+)/.exec(psql ?? '')?.[1]);
    expect(port).toBe(state.port);
    expect(await selectOne(port, state, 'pgwarden_demo')).toBe(1);

    const down = await runCli(['down'], { cwd, timeoutMs: 45_000 });
    expect(down.code).toBe(0);
    expect(down.stdout).toContain('Stopped');
    await expect(selectOne(port, state)).rejects.toThrow();
  });
});

import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finished, runCli, spawnCli, tempCwd, waitForLine } from './run-cli.js';

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

interface ClusterFile {
  superuser: string;
  password: string;
  port: number;
}

const clusterFile = async (): Promise<ClusterFile> =>
  JSON.parse(await readFile(join(cwd, '.pgwarden', 'cluster.json'), 'utf8'));

/** Runs `select 1` against the embedded cluster; rejects when it does not accept connections. */
async function selectOne(port: number, state: ClusterFile, database = 'postgres'): Promise<number> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: state.superuser,
    password: state.password,
    database,
    connectionTimeoutMillis: 5_000,
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<{ one: number }>('select 1 as one')).rows[0]!.one;
  } finally {
    await client.end();
  }
}

/** Starts `pgwarden up --json` and waits for its `up-ready` line. */
async function startUp(): Promise<{
  child: ChildProcessWithoutNullStreams;
  exited: ReturnType<typeof finished>;
}> {
  const child = spawnCli(['up', '--json'], { cwd });
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

  it('says nothing is running when `down` finds no cluster', async () => {
    const r = await runCli(['down', '--json'], { cwd });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, stopped: 'nothing' });
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

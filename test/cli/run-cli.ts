import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { ConnectionConfig } from '../../src/db/client.js';

/** The repository root (where `bin/` and `sql/` live). */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const binPath = join(repoRoot, 'bin', 'pgwarden.js');

/** What a finished `pgwarden` process left behind. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment a user would have, minus anything that points pgwarden at a database: PATH and
 * HOME kept, DATABASE_URL / PG* / PGWARDEN_* dropped, NO_COLOR set.
 */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { NO_COLOR: '1' };
  if (process.env.PATH) env.PATH = process.env.PATH;
  if (process.env.HOME) env.HOME = process.env.HOME;
  // The Debian leg points the embedded cluster at system binaries; keep that one.
  if (process.env.PGWARDEN_PG_BINDIR) env.PGWARDEN_EMBEDDED_BINDIR = process.env.PGWARDEN_PG_BINDIR;
  return { ...env, ...extra };
}

/** Starts `node bin/pgwarden.js …`; the caller owns the process. */
export function spawnCli(
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [binPath, ...args], {
    cwd: options.cwd,
    env: options.env ?? cliEnv(),
    stdio: 'pipe',
  });
}

/** Waits for a spawned process to exit, collecting its output; SIGKILLs it after `timeoutMs`. */
export function finished(child: ChildProcessWithoutNullStreams, timeoutMs: number): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `pgwarden ${child.spawnargs.slice(2).join(' ')} did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs `pgwarden …` to completion (default timeout 30 s). */
export function runCli(
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<CliResult> {
  return finished(spawnCli(args, options), options.timeoutMs ?? 30_000);
}

/** Resolves with the first stdout line matching `test`; rejects on exit or after `timeoutMs`. */
export function waitForLine(
  child: ChildProcessWithoutNullStreams,
  test: (line: string) => boolean,
  timeoutMs: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const done = (fn: () => void) => {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
      fn();
    };
    const onData = (d: Buffer | string) => {
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      const hit = lines.find(test);
      if (hit !== undefined) done(() => resolve(hit));
    };
    const onExit = (code: number | null) =>
      done(() => reject(new Error(`pgwarden exited (${code}) before printing the expected line`)));
    const timer = setTimeout(() => done(() => reject(new Error(`no expected line within ${timeoutMs} ms`))), timeoutMs);
    child.stdout.on('data', onData);
    child.on('exit', onExit);
  });
}

/**
 * A fresh working directory. Mode 0755 because, run as root, the embedded server's OS user must
 * be able to traverse it to reach `.pgwarden/`.
 */
export async function tempCwd(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-cli-test-'));
  await chmod(dir, 0o755);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A libpq URI for a connection config (password URL-encoded). */
export function urlOf(conn: ConnectionConfig, overrides: { password?: string; database?: string } = {}): string {
  const user = encodeURIComponent(String(conn.user));
  const password = encodeURIComponent(overrides.password ?? String(conn.password));
  return `postgresql://${user}:${password}@${conn.host}:${conn.port}/${encodeURIComponent(overrides.database ?? String(conn.database))}`;
}

/** One shipped SQL file as it is on disk. */
export interface ShippedFile {
  module: string;
  name: string;
  version: number;
  sha256: string;
}

/** Every `sql/<module>/NNNN_*.sql` on disk, with the sha256 of its bytes. */
export function shippedFiles(): ShippedFile[] {
  const sqlDir = join(repoRoot, 'sql');
  const out: ShippedFile[] = [];
  for (const module of readdirSync(sqlDir).sort()) {
    if (!statSync(join(sqlDir, module)).isDirectory()) continue;
    for (const name of readdirSync(join(sqlDir, module))
      .filter((n) => n.endsWith('.sql'))
      .sort()) {
      const bytes = readFileSync(join(sqlDir, module, name));
      out.push({
        module,
        name,
        version: Number(name.slice(0, 4)),
        sha256: createHash('sha256').update(bytes).digest('hex'),
      });
    }
  }
  return out;
}

/** The embedded cluster's state file, as `pgwarden` writes it under `.pgwarden/`. */
export interface ClusterFile {
  superuser: string;
  password: string;
  port: number;
}

/** Reads `<cwd>/.pgwarden/cluster.json`. */
export const readClusterFile = async (cwd: string): Promise<ClusterFile> =>
  JSON.parse(await readFile(join(cwd, '.pgwarden', 'cluster.json'), 'utf8'));

/** Runs `select 1` against the embedded cluster; rejects when it does not accept connections. */
export async function selectOne(port: number, state: ClusterFile, database = 'postgres'): Promise<number> {
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

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readClusterFile, runCli, selectOne, tempCwd } from './run-cli.js';

// The default path of a new user: no database given, so every command shares the embedded
// cluster under .pgwarden/. Commands started together must neither initdb nor start it twice,
// nor stop it under each other; the last one out stops it.
describe('commands sharing the embedded cluster', () => {
  let temp: { dir: string; remove: () => Promise<void> } | undefined;
  const cwdOf = async () => (temp ??= await tempCwd()).dir;
  afterAll(async () => {
    if (!temp) return;
    await runCli(['down'], { cwd: temp.dir, timeoutMs: 45_000 });
    await temp.remove();
  });

  it('runs two installs started at once on a fresh directory: both exit 0, one ledger, cluster stopped after', async () => {
    const cwd = await cwdOf();
    const [a, b] = await Promise.all([
      runCli(['install', '--json'], { cwd, timeoutMs: 120_000 }),
      runCli(['install', '--json'], { cwd, timeoutMs: 120_000 }),
    ]);
    expect(a.stderr + b.stderr).toBe('');
    expect([a.code, b.code]).toEqual([0, 0]);
    const applied = [a, b].map((r) => (JSON.parse(r.stdout) as { applied: string[] }).applied.length);
    expect(Math.min(...applied)).toBe(0);
    expect(Math.max(...applied)).toBeGreaterThan(0);
    const down = await runCli(['down', '--json'], { cwd });
    expect(JSON.parse(down.stdout)).toEqual({ ok: true, stopped: 'nothing' });
  });

  it('leaves a cluster kept by `demo --keep` running when a later command finishes', async () => {
    const cwd = await cwdOf();
    expect((await runCli(['demo', '--keep', '--json'], { cwd, timeoutMs: 120_000 })).code).toBe(0);
    expect((await runCli(['status', '--json'], { cwd, timeoutMs: 60_000 })).code).toBe(0);
    expect(await demoAnswers(cwd)).toBe(1);
  });

  it('keeps it running even when the process that started it asked for a stop when idle', async () => {
    const cwd = await cwdOf();
    // The cluster the previous test kept is running, so demo attaches to it; the marker is what
    // its starter leaves when it finishes while demo still uses the cluster.
    expect(await demoAnswers(cwd)).toBe(1);
    await writeFile(join(cwd, '.pgwarden', 'stop-when-idle'), '1');
    expect((await runCli(['demo', '--keep', '--json'], { cwd, timeoutMs: 120_000 })).code).toBe(0);
    expect((await runCli(['status', '--json'], { cwd, timeoutMs: 60_000 })).code).toBe(0);
    expect(await demoAnswers(cwd)).toBe(1);
  });
});

/** `select 1` on the kept demo database; rejects when the cluster does not answer. */
async function demoAnswers(cwd: string): Promise<number> {
  const state = await readClusterFile(cwd);
  return selectOne(state.port, state, 'pgwarden_demo');
}

import { execFileSync, spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliEnv, repoRoot } from './run-cli.js';

const asRoot = process.getuid?.() === 0;
const nobody = asRoot
  ? { uid: Number(execFileSync('id', ['-u', 'nobody'])), gid: Number(execFileSync('id', ['-g', 'nobody'])) }
  : undefined;

// The unprivileged user must be able to reach the checkout (node, the package, the binaries).
function reachableByOthers(path: string): boolean {
  for (let dir = path; ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}
const canRun =
  Boolean(nobody) &&
  reachableByOthers(repoRoot) &&
  (() => {
    try {
      accessSync(process.execPath, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  })();

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

// As root the embedded server runs as the `postgres` OS user (tested with the cluster driver);
// here the whole CLI runs as an ordinary user, which runs the server as itself.
describe.runIf(canRun)('pgwarden as an unprivileged user', () => {
  it('runs the demo tour as user nobody, with the server running as that user', async () => {
    const home = await mkdtemp(join(tmpdir(), 'pgwarden-nobody-'));
    dirs.push(home);
    await chown(home, nobody!.uid, nobody!.gid);
    const child = spawn(process.execPath, [join(repoRoot, 'bin/pgwarden.js'), 'demo', '--json'], {
      cwd: home,
      env: cliEnv({ HOME: home }),
      uid: nobody!.uid,
      gid: nobody!.gid,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ ok: true });
    expect(statSync(join(home, '.pgwarden', 'data')).uid).toBe(nobody!.uid);
  });
});

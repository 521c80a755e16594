import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../../src/db/embedded/process-alive.js';
import { addLease, releaseLease, withLifecycleLock } from '../../src/db/embedded-lifecycle.js';
import { ErrorCodes } from '../../src/errors/index.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function newDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-lifecycle-test-'));
  dirs.push(dir);
  return dir;
}

/** The pid of a process that has exited and been reaped. */
const deadPid = (): number => spawnSync('true').pid;

/** A lock left behind by a holder that died: the directory with its pid file. */
async function plantLock(dir: string, pid: string | undefined, ageMs = 0): Promise<void> {
  const lock = join(dir, 'lifecycle.lock');
  await mkdir(lock, { recursive: true });
  if (pid !== undefined) await writeFile(join(lock, 'pid'), pid);
  const when = (Date.now() - ageMs) / 1000;
  await utimes(lock, when, when);
}

/**
 * A zombie: a child that exits only after its parent has exec'd into `sleep 30`, which never reaps
 * it. (With `sleep 0` the shell could reap the child before its exec, and no zombie would appear.)
 */
async function zombiePid(): Promise<number> {
  const parent = spawn('sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(parent);
  const pid = await new Promise<number>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(Number(d))));
  for (let i = 0; i < 250; i++) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (stat.slice(stat.lastIndexOf(')') + 1).trim()[0] === 'Z') return pid;
    await sleep(20);
  }
  throw new Error(`process ${pid} did not become a zombie`);
}

/**
 * Runs `n` callers, started a few milliseconds apart as separate processes would be; resolves to
 * the most that were ever inside the lock together.
 */
async function maxConcurrency(dir: string, n: number): Promise<number> {
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      await sleep(i % 7);
      await withLifecycleLock(
        dir,
        async () => {
          inside += 1;
          most = Math.max(most, inside);
          await sleep(5);
          inside -= 1;
        },
        30_000,
      );
    }),
  );
  return most;
}

describe('isProcessAlive', () => {
  it('counts this process and pid 1 as alive (pid 1 answers EPERM when we are not root)', async () => {
    expect(await isProcessAlive(process.pid)).toBe(true);
    expect(await isProcessAlive(1)).toBe(true);
  });

  it('counts an exited process, and anything that is not a pid, as dead', async () => {
    expect(await isProcessAlive(deadPid())).toBe(false);
    // kill(0) and kill(-1) would probe process groups and "succeed".
    for (const pid of [0, -1, Number.NaN, 1.5]) expect(await isProcessAlive(pid)).toBe(false);
  });

  it.runIf(process.platform === 'linux')('counts a zombie as dead', async () => {
    expect(await isProcessAlive(await zombiePid())).toBe(false);
  });
});

describe('withLifecycleLock', () => {
  it('never lets two callers in at once, even racing to break a lock left by a dead process', async () => {
    for (let round = 0; round < 5; round++) {
      const dir = await newDir();
      await plantLock(dir, String(deadPid()));
      expect(await maxConcurrency(dir, 24)).toBe(1);
      // Released for good: nothing left on the lock path, and no broken lock lying around.
      expect(await readdir(dir)).toEqual([]);
    }
  });

  it('breaks a lock whose holder is a zombie', async () => {
    const dir = await newDir();
    await plantLock(dir, String(await zombiePid()));
    expect(await withLifecycleLock(dir, async () => 'ran', 5_000)).toBe('ran');
  });

  it('breaks a lock without a pid file once the lock directory is older than 10 s', async () => {
    const dir = await newDir();
    await plantLock(dir, undefined, 60_000);
    expect(await maxConcurrency(dir, 8)).toBe(1);
  });

  it('waits on a fresh lock without a pid file, however long it has waited itself (PW150)', async () => {
    const dir = await newDir();
    await plantLock(dir, undefined);
    await expect(withLifecycleLock(dir, async () => 'ran', 3_000)).rejects.toMatchObject({
      code: ErrorCodes.EMBEDDED_START_FAILED,
    });
  });

  it('waits on a fresh lock whose pid file is still empty instead of reading it as pid 0', async () => {
    // The window between a holder creating its pid file and writing it: breaking the lock here
    // let two callers in at once under load.
    const dir = await newDir();
    await plantLock(dir, '');
    await expect(withLifecycleLock(dir, async () => 'ran', 1_500)).rejects.toMatchObject({
      code: ErrorCodes.EMBEDDED_START_FAILED,
    });
  });

  it('waits on a lock held by a live process (PW150)', async () => {
    const dir = await newDir();
    await plantLock(dir, '1', 60_000);
    await expect(withLifecycleLock(dir, async () => 'ran', 500)).rejects.toMatchObject({
      code: ErrorCodes.EMBEDDED_START_FAILED,
    });
  });
});

describe('leases', () => {
  it.runIf(process.platform === 'linux')(
    'counts the other live leases and sweeps those of dead and zombie processes',
    async () => {
      const dir = await newDir();
      await addLease(dir);
      const zombie = await zombiePid();
      for (const name of ['1', String(deadPid()), String(zombie), '0']) await writeFile(join(dir, 'leases', name), '');
      expect(await releaseLease(dir)).toBe(1);
      expect(await readdir(join(dir, 'leases'))).toEqual(['1']);
    },
  );
});

import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, PgwardenError } from '../errors/index.js';

// Several pgwarden processes may use one embedded cluster at once (`up` in one terminal,
// `install` in another, two installs started together). Three files under the cluster's
// directory keep them from tripping over each other:
//   lifecycle.lock/  a mutex (mkdir is atomic) around init+start and around stop;
//   leases/<pid>     one per process using the cluster;
//   stop-when-idle   left by the process that started the cluster when it finished while
//                    others still used it: the last of those stops it instead.
// A process that attached to a cluster someone else started never stops it on its own, so a
// cluster left running on purpose (`demo --keep`, `up`) stays up.

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Runs `fn` holding the cluster directory's lifecycle mutex; breaks a lock left by a dead process. */
export async function withLifecycleLock<T>(dir: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const lock = join(dir, 'lifecycle.lock');
  const deadline = Date.now() + timeoutMs;
  await mkdir(dir, { recursive: true });
  for (;;) {
    try {
      await mkdir(lock);
      await writeFile(join(lock, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(await readFile(join(lock, 'pid'), 'utf8').catch(() => 'NaN'));
      // A holder that died (or never wrote its pid and is older than a moment) loses the lock.
      if (Number.isInteger(holder) ? !isAlive(holder) : Date.now() > deadline - timeoutMs + 2_000) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new PgwardenError(
          ErrorCodes.EMBEDDED_START_FAILED,
          `another pgwarden process (pid ${holder}) is starting or stopping the embedded cluster`,
          {
            hint: `wait for it, or remove ${lock} if no pgwarden process is running`,
          },
        );
      }
      await sleep(50);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** Records that this process uses the cluster. */
export async function addLease(dir: string): Promise<void> {
  await mkdir(join(dir, 'leases'), { recursive: true });
  await writeFile(join(dir, 'leases', String(process.pid)), '');
}

/** Removes this process' lease; resolves to the number of other live leases (dead ones are swept). */
export async function releaseLease(dir: string): Promise<number> {
  await rm(join(dir, 'leases', String(process.pid)), { force: true });
  const names = await readdir(join(dir, 'leases')).catch(() => [] as string[]);
  let live = 0;
  for (const name of names) {
    if (isAlive(Number(name))) live += 1;
    else await rm(join(dir, 'leases', name), { force: true });
  }
  return live;
}

const markerFile = (dir: string) => join(dir, 'stop-when-idle');

/** Asks the last process using the cluster to stop it. */
export const markStopWhenIdle = (dir: string): Promise<void> => writeFile(markerFile(dir), String(process.pid));
/** Whether a starter asked for the cluster to be stopped once idle. */
export const stopWhenIdleRequested = async (dir: string): Promise<boolean> =>
  (await readFile(markerFile(dir)).catch(() => undefined)) !== undefined;
/** Clears the request (on a fresh start, or when it was honoured). */
export const clearStopWhenIdle = (dir: string): Promise<void> => rm(markerFile(dir), { force: true });

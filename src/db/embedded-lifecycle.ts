import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { isProcessAlive } from './embedded/process-alive.js';

// Several pgwarden processes may use one embedded cluster at once (`up` in one terminal,
// `install` in another, two installs started together). Three files under the cluster's
// directory keep them from tripping over each other:
//   lifecycle.lock/  a mutex (mkdir is atomic) around init+start and around stop;
//   leases/<pid>     one per process using the cluster;
//   stop-when-idle   left by the process that started the cluster when it finished while
//                    others still used it: the last of those stops it instead.
// A process that attached to a cluster someone else started never stops it on its own, and
// `demo --keep` clears the stop request (keepRunning), so a cluster left running on purpose
// (`demo --keep`, `up`) stays up.

/** A lock without a pid file may belong to a holder that is about to write it; until it is this old. */
const PIDLESS_LOCK_STALE_MS = 10_000;

/** One look at the lock directory: which instance (inode), whose, and whether it is abandoned. */
interface LockSight {
  ino: number;
  /** The pid file's text; undefined when there is none. */
  holder: string | undefined;
  stale: boolean;
}

async function look(lock: string): Promise<LockSight | undefined> {
  // Holder before inode: if the lock is replaced in between, the pair describes no stale lock.
  const holder = await readFile(join(lock, 'pid'), 'utf8').catch(() => undefined);
  const stats = await lstat(lock).catch(() => undefined);
  if (!stats) return undefined;
  // A holder that is not a whole pid (a pid file caught mid-write by an older pgwarden, or
  // garbage) says nothing about liveness: like a missing pid file, only the lock's age can tell.
  const stale =
    !holder || !/^[1-9]\d*$/.test(holder)
      ? Date.now() - stats.mtimeMs > PIDLESS_LOCK_STALE_MS
      : !(await isProcessAlive(Number(holder)));
  return { ino: stats.ino, holder, stale };
}

/** Moves the directory off the lock path (atomic, so no one ever sees it half deleted), then deletes it. */
async function moveAsideAndRemove(lock: string): Promise<void> {
  const aside = `${lock}.gone-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(lock, aside);
  } catch {
    return; // nothing left to remove
  }
  await rm(aside, { recursive: true, force: true }).catch(() => undefined);
}

/**
 * Breaks the lock seen stale, unless it is no longer that lock. Waiters that saw the same stale
 * lock race here, and a plain rm (or rename) of the path would let a slow one remove the lock a
 * faster one has just retaken. So a waiter first claims the instance with a mkdir inside it
 * (atomic: one claim per instance and inode), then checks the path still holds that abandoned
 * instance; a dead holder cannot release it, and no other waiter can claim it, so it is ours to
 * move aside. A claim that landed in a newer, live lock fails the check and goes with that lock.
 */
async function breakStale(lock: string, seen: LockSight): Promise<boolean> {
  try {
    await mkdir(join(lock, `breaking-${seen.ino}`));
  } catch {
    return false; // another waiter claimed it, or the lock is gone
  }
  const now = await look(lock);
  if (now?.ino !== seen.ino || now.holder !== seen.holder || (seen.holder !== undefined && !now.stale)) return false;
  await moveAsideAndRemove(lock);
  return true;
}

async function tryAcquire(lock: string): Promise<boolean> {
  try {
    await mkdir(lock);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    // Written aside and renamed in: a waiter sees no pid file or a whole one, never an empty file
    // that would read as pid 0 (dead) and let it break a lock that is held.
    const partial = join(lock, `pid.${randomBytes(4).toString('hex')}`);
    await writeFile(partial, String(process.pid), { flag: 'wx' });
    await rename(partial, join(lock, 'pid'));
  } catch (err) {
    await moveAsideAndRemove(lock);
    throw err;
  }
  return true;
}

/**
 * Runs `fn` holding the cluster directory's lifecycle mutex. A lock whose holder died, or one
 * without a pid file whose directory is older than 10 s, is broken; PW150 after `timeoutMs`.
 *
 * @example
 * await withLifecycleLock('/srv/app/.pgwarden', () => cluster.start());
 */
export async function withLifecycleLock<T>(dir: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const lock = join(dir, 'lifecycle.lock');
  const deadline = Date.now() + timeoutMs;
  await mkdir(dir, { recursive: true });
  while (!(await tryAcquire(lock))) {
    const seen = await look(lock);
    if (!seen || (seen.stale && (await breakStale(lock, seen)))) continue;
    if (Date.now() > deadline) {
      throw new PgwardenError(
        ErrorCodes.EMBEDDED_START_FAILED,
        `another pgwarden process (pid ${seen?.holder ?? 'unknown'}) is starting or stopping the embedded cluster`,
        {
          hint: `wait for it, or remove ${lock} if no pgwarden process is running`,
        },
      );
    }
    await sleep(50);
  }
  try {
    return await fn();
  } finally {
    await moveAsideAndRemove(lock);
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
    if (await isProcessAlive(Number(name))) live += 1;
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

/**
 * Leaves the cluster running for good (`demo --keep`): drops this process' lease and clears a
 * stop request another process left, so no later command stops a cluster the user asked to keep.
 *
 * @example
 * if (keep) await keepRunning(dirname(cluster.dataDir));
 */
export async function keepRunning(dir: string): Promise<void> {
  await withLifecycleLock(dir, async () => {
    await releaseLease(dir);
    await clearStopWhenIdle(dir);
  });
}

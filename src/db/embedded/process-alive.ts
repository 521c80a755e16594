import { readFile } from 'node:fs/promises';

/**
 * Whether the process has exited but was not reaped yet. A postmaster is reparented when pg_ctl
 * exits, and in containers whose PID 1 does not reap, a killed postmaster stays a zombie that
 * `kill(pid, 0)` still reports as alive. Linux only (reads /proc); false elsewhere.
 *
 * @example
 * await isZombie(process.pid); // false
 */
export async function isZombie(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // Format: "pid (comm) S …"; comm may contain spaces or parentheses, so split at the last ")".
  const state = stat?.slice(stat.lastIndexOf(')') + 1).trim()[0];
  return state === 'Z';
}

/**
 * Whether a process with this pid is running: the one liveness test for postmasters, lock
 * holders, leases and `pgwarden up`. EPERM counts as alive (the process may belong to another OS
 * user that we may not signal); zombies count as dead; so does anything that is not a positive
 * integer, since `kill(0)` or `kill(-n)` would probe a whole process group.
 *
 * @example
 * await isProcessAlive(process.pid); // true
 */
export async function isProcessAlive(pid: number): Promise<boolean> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !(await isZombie(pid));
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The parts of `postmaster.pid` pgwarden uses. */
export interface PostmasterInfo {
  pid: number;
  port: number | undefined;
  /** Line 8: "starting", "ready", "stopping" or "standby" (absent while very early in startup). */
  status: string | undefined;
}

/**
 * Reads `<dataDir>/postmaster.pid` (line 1 pid, line 4 port, line 8 status); undefined when the
 * file is missing or unreadable. The file may be stale after a crash; see `isProcessAlive`.
 *
 * @example
 * const info = await readPostmasterPid('/var/tmp/pgwarden/data'); // { pid: 4242, port: 5433, status: 'ready' }
 */
export async function readPostmasterPid(dataDir: string): Promise<PostmasterInfo | undefined> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const lines = text.split('\n');
  const pid = Number(lines[0]?.trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const port = Number(lines[3]?.trim());
  const status = lines[7]?.trim();
  return {
    pid,
    port: Number.isInteger(port) && port > 0 ? port : undefined,
    status: status === undefined || status === '' ? undefined : status,
  };
}

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
 * Whether a process with this pid is running. EPERM counts as alive: the server may belong to
 * another OS user that we may not signal. Zombies count as dead.
 *
 * @example
 * await isProcessAlive(process.pid); // true
 */
export async function isProcessAlive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !(await isZombie(pid));
}

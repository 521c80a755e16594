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
 * file is missing or unreadable. The file may be stale after a crash; see `isProcessAlive`
 * (process-alive.ts).
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

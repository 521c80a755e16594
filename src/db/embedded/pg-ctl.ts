import { join } from 'node:path';
import type { OsIdentity } from './os-user.js';
import { type RunCommandResult, runCommand } from './run-command.js';

/** Seconds pg_ctl waits for the server to become ready or to stop. */
export const PG_CTL_TIMEOUT_SECONDS = 60;

/** What every pg_ctl call needs. */
export interface PgCtlTarget {
  bindir: string;
  dataDir: string;
  /** Run as this user (root only); pg_ctl refuses to run as root. */
  user: OsIdentity | undefined;
  onLog?: ((line: string) => void) | undefined;
}

function run(target: PgCtlTarget, args: string[]): Promise<RunCommandResult> {
  return runCommand(join(target.bindir, 'pg_ctl'), args, {
    uid: target.user?.uid,
    gid: target.user?.gid,
    // The data directory is the one place the server user can always enter.
    cwd: target.dataDir,
    onLine: target.onLog,
  });
}

/**
 * `pg_ctl start -w`: starts the postmaster (in its own session, so it outlives this process),
 * appending its output to `logFile`, and waits until it accepts connections.
 *
 * @example
 * const { code } = await pgCtlStart({ bindir, dataDir, user: undefined }, logFile, 54321);
 */
export function pgCtlStart(target: PgCtlTarget, logFile: string, port: number): Promise<RunCommandResult> {
  return run(target, [
    'start',
    '-D',
    target.dataDir,
    '-w',
    '-t',
    String(PG_CTL_TIMEOUT_SECONDS),
    '-l',
    logFile,
    '-o',
    `-p ${port}`,
  ]);
}

/**
 * `pg_ctl stop -w`: "fast" rolls back open transactions and shuts down cleanly; "immediate"
 * only cleans up after a start that never became ready.
 *
 * @example
 * await pgCtlStop({ bindir, dataDir, user: undefined }, 'fast');
 */
export function pgCtlStop(target: PgCtlTarget, mode: 'fast' | 'immediate'): Promise<RunCommandResult> {
  return run(target, ['stop', '-D', target.dataDir, '-m', mode, '-w', '-t', String(PG_CTL_TIMEOUT_SECONDS)]);
}

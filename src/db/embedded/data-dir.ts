import { chmod, chown, lstat, mkdir, open, readdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import type { OsIdentity } from './os-user.js';
import { assertTraversable, canTraverse, DATA_DIR_PROBLEM } from './traversable.js';

/** Server OS user when we are root; undefined when we run the server as ourselves. */
export interface ServerUser extends OsIdentity {
  name: string;
}

/**
 * pg_ctl hands the data directory and log path to `/bin/sh` inside double quotes, so these
 * characters would break (or inject into) that command line.
 */
const SHELL_UNSAFE = /["$`\\\n\r\0]/;

/**
 * Throws PW151 for a data directory path pg_ctl cannot pass safely through its shell.
 *
 * @example
 * assertSafePath('/var/tmp/pgwarden/data');
 */
export function assertSafePath(dataDir: string): void {
  if (SHELL_UNSAFE.test(dataDir)) {
    throw new PgwardenError(
      ErrorCodes.EMBEDDED_DIR_UNUSABLE,
      'The data directory path contains a character pg_ctl cannot handle',
      { detail: dataDir, hint: 'choose a path without quotes, $, backquotes or backslashes' },
    );
  }
}

async function entries(dir: string): Promise<string[] | undefined> {
  return readdir(dir).catch(() => undefined);
}

/**
 * Whether the parent must be handed to the server user: only an existing, empty directory that
 * user cannot enter, i.e. a private directory made for this cluster (mkdtemp's 0700). Anything
 * else stays with whoever made it. `.pgwarden` holds the invoking user's own files (lifecycle
 * lock, leases, pgpass, up.pid) that the server user must not be able to swap for symlinks, and
 * the server needs nothing there but its data directory and log file, both its own. A shared
 * directory such as /tmp is never given away.
 */
async function parentToHandOver(parent: string, user: ServerUser): Promise<boolean> {
  const stats = await stat(parent).catch(() => undefined);
  if (!stats?.isDirectory() || dirname(parent) === parent || (stats.mode & 0o1002) !== 0) return false;
  if (canTraverse(stats, user)) return false;
  return (await entries(parent))?.length === 0;
}

async function ensureLogFile(logFile: string, user: ServerUser): Promise<void> {
  const existing = await lstat(logFile).catch(() => undefined);
  if (!existing) {
    const handle = await open(logFile, 'wx', 0o640);
    await handle.chown(user.uid, user.gid);
    await handle.close();
  } else if (existing.isFile() && existing.uid !== user.uid) {
    await chown(logFile, user.uid, user.gid);
  }
}

async function prepareAsRoot(dataDir: string, logFile: string, user: ServerUser): Promise<void> {
  const parent = dirname(dataDir);
  const chownParent = await parentToHandOver(parent, user);
  const problem = {
    ...DATA_DIR_PROBLEM,
    subject: `the data directory ${dataDir}`,
  };
  await assertTraversable(chownParent ? dirname(parent) : parent, user, problem);
  await mkdir(parent, { recursive: true });
  if (chownParent) await chown(parent, user.uid, user.gid);
  await assertTraversable(parent, user, problem);
  await ensureLogFile(logFile, user);
  await mkdir(dataDir, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  const stats = await stat(dataDir);
  const names = (await entries(dataDir)) ?? [];
  if (names.length === 0) {
    await chown(dataDir, user.uid, user.gid);
    await chmod(dataDir, 0o700);
  } else if (stats.uid !== user.uid) {
    throw new PgwardenError(
      ErrorCodes.EMBEDDED_DIR_UNUSABLE,
      `The data directory ${dataDir} is not owned by the OS user "${user.name}" that runs PostgreSQL`,
      {
        detail: `owner uid ${stats.uid}, expected ${user.uid}`,
        hint: `chown -R ${user.name} ${dataDir}, set osUser to its owner, or use a new data directory`,
      },
    );
  }
}

/**
 * Makes the data directory and its parent exist with owners and modes PostgreSQL accepts:
 * as root, the server's user owns the data directory (mode 0700) and the log file and can reach
 * them, while the parent stays root's (unless it is an empty directory that user cannot enter);
 * as anyone else we own them ourselves. An existing, non-empty data directory is left as it is.
 *
 * @example
 * await prepareDataDir('/var/tmp/pgwarden/data', '/var/tmp/pgwarden/server.log', undefined);
 */
export async function prepareDataDir(dataDir: string, logFile: string, user: ServerUser | undefined): Promise<void> {
  assertSafePath(dataDir);
  try {
    if (user) return await prepareAsRoot(dataDir, logFile, user);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const names = (await entries(dataDir)) ?? [];
    // PostgreSQL refuses a data directory other users can read.
    if (names.length === 0) await chmod(dataDir, 0o700);
  } catch (err) {
    if (err instanceof PgwardenError) throw err;
    throw new PgwardenError(ErrorCodes.EMBEDDED_DIR_UNUSABLE, `Cannot prepare the data directory ${dataDir}`, {
      detail: (err as Error).message,
      hint: 'choose a writable location for the data directory',
      cause: err,
    });
  }
}

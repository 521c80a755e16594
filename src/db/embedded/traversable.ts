import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type ErrorCode, ErrorCodes, PgwardenError } from '../../errors/index.js';
import type { OsIdentity } from './os-user.js';

/**
 * Whether `who` may enter a directory with these stats. Only the primary group counts: Node
 * drops supplementary groups when it switches uid, so the server process has no others.
 */
export function canTraverse(stats: Pick<Stats, 'mode' | 'uid' | 'gid'>, who: OsIdentity): boolean {
  if (who.uid === 0) return true;
  if (stats.uid === who.uid) return (stats.mode & 0o100) !== 0;
  if (stats.gid === who.gid) return (stats.mode & 0o010) !== 0;
  return (stats.mode & 0o001) !== 0;
}

/** Every existing directory from `/` down to `path` itself (missing tail directories skipped). */
async function existingAncestors(path: string): Promise<Array<{ dir: string; stats: Stats }>> {
  const chain: string[] = [];
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    chain.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  const found: Array<{ dir: string; stats: Stats }> = [];
  for (const dir of chain) {
    const stats = await stat(dir).catch(() => undefined);
    if (!stats) break;
    found.push({ dir, stats });
  }
  return found;
}

/** Which error to raise and what it is about; the default suits a data directory. */
export interface TraversalProblem {
  code: ErrorCode;
  /** What the user needs reached, e.g. "the data directory /var/tmp/pgwarden/data". */
  subject: string;
  hint: string;
}

/** The usual problem: the data directory is out of the server user's reach. */
export const DATA_DIR_PROBLEM: Omit<TraversalProblem, 'subject'> = {
  code: ErrorCodes.EMBEDDED_DIR_UNUSABLE,
  hint: 'put the data directory somewhere that user can reach, e.g. under /var/tmp or /tmp, or make the directory traversable (chmod o+x)',
};

/**
 * Throws (PW151 by default) unless `who` can traverse every existing directory on the way to
 * `path` (inclusive). Catches the classic failure of a cluster under `/root/…`: root creates it,
 * the server's unprivileged user then cannot reach it and PostgreSQL reports a confusing error.
 *
 * @example
 * await assertTraversable('/var/tmp/pgwarden', { name: 'postgres', uid: 101, gid: 104 });
 */
export async function assertTraversable(
  path: string,
  who: OsIdentity & { name: string },
  problem: TraversalProblem = { ...DATA_DIR_PROBLEM, subject: path },
): Promise<void> {
  for (const { dir, stats } of await existingAncestors(path)) {
    if (!canTraverse(stats, who)) {
      throw new PgwardenError(
        problem.code,
        `The OS user "${who.name}" that runs PostgreSQL cannot reach ${problem.subject}`,
        {
          detail: `${dir} is not traversable by uid ${who.uid} (mode ${(stats.mode & 0o7777).toString(8)}, owner ${stats.uid}:${stats.gid})`,
          hint: problem.hint,
        },
      );
    }
  }
}

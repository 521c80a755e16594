import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Owner and mode of a file written by `writeFileAtomic`. */
export interface AtomicWriteOptions {
  mode: number;
  /** Owner to give the file before it becomes visible (root only). */
  owner?: { uid: number; gid: number } | undefined;
}

/**
 * Writes `path` via a fresh temp file and a rename. The temp file is created exclusively
 * (never follows a planted symlink) and rename replaces a symlink instead of writing through
 * it: as root we write into directories owned by the server's user, who must not be able to
 * redirect the write. Readers never see a half-written file.
 *
 * @example
 * await writeFileAtomic('/var/tmp/pgw/cluster.json', '{}\n', { mode: 0o600 });
 */
export async function writeFileAtomic(path: string, content: string, options: AtomicWriteOptions): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', options.mode);
  try {
    await handle.chmod(options.mode);
    if (options.owner) await handle.chown(options.owner.uid, options.owner.gid);
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } catch (err) {
    await handle.close();
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  await rename(temp, path).catch(async (err: unknown) => {
    await rm(temp, { force: true });
    throw err;
  });
}

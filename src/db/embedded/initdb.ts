import { chown, mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { writeFileAtomic } from './atomic-write.js';
import type { ServerUser } from './data-dir.js';
import { tailLines } from './log-tail.js';
import { runCommand } from './run-command.js';
import { INCLUDE_LINE } from './server-settings.js';

/** What `runInitdb` needs. */
export interface InitdbOptions {
  bindir: string;
  dataDir: string;
  superuser: string;
  /** Reaches initdb only through a 0600 file that is deleted right after. */
  password: string;
  user: ServerUser | undefined;
  ephemeral?: boolean | undefined;
  onLog?: ((line: string) => void) | undefined;
}

/**
 * Writes the password file in a private temp directory beside the data directory (reachable by
 * the server user, unlike a root-only TMPDIR), so the password never appears on a command line.
 */
async function withPasswordFile<T>(options: InitdbOptions, use: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(dirname(options.dataDir), '.initdb-'));
  try {
    const file = join(dir, 'pwfile');
    const handle = await open(file, 'wx', 0o600);
    try {
      await handle.writeFile(`${options.password}\n`, 'utf8');
    } finally {
      await handle.close();
    }
    if (options.user) {
      await chown(dir, options.user.uid, options.user.gid);
      await chown(file, options.user.uid, options.user.gid);
    }
    return await use(file);
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Creates a cluster in an empty data directory: scram-sha-256 for every connection, UTF8,
 * the C locale (identical sorting on every machine), the given superuser and password.
 * Throws PW150 with initdb's last output lines when it fails.
 *
 * @example
 * await runInitdb({ bindir, dataDir, superuser: 'postgres', password, user: undefined });
 */
export async function runInitdb(options: InitdbOptions): Promise<void> {
  if (/[\r\n\0]/.test(options.password)) {
    throw new PgwardenError(ErrorCodes.EMBEDDED_START_FAILED, 'The superuser password contains a line break or NUL', {
      hint: 'choose a single-line password',
    });
  }
  const result = await withPasswordFile(options, (pwfile) =>
    runCommand(
      join(options.bindir, 'initdb'),
      [
        '-D',
        options.dataDir,
        '-U',
        options.superuser,
        `--pwfile=${pwfile}`,
        '--auth-host=scram-sha-256',
        '--auth-local=scram-sha-256',
        '--encoding=UTF8',
        '--no-locale',
        '--no-instructions',
        ...(options.ephemeral ? ['--no-sync'] : []),
      ],
      {
        uid: options.user?.uid,
        gid: options.user?.gid,
        cwd: dirname(options.dataDir),
        onLine: options.onLog,
      },
    ),
  );
  if (result.code !== 0) {
    throw new PgwardenError(ErrorCodes.EMBEDDED_START_FAILED, `initdb failed for ${options.dataDir}`, {
      detail: tailLines(result.output, 20),
      hint: 'check that the data directory is empty and writable by the server user',
    });
  }
}

/**
 * Appends `include_if_exists = 'pgwarden.conf'` to postgresql.conf unless already there, keeping
 * the file's mode and giving it to the server user.
 *
 * @example
 * await ensureSettingsInclude('/var/tmp/pgwarden/data', undefined);
 */
export async function ensureSettingsInclude(dataDir: string, user: ServerUser | undefined): Promise<void> {
  const confPath = join(dataDir, 'postgresql.conf');
  const text = await readFile(confPath, 'utf8');
  if (text.split('\n').some((line) => line.trim() === INCLUDE_LINE)) return;
  const stats = await stat(confPath);
  const separator = text.endsWith('\n') ? '' : '\n';
  await writeFileAtomic(
    confPath,
    `${text}${separator}\n# Added by pgwarden: its managed settings.\n${INCLUDE_LINE}\n`,
    { mode: stats.mode & 0o777, owner: user },
  );
}

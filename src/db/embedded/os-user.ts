import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { runCommand } from './run-command.js';

/** The numeric identity a child process is switched to. */
export interface OsIdentity {
  uid: number;
  gid: number;
}

/** Login names useradd accepts; also keeps a name from being read as an option ("-o"). */
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

async function idOf(name: string, flag: '-u' | '-g'): Promise<number | undefined> {
  const result = await runCommand('id', [flag, name]);
  const value = Number(result.output.trim());
  return result.code === 0 && Number.isInteger(value) ? value : undefined;
}

/**
 * Looks up an OS user's uid and primary gid with `id`; undefined when the user does not exist.
 *
 * @example
 * const postgres = await lookupOsUser('postgres'); // { uid: 101, gid: 104 }
 */
export async function lookupOsUser(name: string): Promise<OsIdentity | undefined> {
  assertUserName(name);
  const uid = await idOf(name, '-u');
  const gid = uid === undefined ? undefined : await idOf(name, '-g');
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}

/**
 * Returns the identity of `name`, creating it as a locked system account (no home, no login
 * shell) when missing. Only meaningful as root: PostgreSQL refuses to run as root, so the
 * server needs an unprivileged owner.
 *
 * @example
 * const { uid, gid } = await ensureOsUser('postgres');
 */
export async function ensureOsUser(name: string): Promise<OsIdentity> {
  const existing = await lookupOsUser(name);
  if (existing) return existing;
  const result = await runCommand('useradd', [
    '--system',
    '--user-group',
    '--no-create-home',
    '--shell',
    '/usr/sbin/nologin',
    name,
  ]).catch((cause: unknown) => ({ code: -1, signal: null, output: String(cause) }));
  // Another process may have created the user between our lookup and useradd; look again.
  const created = await lookupOsUser(name);
  if (created) return created;
  throw new PgwardenError(
    ErrorCodes.EMBEDDED_START_FAILED,
    `Could not create the OS user "${name}" that runs the local PostgreSQL server`,
    {
      detail: result.output.trim().slice(0, 500),
      hint: `create it yourself (useradd --system --user-group ${name}) or choose an existing user with the osUser option`,
    },
  );
}

function assertUserName(name: string): void {
  if (!USER_NAME.test(name)) {
    throw new PgwardenError(ErrorCodes.EMBEDDED_START_FAILED, `Invalid OS user name "${name}"`, {
      hint: 'use a lowercase login name such as "postgres"',
    });
  }
}

import { join } from 'node:path';
import type { ConnectionConfig } from '../db/index.js';

/** Quotes a word for a POSIX shell unless it is plainly safe as it is. */
const shellWord = (s: string): string => (/^[\w./@%+=:,-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/**
 * The psql command line for the embedded cluster, reading the password from the pgpass file
 * pgwarden keeps in the cluster directory, so the password itself is never printed.
 *
 * @example
 * psqlHint('.pgwarden', { host: '127.0.0.1', port: 41873, user: 'postgres' }, 'app');
 * // "PGPASSFILE=.pgwarden/pgpass psql -h 127.0.0.1 -p 41873 -U postgres app"
 */
export function psqlHint(dir: string, connection: ConnectionConfig, database: string): string {
  const host = connection.host ?? '127.0.0.1';
  const user = connection.user ?? 'postgres';
  return [
    `PGPASSFILE=${shellWord(join(dir, 'pgpass'))}`,
    'psql',
    `-h ${shellWord(host)}`,
    `-p ${String(connection.port)}`,
    `-U ${shellWord(user)}`,
    shellWord(database),
  ].join(' ');
}

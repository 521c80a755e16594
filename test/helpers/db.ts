import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { ConnectionConfig } from '../../src/db/client.js';
import { quoteIdent, withClient } from '../../src/db/client.js';
import { templateDatabase } from './constants.js';

/** Superuser connection to the test cluster's maintenance database. */
export function adminConnection(): ConnectionConfig & {
  port: number;
  password: string;
  user: string;
  host: string;
  database: string;
} {
  const { major: _major, ...conn } = inject('pg');
  return conn;
}

/** Major version of the server under test (17 embedded, 15 in the Debian leg). */
export const serverMajor = (): number => inject('pg').major;

const uniqueName = (prefix: string) => `${prefix}_${randomBytes(5).toString('hex')}`;

/** A fresh database cloned from the installed template (advanced tier, prefix pgw_). */
export async function installedDatabase(): Promise<ConnectionConfig> {
  const name = uniqueName('t');
  await withClient(adminConnection(), (c) =>
    c.query(`create database ${quoteIdent(name)} template ${templateDatabase}`),
  );
  return { ...adminConnection(), database: name };
}

/** A fresh empty database (nothing of pgwarden installed; the cluster's roles may exist). */
export async function emptyDatabase(): Promise<ConnectionConfig> {
  const name = uniqueName('e');
  await withClient(adminConnection(), (c) => c.query(`create database ${quoteIdent(name)} template template0`));
  return { ...adminConnection(), database: name };
}

/** A role prefix no other test uses, for tests that create or drop roles. */
export const uniquePrefix = (): string => `t${randomBytes(3).toString('hex')}_`;

/**
 * A fresh login role (unique name, no attributes) that may create schemas in `db`: the
 * unprivileged user of the privilege and planting tests. Resolves to its connection settings.
 */
export async function loginWithCreate(db: ConnectionConfig, namePrefix: string): Promise<ConnectionConfig> {
  const login = `${namePrefix}_${uniquePrefix()}`;
  const password = `pw-${randomBytes(6).toString('hex')}`;
  await withClient(adminConnection(), (c) => c.query(`create role ${quoteIdent(login)} login password '${password}'`));
  await withClient(db, (c) => c.query(`grant create on database ${quoteIdent(db.database!)} to ${quoteIdent(login)}`));
  return { ...db, user: login, password };
}

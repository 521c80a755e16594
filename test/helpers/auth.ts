import pg from 'pg';
import { AuthService, type AuthServiceOptions } from '../../src/auth/auth-service.js';
import { generateMasterKey, parseMasterKey } from '../../src/auth/crypto/index.js';
import { type Blocklist, loadDefaultBlocklist, PasswordHasher } from '../../src/auth/password/index.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { installedDatabase } from './db.js';

/** argon2id parameters that keep tests fast; tests about the real cost use the defaults. */
export const fastArgon2 = { memoryCost: 4096, timeCost: 1, parallelism: 1 } as const;

let sharedBlocklist: Promise<Blocklist> | undefined;
/** The shipped blocklist, loaded once per test file. */
export const testBlocklist = (): Promise<Blocklist> => (sharedBlocklist ??= loadDefaultBlocklist());

/** AuthService options for tests: fast argon2, a fresh real master key, the real blocklist. */
export async function testAuthOptions(pool: pg.Pool): Promise<AuthServiceOptions> {
  return {
    pool,
    masterKey: parseMasterKey(generateMasterKey()),
    hasher: new PasswordHasher({ params: fastArgon2, concurrency: 4 }),
    blocklist: await testBlocklist(),
    issuer: 'https://auth.test',
    audience: 'test-api',
    accessTokenTtlSeconds: 900,
    signingAlg: 'EdDSA',
    passwordMinLength: 8,
    passwordMaxLength: 256,
    productWords: ['pgwarden'],
    totpIssuer: 'pgwarden-test',
    adminRole: 'admin',
    adminRequiresMfa: true,
  };
}

export interface AuthFixture {
  db: ConnectionConfig;
  pool: pg.Pool;
  auth: AuthService;
  /** Another service on the same database with different options (same master key). */
  withOptions(overrides: Partial<AuthServiceOptions>): AuthService;
  /** A superuser query on the test database. */
  sql<T extends pg.QueryResultRow = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/**
 * A fresh installed database and an AuthService on it with fast argon2 parameters, a real
 * master key and the real blocklist. Close it in afterAll.
 */
export async function authFixture(overrides: Partial<AuthServiceOptions> = {}): Promise<AuthFixture> {
  const db = await installedDatabase();
  const pool = new pg.Pool({ ...db, max: 30 });
  pool.on('error', () => undefined);
  const base = await testAuthOptions(pool);
  const options = { ...base, ...overrides };
  return {
    db,
    pool,
    auth: new AuthService(options),
    withOptions: (more) => new AuthService({ ...options, ...more }),
    sql: async (text, params = []) => (await pool.query(text, params)).rows,
    close: () => pool.end(),
  };
}

let counter = 0;
/** A unique e-mail per call, so tests in one database never collide. */
export const uniqueEmail = (tag = 'user'): string =>
  `${tag}.${process.pid}.${Date.now().toString(36)}.${(counter++).toString(36)}@example.test`;

/** A password that passes the policy. */
export const goodPassword = 'correct horse battery staple';

/** A distinct IPv4 address per call, for throttle tests that need many sources. */
let ip = 0;
export const nextAddress = (): string => {
  ip += 1;
  return `198.51.${(ip >> 8) & 255}.${ip & 255}`;
};

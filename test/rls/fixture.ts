import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import type { ContextIdentity, ContextKey } from '../../src/context/context-seal.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { enterContext, registerContextKey, testIdentity } from '../helpers/context.js';
import { installedDatabase } from '../helpers/db.js';

/** The demo's two tenants (demo/sample-app.sql). */
export const tenantA = '00000000-0000-4000-8000-00000000000a';
export const tenantB = '00000000-0000-4000-8000-00000000000b';
export const projectA = '00000000-0000-4000-8000-000000000a01';
export const projectB = '00000000-0000-4000-8000-000000000b01';
export const userA = '00000000-0000-4000-8000-0000000000a1';
export const userB = '00000000-0000-4000-8000-0000000000b1';

/**
 * The personas of every allow/deny pair:
 * - `no-context`: the app_user request role with no context at all (a forgotten or forged one);
 * - `anon`: the anon request role with a real, anonymous context;
 * - `tenant-a`, `tenant-b`: authenticated members of each tenant (RBAC role `member`);
 * - `admin`: tenant A with RBAC role `billing-admin` (read and write permissions).
 */
export type Persona = 'no-context' | 'anon' | 'tenant-a' | 'tenant-b' | 'admin';

export interface RlsFixture {
  db: ConnectionConfig;
  /** A superuser query on the test database. */
  sql<T extends pg.QueryResultRow = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs fn as a persona (or any identity) inside a transaction that is always rolled back. */
  as<T>(persona: Persona | ContextIdentity, fn: (client: pg.ClientBase) => Promise<T>): Promise<T>;
  /** A superuser client, for library calls. */
  admin: pg.Client;
  close(): Promise<void>;
}

/** The identity of each persona; tenants are the demo's uuids unless `tenants` maps them. */
function identityOf(persona: Exclude<Persona, 'no-context'>, tenants: { a: string; b: string }) {
  switch (persona) {
    case 'anon':
      return testIdentity({ role: 'pgw_anon', sub: null, tenant: null, roles: [], aal: null });
    case 'tenant-a':
      return testIdentity({ tenant: tenants.a, sub: userA, roles: ['member'] });
    case 'tenant-b':
      return testIdentity({ tenant: tenants.b, sub: userB, roles: ['member'] });
    case 'admin':
      return testIdentity({ tenant: tenants.a, sub: userA, roles: ['billing-admin'] });
  }
}

/**
 * A fresh installed database with the demo schema loaded, a registered context key, and the
 * RBAC roles `member` (invoices.read) and `billing-admin` (invoices.read, invoices.write).
 */
export async function rlsFixture(options: { tenants?: { a: string; b: string } } = {}): Promise<RlsFixture> {
  const tenants = options.tenants ?? { a: tenantA, b: tenantB };
  const db = await installedDatabase();
  const admin = new pg.Client(db);
  admin.on('error', () => undefined);
  await admin.connect();
  await admin.query(await readFile(new URL('../../demo/sample-app.sql', import.meta.url), 'utf8'));
  await admin.query(`select auth.rbac_define_role('member', array['invoices.read'])`);
  await admin.query(`select auth.rbac_define_role('billing-admin', array['invoices.read', 'invoices.write'])`);
  const key: ContextKey = await registerContextKey(admin);
  const persona = new pg.Client(db);
  persona.on('error', () => undefined);
  await persona.connect();
  return {
    db,
    admin,
    sql: async (text, params) => (await admin.query(text, params)).rows,
    async as(who, fn) {
      await persona.query('begin');
      try {
        if (who === 'no-context') await persona.query(`set local role pgw_app_user`);
        else await enterContext(persona, key, typeof who === 'string' ? identityOf(who, tenants) : who);
        return await fn(persona);
      } finally {
        await persona.query('rollback').catch(() => undefined);
      }
    },
    async close() {
      await persona.end().catch(() => undefined);
      await admin.end().catch(() => undefined);
    },
  };
}

/** A role name no other test file uses (roles are cluster-wide). */
export const uniqueRole = (prefix: string): string => `${prefix}_${randomBytes(4).toString('hex')}`;

/** The rows a `COPY … TO STDOUT` sends, read with pg's own Query (no pg-copy-streams needed). */
export function copyOut(client: pg.ClientBase, sql: string): Promise<string> {
  const query = new pg.Query(sql);
  const chunks: Buffer[] = [];
  (query as unknown as { handleCopyData(msg: { chunk: Buffer }): void }).handleCopyData = (msg) => {
    chunks.push(msg.chunk);
  };
  return new Promise((resolve, reject) => {
    query.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    query.on('error', reject);
    client.query(query);
  });
}

/** Sends `data` to a `COPY … FROM STDIN`, through pg's own Query. */
export function copyIn(client: pg.ClientBase, sql: string, data: string): Promise<number> {
  const query = new pg.Query(sql);
  (
    query as unknown as {
      handleCopyInResponse(connection: { sendCopyFromChunk(b: Buffer): void; endCopyFrom(): void }): void;
    }
  ).handleCopyInResponse = (connection) => {
    connection.sendCopyFromChunk(Buffer.from(data, 'utf8'));
    connection.endCopyFrom();
  };
  return new Promise((resolve, reject) => {
    query.on('end', (result: pg.QueryResult) => resolve(result.rowCount ?? 0));
    query.on('error', reject);
    client.query(query);
  });
}

import pg from 'pg';
import type { ConnectionConfig } from '../../src/db/client.js';
import { authenticatorTestPassword, testRolePrefix } from './constants.js';
import { ContextKey, type ContextIdentity, sealContext } from '../../src/context/context-seal.js';
import { contextIdentity } from '../../src/context/identity.js';

/** A fresh random context key, registered in the database through `auth.context_key_add` (as superuser). */
export async function registerContextKey(client: pg.ClientBase): Promise<ContextKey> {
  const key = new ContextKey(crypto.getRandomValues(new Uint8Array(32)));
  await client.query('select auth.context_key_add($1)', [key.exportForRegistration()]);
  return key;
}

/** A complete identity for tests; `role` defaults to pgw_app_user. */
export function testIdentity(over: Partial<ContextIdentity> = {}): ContextIdentity {
  return contextIdentity({
    role: 'pgw_app_user',
    sub: '00000000-0000-4000-8000-000000000001',
    tenant: 'tenant-a',
    roles: [],
    aal: 'aal1',
    sid: null,
    iat: Math.floor(Date.now() / 1000),
    claims: {},
    ...over,
  });
}

/**
 * Enters a real, MAC'd context on `client` the way the request layer does, inside an open
 * transaction (call `begin` first): the settings, `auth.context_enter` when the identity names a
 * session (sid, sub, and `claims.av`), then the role.
 */
export async function enterContext(client: pg.ClientBase, key: ContextKey, identity: ContextIdentity): Promise<void> {
  const pid = (client as pg.ClientBase & { processID: number }).processID;
  const sealed = sealContext(key, identity, pid, Math.floor(Date.now() / 1000) + 60);
  await client.query("select set_config('pgwarden.context', $1, true), set_config('pgwarden.context_mac', $2, true)", [
    sealed.context,
    sealed.mac,
  ]);
  if (identity.sid !== null) {
    const av = identity.claims.av;
    await client.query('select auth.context_enter($1, $2, $3)', [
      identity.sid,
      identity.sub,
      typeof av === 'number' ? av : null,
    ]);
  }
  await client.query("select set_config('role', $1, true)", [identity.role]);
}

/**
 * Connection settings of the authenticator login for a test database. Its password is set once
 * per run by global-setup; never change it in a test (test files run in parallel).
 */
export function authenticatorConnection(db: ConnectionConfig): ConnectionConfig {
  return { ...db, user: `${testRolePrefix}authenticator`, password: authenticatorTestPassword };
}

/**
 * The tenant-notes table the request-context tests query: app.notes with a tenant policy for
 * pgw_app_user (USING and WITH CHECK through auth.tenant_id()), forced, indexed, and one row
 * per tenant given (default tenant-a and tenant-b).
 */
export async function createNotesTable(client: pg.ClientBase, tenants = ['tenant-a', 'tenant-b']): Promise<void> {
  await client.query(`
    create schema app;
    grant usage on schema app to pgw_app_user, pgw_anon;
    create table app.notes (id bigint generated always as identity primary key, tenant text not null, body text);
    create index on app.notes (tenant);
    alter table app.notes enable row level security, force row level security;
    create policy notes_tenant on app.notes to pgw_app_user
      using (tenant = (select auth.tenant_id())) with check (tenant = (select auth.tenant_id()));
    grant select, insert, update, delete on app.notes to pgw_app_user;
  `);
  for (const t of tenants) {
    await client.query('insert into app.notes (tenant, body) values ($1, $2)', [t, `${t.slice(-1)}1`]);
  }
}

/**
 * Runs `fn` in one transaction through the authenticator login, inside a verified request
 * context for `identity`, and commits.
 */
export async function inContext<T>(
  db: ConnectionConfig,
  key: ContextKey,
  identity: ContextIdentity,
  fn: (c: pg.Client) => Promise<T>,
): Promise<T> {
  const c = new pg.Client(authenticatorConnection(db));
  await c.connect();
  try {
    await c.query('begin');
    await enterContext(c, key, identity);
    const result = await fn(c);
    await c.query('commit');
    return result;
  } finally {
    await c.end();
  }
}

import { decodeJwt } from 'jose';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContextIdentity, ContextKey } from '../../src/context/context-seal.js';
import type { Queryable } from '../../src/rbac/index.js';
import { type AuthFixture, authFixture, goodPassword, uniqueEmail } from '../helpers/auth.js';
import { enterContext, registerContextKey, testIdentity } from '../helpers/context.js';

// RBAC end to end: assignments reach access tokens through the auth service; permissions are
// read at query time from the MAC'd request context; a token older than a change of the user's
// roles is refused at its next request (PW332) and a refresh or new login picks up the change.
let f: AuthFixture;
let key: ContextKey;
beforeAll(async () => {
  f = await authFixture();
  const client = await f.pool.connect();
  try {
    key = await registerContextKey(client);
  } finally {
    client.release();
  }
  await f.sql(`select auth.rbac_define_role('billing', '{invoice.read,invoice.write}')`);
  await f.sql(`select auth.rbac_define_role('support', '{ticket.read}')`);
});
afterAll(async () => {
  await f?.close();
});

async function newUser(tenant = 'acme'): Promise<{ id: string; email: string }> {
  const email = uniqueEmail('rbac');
  const { userId } = await f.auth.register({ email, password: goodPassword, tenant });
  return { id: userId!, email };
}

async function login(email: string): Promise<{ token: string; refreshToken: string }> {
  const r = await f.auth.login({ email, password: goodPassword });
  if (r.kind !== 'session') throw new Error('expected a session');
  return { token: r.accessToken, refreshToken: r.refreshToken };
}

/** The context identity the request layer derives from a verified pgwarden access token. */
function identityOf(token: string): ContextIdentity {
  const claims = decodeJwt(token);
  return testIdentity({
    sub: claims.sub as string,
    tenant: claims.tenant as string,
    roles: claims.roles as string[],
    sid: claims.sid as string,
    iat: claims.iat as number,
    claims,
  });
}

const grant = (userId: string, tenant: string, role: string) =>
  f.sql('select auth.rbac_grant($1, $2, $3, $4)', [userId, tenant, role, 'test']);
const revoke = (userId: string, tenant: string, role: string) =>
  f.sql('select auth.rbac_revoke($1, $2, $3, $4)', [userId, tenant, role, 'test']);

/** Opens a request transaction in `identity`'s context, runs `fn`, and always rolls back. */
async function inRequest<T>(identity: ContextIdentity, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await f.pool.connect();
  try {
    await client.query('begin');
    await enterContext(client, key, identity);
    return await fn(client);
  } finally {
    await client.query('rollback').catch(() => undefined);
    client.release();
  }
}

const can = async (client: Queryable, permission: string): Promise<boolean | null> =>
  (await client.query<{ ok: boolean | null }>('select auth.has_permission($1) as ok', [permission])).rows[0]!.ok;

describe('access tokens', () => {
  it("carry a role granted in the session's tenant from the next login", async () => {
    const u = await newUser('acme');
    expect(decodeJwt((await login(u.email)).token).roles).toEqual([]);
    await grant(u.id, 'acme', 'billing');
    expect(decodeJwt((await login(u.email)).token).roles).toEqual(['billing']);
  });

  it('carry a role granted to a signed-in user after a refresh', async () => {
    const u = await newUser('acme');
    const first = await login(u.email);
    await grant(u.id, 'acme', 'support');
    const refreshed = await f.auth.refresh(first.refreshToken);
    expect(decodeJwt(refreshed.accessToken).roles).toEqual(['support']);
  });

  it('do not carry a role assigned in another tenant', async () => {
    const u = await newUser('acme');
    await grant(u.id, 'globex', 'billing');
    const claims = decodeJwt((await login(u.email)).token);
    expect(claims.tenant).toBe('acme');
    expect(claims.roles).toEqual([]);
  });

  it('carry the global roles of users.roles together with the tenant roles, once each', async () => {
    const u = await newUser('acme');
    await f.sql(`update auth.users set roles = '{support,billing}' where id = $1`, [u.id]);
    await grant(u.id, 'acme', 'billing');
    expect(decodeJwt((await login(u.email)).token).roles).toEqual(['billing', 'support']);
  });
});

describe('auth.has_permission', () => {
  it('allows a permission of a role the context holds', async () => {
    const u = await newUser('acme');
    await inRequest(testIdentity({ sub: u.id, tenant: 'acme', roles: ['billing'] }), async (c) => {
      expect(await can(c, 'invoice.read')).toBe(true);
      expect(await can(c, 'invoice.write')).toBe(true);
    });
  });

  it('denies a permission of a role the context does not hold, and an unknown permission', async () => {
    const u = await newUser('acme');
    await inRequest(testIdentity({ sub: u.id, tenant: 'acme', roles: ['support'] }), async (c) => {
      expect(await can(c, 'ticket.read')).toBe(true);
      expect(await can(c, 'invoice.read')).toBe(false);
      expect(await can(c, 'no.such.permission')).toBe(false);
    });
    await inRequest(testIdentity({ sub: u.id, tenant: 'acme', roles: [] }), async (c) => {
      expect(await can(c, 'ticket.read')).toBe(false);
    });
  });

  it('is NULL without a context, as any role', async () => {
    expect(await can(f.pool, 'invoice.read')).toBeNull();
    const client = await f.pool.connect();
    try {
      await client.query('begin');
      await client.query('set local role pgw_app_user');
      expect(await can(client, 'invoice.read')).toBeNull();
    } finally {
      await client.query('rollback');
      client.release();
    }
  });

  it('denies a permission taken from a role at the next statement of a running request', async () => {
    await f.sql(`select auth.rbac_define_role('reports', '{report.read,report.export}')`);
    const u = await newUser('acme');
    await inRequest(testIdentity({ sub: u.id, tenant: 'acme', roles: ['reports'] }), async (c) => {
      expect(await can(c, 'report.export')).toBe(true);
      await f.sql(`select auth.rbac_define_role('reports', '{report.read}')`);
      expect(await can(c, 'report.export')).toBe(false);
      expect(await can(c, 'report.read')).toBe(true);
    });
  });

  it('denies every permission of a dropped role at the next statement', async () => {
    await f.sql(`select auth.rbac_define_role('short_lived', '{temp.use}')`);
    const u = await newUser('acme');
    await inRequest(testIdentity({ sub: u.id, tenant: 'acme', roles: ['short_lived'] }), async (c) => {
      expect(await can(c, 'temp.use')).toBe(true);
      await f.sql(`select auth.rbac_drop_role('short_lived')`);
      expect(await can(c, 'temp.use')).toBe(false);
    });
  });
});

describe('user-editable data never authorises [R-20]', () => {
  it('denies a request editing its own users.roles or role assignments [R-20]', async () => {
    const u = await newUser('acme');
    const identity = testIdentity({ sub: u.id, tenant: 'acme', roles: [] });
    await inRequest(identity, async (c) => {
      await expect(
        c.query(`update auth.users set roles = '{billing}' where id = (select auth.uid())`),
      ).rejects.toMatchObject({ code: '42501' });
    });
    await inRequest(identity, async (c) => {
      await expect(
        c.query(
          `insert into auth.role_assignments (user_id, tenant, role) values ((select auth.uid()), 'acme', 'billing')`,
        ),
      ).rejects.toMatchObject({ code: '42501' });
    });
    await inRequest(identity, async (c) => {
      await expect(c.query(`select auth.rbac_grant((select auth.uid()), 'acme', 'billing')`)).rejects.toMatchObject({
        code: '42501',
      });
    });
  });

  it('takes roles from the verified context only, never from the users table [R-20]', async () => {
    const u = await newUser('acme');
    // Even with billing in the user's row, a context whose token carried no roles has no permission.
    await f.sql(`update auth.users set roles = '{billing}' where id = $1`, [u.id]);
    await inRequest(testIdentity({ sub: u.id, tenant: 'acme', roles: [] }), async (c) => {
      expect(await can(c, 'invoice.read')).toBe(false);
    });
  });

  it('gives a context rewritten by the request itself no permission at all [R-20]', async () => {
    const u = await newUser('acme');
    await inRequest(testIdentity({ sub: u.id, tenant: 'acme', roles: [] }), async (c) => {
      const current = (await c.query<{ v: string }>(`select current_setting('pgwarden.context') as v`)).rows[0]!.v;
      const forged = JSON.stringify({ ...JSON.parse(current), roles: ['billing'] });
      await c.query(`select set_config('pgwarden.context', $1, true)`, [forged]);
      expect(await can(c, 'invoice.read')).toBeNull();
      expect((await c.query('select auth.roles() as r')).rows[0].r).toBeNull();
    });
  });
});

describe('tokens older than a change of roles (PW332)', () => {
  it('refuses a token issued before a revoke at its next request, and accepts the next login', async () => {
    const u = await newUser('acme');
    await grant(u.id, 'acme', 'billing');
    const before = identityOf((await login(u.email)).token);
    expect(before.roles).toEqual(['billing']);
    await inRequest(before, async (c) => expect(await can(c, 'invoice.read')).toBe(true));

    await revoke(u.id, 'acme', 'billing');
    await expect(inRequest(before, async () => undefined)).rejects.toMatchObject({ code: 'PW332' });

    const after = identityOf((await login(u.email)).token);
    expect(after.roles).toEqual([]);
    await inRequest(after, async (c) => expect(await can(c, 'invoice.read')).toBe(false));
  });

  it('refuses a token issued before a grant, and a refresh brings the new role', async () => {
    const u = await newUser('acme');
    const session = await login(u.email);
    await grant(u.id, 'acme', 'support');
    await expect(inRequest(identityOf(session.token), async () => undefined)).rejects.toMatchObject({ code: 'PW332' });
    const refreshed = identityOf((await f.auth.refresh(session.refreshToken)).accessToken);
    await inRequest(refreshed, async (c) => expect(await can(c, 'ticket.read')).toBe(true));
  });

  it('refuses a token issued before its global roles changed in users.roles', async () => {
    const u = await newUser('acme');
    const before = identityOf((await login(u.email)).token);
    await f.sql(`update auth.users set roles = '{support}' where id = $1`, [u.id]);
    await expect(inRequest(before, async () => undefined)).rejects.toMatchObject({ code: 'PW332' });
  });

  it('keeps accepting tokens when a role only changes its permissions', async () => {
    await f.sql(`select auth.rbac_define_role('editors', '{doc.write}')`);
    const u = await newUser('acme');
    await grant(u.id, 'acme', 'editors');
    const identity = identityOf((await login(u.email)).token);
    await f.sql(`select auth.rbac_define_role('editors', '{doc.write,doc.publish}')`);
    await inRequest(identity, async (c) => expect(await can(c, 'doc.publish')).toBe(true));
  });
});

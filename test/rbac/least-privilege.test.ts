import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthFixture, authFixture, goodPassword, uniqueEmail } from '../helpers/auth.js';

// Who may administer RBAC: security_admin; the auditor may list; app_user, anon and the
// authenticator may do neither. Each persona is a SET LOCAL ROLE inside a rolled-back transaction.
let f: AuthFixture;
let userId: string;
beforeAll(async () => {
  f = await authFixture();
  userId = (await f.auth.register({ email: uniqueEmail('lp'), password: goodPassword, tenant: 'acme' })).userId!;
  await f.sql(`select auth.rbac_define_role('seeded', '{seeded.use}')`);
  await f.sql(`select auth.rbac_grant($1, 'acme', 'seeded')`, [userId]);
});
afterAll(async () => {
  await f?.close();
});

/** Runs `fn` as `role` in a transaction that is always rolled back. */
async function as<T>(role: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await f.pool.connect();
  try {
    await client.query('begin');
    await client.query(`set local role ${role}`);
    return await fn(client);
  } finally {
    await client.query('rollback').catch(() => undefined);
    client.release();
  }
}

const changes: Array<[string, string, (client: pg.PoolClient) => Promise<unknown>]> = [
  ['define a role', 'rbac_define_role', (c) => c.query(`select auth.rbac_define_role('x', '{x.y}')`)],
  ['drop a role', 'rbac_drop_role', (c) => c.query(`select auth.rbac_drop_role('seeded')`)],
  ['grant a role', 'rbac_grant', (c) => c.query(`select auth.rbac_grant($1, 'acme', 'seeded')`, [userId])],
  ['revoke a role', 'rbac_revoke', (c) => c.query(`select auth.rbac_revoke($1, 'acme', 'seeded')`, [userId])],
];
const listings: Array<[string, (client: pg.PoolClient) => Promise<unknown>]> = [
  ['list roles', (c) => c.query('select * from auth.rbac_roles()')],
  ['list assignments', (c) => c.query('select * from auth.rbac_assignments()')],
];
// The tables themselves: no persona writes them except through the functions.
const tableWrites: Array<[string, (client: pg.PoolClient) => Promise<unknown>]> = [
  ['insert an assignment', (c) => c.query(`insert into auth.role_assignments values ($1, 'acme', 'seeded')`, [userId])],
  ['add a permission to a role', (c) => c.query(`insert into auth.role_permissions values ('seeded', 'x')`)],
  ['edit users.roles', (c) => c.query(`update auth.users set roles = '{admin}' where id = $1`, [userId])],
];

describe('security_admin', () => {
  it('allows defining, granting, listing, revoking and dropping', async () => {
    await as('pgw_security_admin', async (c) => {
      await c.query(`select auth.rbac_define_role('ops', '{server.restart}', 'operators', 'lp')`);
      expect((await c.query(`select auth.rbac_grant($1, 'acme', 'ops', 'lp') as ok`, [userId])).rows[0].ok).toBe(true);
      const roles = (await c.query('select role, assignments from auth.rbac_roles()')).rows;
      expect(roles).toContainEqual({ role: 'ops', assignments: '1' });
      expect((await c.query('select role from auth.rbac_assignments($1, $2)', [userId, 'acme'])).rows).toEqual([
        { role: 'ops' },
        { role: 'seeded' },
      ]);
      expect((await c.query(`select auth.rbac_revoke($1, 'acme', 'ops', 'lp') as ok`, [userId])).rows[0].ok).toBe(true);
      expect((await c.query(`select auth.rbac_drop_role('ops', 'lp') as ok`)).rows[0].ok).toBe(true);
    });
  });

  it('allows finding a user by e-mail to name them', async () => {
    await as('pgw_security_admin', async (c) => {
      const { rows } = await c.query(`select id from auth.users where lower(email) = lower($1)`, [
        (
          await f.sql<{ email: string }>('select email from auth.users where id = $1', [userId])
        )[0]!.email.toUpperCase(),
      ]);
      expect(rows).toEqual([{ id: userId }]);
    });
  });

  for (const [what, write] of tableWrites) {
    it(`denies security_admin writing the tables directly: ${what}`, async () => {
      await as('pgw_security_admin', async (c) => {
        await expect(write(c)).rejects.toMatchObject({ code: '42501' });
      });
    });
  }
});

describe('auditor', () => {
  for (const [what, list] of listings) {
    it(`allows the auditor to ${what}`, async () => {
      await as('pgw_auditor', async (c) => {
        await expect(list(c)).resolves.toMatchObject({ rowCount: expect.any(Number) });
      });
    });
  }

  for (const [what, , change] of changes) {
    it(`denies the auditor to ${what}`, async () => {
      await as('pgw_auditor', async (c) => {
        await expect(change(c)).rejects.toMatchObject({ code: '42501' });
      });
    });
  }
});

for (const persona of ['pgw_app_user', 'pgw_anon', 'pgw_authenticator']) {
  describe(persona, () => {
    for (const [what, fn, change] of changes) {
      it(`denies ${persona} to ${what} (${fn})`, async () => {
        await as(persona, async (c) => {
          await expect(change(c)).rejects.toMatchObject({ code: '42501' });
        });
      });
    }
    for (const [what, list] of listings) {
      it(`denies ${persona} to ${what}`, async () => {
        await as(persona, async (c) => {
          await expect(list(c)).rejects.toMatchObject({ code: '42501' });
        });
      });
    }
    for (const [what, write] of tableWrites) {
      it(`denies ${persona} to ${what} [R-20]`, async () => {
        await as(persona, async (c) => {
          await expect(write(c)).rejects.toMatchObject({ code: '42501' });
        });
      });
    }
  });
}

it('left the seeded assignment in place: every denied change changed nothing', async () => {
  expect(await f.sql('select role from auth.rbac_assignments($1, null)', [userId])).toEqual([{ role: 'seeded' }]);
  expect(await f.sql(`select role, permissions from auth.rbac_roles()`)).toEqual([
    { role: 'seeded', permissions: ['seeded.use'] },
  ]);
});

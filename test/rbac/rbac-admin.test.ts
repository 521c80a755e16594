import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../../src/db/client.js';
import { ErrorCodes } from '../../src/errors/index.js';
import { databaseUser, RbacAdmin } from '../../src/rbac/index.js';
import { type AuthFixture, authFixture, goodPassword, uniqueEmail } from '../helpers/auth.js';
import { emptyDatabase } from '../helpers/db.js';

// The Node module over the RBAC SQL functions: users by id or e-mail, stable error codes.
let f: AuthFixture;
let rbac: RbacAdmin;
beforeAll(async () => {
  f = await authFixture();
  rbac = new RbacAdmin(f.pool, { actor: 'ops@example.test' });
});
afterAll(async () => {
  await f?.close();
});

let n = 0;
const roleName = (tag: string) => `${tag}_${(n++).toString(36)}`;

async function newUser(tenant = 'acme'): Promise<{ id: string; email: string }> {
  const email = uniqueEmail('admin');
  const { userId } = await f.auth.register({ email, password: goodPassword, tenant });
  return { id: userId!, email };
}

/** Runs `fn` with an RbacAdmin on a connection that has SET ROLE to `role`. */
async function asRole<T>(role: string, fn: (admin: RbacAdmin) => Promise<T>): Promise<T> {
  const client: pg.PoolClient = await f.pool.connect();
  try {
    await client.query(`set role ${role}`);
    return await fn(new RbacAdmin(client, { actor: 'lp' }));
  } finally {
    await client.query('reset role');
    client.release();
  }
}

describe('RbacAdmin.defineRole', () => {
  it('reports a new role and then what a redefinition added and removed', async () => {
    const role = roleName('billing');
    const created = await rbac.defineRole(role, ['invoice.read', 'invoice.write'], { description: 'clerks' });
    expect(created).toEqual({
      role: { role, description: 'clerks', permissions: ['invoice.read', 'invoice.write'], assignments: 0 },
      created: true,
      added: ['invoice.read', 'invoice.write'],
      removed: [],
    });
    const changed = await rbac.defineRole(role, ['invoice.read', 'invoice.void']);
    expect(changed).toMatchObject({
      created: false,
      added: ['invoice.void'],
      removed: ['invoice.write'],
      role: { description: 'clerks' },
    });
  });

  it('refuses a bad role or permission name with PW340', async () => {
    await expect(rbac.defineRole('Not Valid', ['x'])).rejects.toMatchObject({
      code: ErrorCodes.RBAC_INVALID_INPUT,
      sqlState: 'PW340',
    });
    await expect(rbac.defineRole(roleName('ok'), ['UPPER'])).rejects.toMatchObject({
      code: ErrorCodes.RBAC_INVALID_INPUT,
    });
  });

  it('refuses a description over 500 characters with PW340 before asking the database', async () => {
    await expect(rbac.defineRole(roleName('long'), ['x'], { description: 'd'.repeat(501) })).rejects.toMatchObject({
      code: ErrorCodes.RBAC_INVALID_INPUT,
      sqlState: undefined,
    });
  });
});

describe('RbacAdmin.grant and revoke', () => {
  it('names users by id or by e-mail in any case', async () => {
    const role = roleName('viewer');
    await rbac.defineRole(role, ['report.read']);
    const u = await newUser();
    const first = await rbac.grant(u.email.toUpperCase(), role, 'acme');
    expect(first).toEqual({
      user: { userId: u.id, email: u.email, tenant: 'acme' },
      tenant: 'acme',
      role,
      changed: true,
    });
    expect((await rbac.grant(u.id, role, 'acme')).changed).toBe(false);
    expect((await rbac.revoke(u.email, role, 'acme')).changed).toBe(true);
    expect((await rbac.revoke(u.id.toUpperCase(), role, 'acme')).changed).toBe(false);
  });

  it('records the actor in granted_by and in the events', async () => {
    const role = roleName('audited');
    await rbac.defineRole(role, ['x.y']);
    const u = await newUser();
    await rbac.grant(u.id, role, 'acme');
    const [assignment] = await rbac.assignments({ user: u.id });
    expect(assignment).toMatchObject({
      userId: u.id,
      email: u.email,
      tenant: 'acme',
      role,
      grantedBy: 'ops@example.test',
    });
    expect(assignment!.grantedAt).toBeInstanceOf(Date);
    const events = await f.sql(
      `select event_type, actor from logs.notification_log
        where event_type = 'rbac.role_granted' and subject = $1`,
      [u.id],
    );
    expect(events).toEqual([{ event_type: 'rbac.role_granted', actor: 'ops@example.test' }]);
  });

  it('refuses an unknown e-mail or id with PW309 and grants nothing', async () => {
    const role = roleName('nobody');
    await rbac.defineRole(role, ['x.y']);
    for (const ghost of [uniqueEmail('ghost'), '00000000-0000-4000-8000-00000000beef']) {
      await expect(rbac.grant(ghost, role, 'acme')).rejects.toMatchObject({ code: ErrorCodes.AUTH_USER_NOT_FOUND });
      await expect(rbac.revoke(ghost, role, 'acme')).rejects.toMatchObject({ code: ErrorCodes.AUTH_USER_NOT_FOUND });
    }
    expect((await rbac.roles()).find((r) => r.role === role)!.assignments).toBe(0);
  });

  it('refuses an unknown role with PW341 and a bad tenant with PW340', async () => {
    const u = await newUser();
    const err = await rbac.grant(u.id, 'no_such_role', 'acme').catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: ErrorCodes.RBAC_NO_SUCH_ROLE,
      sqlState: 'PW341',
      message: 'no role named no_such_role',
    });
    expect((err as { hint: string }).hint).toContain('pgwarden rbac role define');
    const role = roleName('tenanted');
    await rbac.defineRole(role, ['x.y']);
    await expect(rbac.grant(u.id, role, 'not a tenant')).rejects.toMatchObject({ code: ErrorCodes.RBAC_INVALID_INPUT });
  });
});

describe('RbacAdmin listing', () => {
  it('lists roles with permissions and assignment counts, and assignments by user and tenant', async () => {
    const role = roleName('listed');
    await rbac.defineRole(role, ['b.read', 'a.read']);
    const [u, v] = [await newUser(), await newUser()];
    await rbac.grant(u.id, role, 'acme');
    await rbac.grant(v.id, role, 'acme');
    await rbac.grant(u.id, role, 'globex');
    expect((await rbac.roles()).find((r) => r.role === role)).toEqual({
      role,
      description: null,
      permissions: ['a.read', 'b.read'],
      assignments: 3,
    });
    const ofU = await rbac.assignments({ user: u.email });
    expect(ofU.map((a) => [a.tenant, a.role])).toEqual([
      ['acme', role],
      ['globex', role],
    ]);
    const inGlobex = (await rbac.assignments({ tenant: 'globex' })).filter((a) => a.role === role);
    expect(inGlobex.map((a) => a.userId)).toEqual([u.id]);
    expect(await rbac.assignments({ user: v.id, tenant: 'globex' })).toEqual([]);
  });

  it('drops a role: true once, then false', async () => {
    const role = roleName('dropped');
    await rbac.defineRole(role, ['x.y']);
    expect(await rbac.dropRole(role)).toBe(true);
    expect(await rbac.dropRole(role)).toBe(false);
  });
});

describe('RbacAdmin as other database roles', () => {
  it('allows the auditor to list and denies it every change with PW342', async () => {
    const role = roleName('auditor_sees');
    await rbac.defineRole(role, ['x.y']);
    const u = await newUser();
    await asRole('pgw_auditor', async (auditor) => {
      expect((await auditor.roles()).map((r) => r.role)).toContain(role);
      await expect(auditor.assignments({ user: u.email })).resolves.toEqual([]);
      for (const change of [
        () => auditor.defineRole(role, []),
        () => auditor.dropRole(role),
        () => auditor.grant(u.id, role, 'acme'),
        () => auditor.revoke(u.id, role, 'acme'),
      ]) {
        const err = await change().catch((e: unknown) => e);
        expect(err).toMatchObject({ code: ErrorCodes.RBAC_NOT_PERMITTED, sqlState: '42501' });
        expect((err as { hint: string }).hint).toContain('pgw_security_admin');
      }
    });
  });

  it('allows security_admin every operation, naming users by e-mail', async () => {
    const role = roleName('by_admin');
    const u = await newUser();
    await asRole('pgw_security_admin', async (admin) => {
      await admin.defineRole(role, ['x.y']);
      expect((await admin.grant(u.email, role, 'acme')).changed).toBe(true);
      expect(await admin.assignments({ user: u.email })).toHaveLength(1);
      expect((await admin.revoke(u.email, role, 'acme')).changed).toBe(true);
      expect(await admin.dropRole(role)).toBe(true);
    });
  });

  it('says RBAC is not installed, with PW314, in a database without pgwarden', async () => {
    await withClient(await emptyDatabase(), async (client) => {
      await expect(new RbacAdmin(client).roles()).rejects.toMatchObject({ code: ErrorCodes.AUTH_NOT_INSTALLED });
    });
  });

  it('says who the connection logged in as', async () => {
    expect(await databaseUser(f.pool)).toBe(f.db.user);
  });
});

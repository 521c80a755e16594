import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthFixture, authFixture, goodPassword, uniqueEmail } from '../helpers/auth.js';

// The RBAC SQL functions of sql/auth/0009_rbac.sql, called as the superuser of a fresh clone;
// who else may call them is least-privilege.test.ts.
let f: AuthFixture;
beforeAll(async () => {
  f = await authFixture();
});
afterAll(async () => {
  await f?.close();
});

let n = 0;
/** A role name no other test in this file uses. */
const roleName = (tag: string) => `${tag}_${(n++).toString(36)}`;

const newUser = async (tenant = 'acme'): Promise<string> =>
  (await f.auth.register({ email: uniqueEmail('rbac'), password: goodPassword, tenant })).userId!;

const define = (role: string, permissions: string[] | null, description: string | null = null, actor = 'tester') =>
  f.sql('select auth.rbac_define_role($1, $2, $3, $4)', [role, permissions, description, actor]);
const grant = async (userId: string, tenant: string, role: string, actor = 'tester') =>
  (await f.sql<{ ok: boolean }>('select auth.rbac_grant($1, $2, $3, $4) as ok', [userId, tenant, role, actor]))[0]!.ok;
const revoke = async (userId: string, tenant: string, role: string, actor = 'tester') =>
  (await f.sql<{ ok: boolean }>('select auth.rbac_revoke($1, $2, $3, $4) as ok', [userId, tenant, role, actor]))[0]!.ok;
const roleRow = async (role: string) =>
  (
    await f.sql<{ role: string; description: string | null; permissions: string[]; assignments: string }>(
      'select * from auth.rbac_roles() where role = $1',
      [role],
    )
  )[0];
const version = async (userId: string) =>
  Number((await f.sql<{ v: string }>('select authz_version as v from auth.users where id = $1', [userId]))[0]!.v);

interface EventRow {
  event_type: string;
  actor: string | null;
  subject: string | null;
  tenant: string | null;
  db_user: string | null;
  details: Record<string, unknown>;
}
const lastEventId = async () =>
  Number((await f.sql<{ id: string }>('select coalesce(max(id), 0) as id from logs.notification_log'))[0]!.id);
const eventsSince = (id: number) =>
  f.sql<EventRow>(
    `select event_type, actor, subject, tenant, db_user, details from logs.notification_log
      where id > $1 and event_type like 'rbac.%' order by id`,
    [id],
  );

describe('auth.rbac_define_role', () => {
  it('creates a role and the permissions it names', async () => {
    const role = roleName('billing');
    await define(role, ['invoice.read', 'invoice.write', 'invoice.read'], 'billing clerks');
    expect(await roleRow(role)).toEqual({
      role,
      description: 'billing clerks',
      permissions: ['invoice.read', 'invoice.write'],
      assignments: '0',
    });
    const perms = await f.sql(`select name from auth.permissions where name in ('invoice.read', 'invoice.write')`);
    expect(perms).toHaveLength(2);
  });

  it('replaces the permission set of an existing role and keeps its description when none is given', async () => {
    const role = roleName('support');
    await define(role, ['ticket.read', 'ticket.write'], 'support desk');
    await define(role, ['ticket.read', 'ticket:close']);
    expect(await roleRow(role)).toMatchObject({
      description: 'support desk',
      permissions: ['ticket.read', 'ticket:close'],
    });
    await define(role, null);
    expect((await roleRow(role))!.permissions).toEqual([]);
  });

  it('refuses role names that are not 1-63 of a-z 0-9 _ . : - starting with a letter, with PW340', async () => {
    for (const bad of ['', 'Admin', '1st', 'has space', 'semi;colon', 'x'.repeat(64), null]) {
      await expect(define(bad as string, ['p'])).rejects.toMatchObject({ code: 'PW340' });
    }
    await expect(define('x'.repeat(63), ['p'])).resolves.toBeDefined();
  });

  it('refuses bad permission names with PW340 and changes nothing', async () => {
    const role = roleName('strict');
    await define(role, ['good.one']);
    for (const bad of [['good.one', 'Bad'], ['ok', ''], ['ok', null], ['x'.repeat(128)]]) {
      await expect(define(role, bad as string[])).rejects.toMatchObject({ code: 'PW340' });
    }
    expect((await roleRow(role))!.permissions).toEqual(['good.one']);
  });

  it('writes rbac.role_defined with the actor and the permissions before and after', async () => {
    const role = roleName('events');
    const since = await lastEventId();
    await define(role, ['a.read']);
    await define(role, ['b.read', 'a.read', 'b.read'], null, 'ops@example.test');
    const events = await eventsSince(since);
    expect(events.map((e) => e.event_type)).toEqual(['rbac.role_defined', 'rbac.role_defined']);
    expect(events[0]!.details).toEqual({ role, before: [], after: ['a.read'] });
    expect(events[1]).toMatchObject({
      actor: 'ops@example.test',
      db_user: f.db.user,
      details: { role, before: ['a.read'], after: ['a.read', 'b.read'] },
    });
  });
});

describe('auth.rbac_drop_role', () => {
  it('drops a role with its permissions and assignments, true once and then false', async () => {
    const role = roleName('temp');
    await define(role, ['temp.use']);
    const user = await newUser();
    await grant(user, 'acme', role);
    const since = await lastEventId();
    expect((await f.sql<{ ok: boolean }>('select auth.rbac_drop_role($1, $2) as ok', [role, 'tester']))[0]!.ok).toBe(
      true,
    );
    expect((await f.sql<{ ok: boolean }>('select auth.rbac_drop_role($1, $2) as ok', [role, 'tester']))[0]!.ok).toBe(
      false,
    );
    expect(await roleRow(role)).toBeUndefined();
    expect(await f.sql('select 1 from auth.role_permissions where role = $1', [role])).toHaveLength(0);
    expect(await f.sql('select 1 from auth.role_assignments where role = $1', [role])).toHaveLength(0);
    const events = await eventsSince(since);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ event_type: 'rbac.role_dropped', actor: 'tester', details: { role } });
  });
});

describe('auth.rbac_grant and auth.rbac_revoke', () => {
  it('grant is idempotent: true when it gives the role, false when the user already held it', async () => {
    const role = roleName('viewer');
    await define(role, ['report.read']);
    const user = await newUser();
    expect(await grant(user, 'acme', role)).toBe(true);
    expect(await grant(user, 'acme', role)).toBe(false);
    expect(await grant(user, 'other-tenant', role)).toBe(true);
    expect((await roleRow(role))!.assignments).toBe('2');
    const rows = await f.sql('select tenant, role, granted_by from auth.rbac_assignments($1, null)', [user]);
    expect(rows).toEqual([
      { tenant: 'acme', role, granted_by: 'tester' },
      { tenant: 'other-tenant', role, granted_by: 'tester' },
    ]);
  });

  it('revoke is idempotent: true when it takes the role, false when the user did not hold it', async () => {
    const role = roleName('editor');
    await define(role, ['doc.write']);
    const user = await newUser();
    await grant(user, 'acme', role);
    expect(await revoke(user, 'acme', role)).toBe(true);
    expect(await revoke(user, 'acme', role)).toBe(false);
    expect(await revoke(user, 'never-held', role)).toBe(false);
    expect(await f.sql('select * from auth.rbac_assignments($1, null)', [user])).toHaveLength(0);
  });

  it('refuses an unknown role with PW341', async () => {
    const user = await newUser();
    await expect(grant(user, 'acme', 'no_such_role_here')).rejects.toMatchObject({ code: 'PW341' });
  });

  it('refuses an unknown user with PW309', async () => {
    const role = roleName('known');
    await define(role, ['x.y']);
    await expect(grant('00000000-0000-4000-8000-00000000dead', 'acme', role)).rejects.toMatchObject({ code: 'PW309' });
  });

  it('refuses a tenant that is not 1-64 of A-Z a-z 0-9 _ . : - with PW340', async () => {
    const role = roleName('tenantcheck');
    await define(role, ['x.y']);
    const user = await newUser();
    for (const bad of ['', '-lead', 'has space', 't'.repeat(65), null]) {
      await expect(grant(user, bad as string, role)).rejects.toMatchObject({ code: 'PW340' });
    }
  });

  it('writes one event per change, none for a change that did nothing', async () => {
    const role = roleName('audited');
    await define(role, ['x.y']);
    const user = await newUser();
    const since = await lastEventId();
    await grant(user, 'acme', role, 'ops@example.test');
    await grant(user, 'acme', role, 'ops@example.test');
    await revoke(user, 'acme', role, 'ops@example.test');
    await revoke(user, 'acme', role, 'ops@example.test');
    const events = await eventsSince(since);
    expect(events.map((e) => e.event_type)).toEqual(['rbac.role_granted', 'rbac.role_revoked']);
    for (const e of events) {
      expect(e).toMatchObject({
        actor: 'ops@example.test',
        subject: user,
        tenant: 'acme',
        db_user: f.db.user,
        details: { role },
      });
    }
  });
});

describe('users.authz_version', () => {
  it('is bumped by a grant and a revoke, and not by a grant that changed nothing', async () => {
    const role = roleName('stamped');
    await define(role, ['x.y']);
    const user = await newUser();
    const v0 = await version(user);
    await grant(user, 'acme', role);
    expect(await version(user)).toBe(v0 + 1);
    await grant(user, 'acme', role);
    await revoke(user, 'other', role);
    expect(await version(user)).toBe(v0 + 1);
    await revoke(user, 'acme', role);
    expect(await version(user)).toBe(v0 + 2);
  });

  it('is bumped when the global roles in users.roles change, and not by other profile edits', async () => {
    const user = await newUser();
    const v0 = await version(user);
    await f.sql(`update auth.users set display_name = 'Ada' where id = $1`, [user]);
    expect(await version(user)).toBe(v0);
    await f.sql(`update auth.users set roles = '{admin}' where id = $1`, [user]);
    expect(await version(user)).toBe(v0 + 1);
    await f.sql(`update auth.users set roles = '{admin}' where id = $1`, [user]);
    expect(await version(user)).toBe(v0 + 1);
  });

  it('is bumped for every holder when dropping a role removes their assignments', async () => {
    const role = roleName('cascade');
    await define(role, ['x.y']);
    const [a, b, bystander] = [await newUser(), await newUser(), await newUser()];
    await grant(a, 'acme', role);
    await grant(b, 'acme', role);
    const before = { a: await version(a), b: await version(b), bystander: await version(bystander) };
    await f.sql('select auth.rbac_drop_role($1)', [role]);
    expect(await version(a)).toBe(before.a + 1);
    expect(await version(b)).toBe(before.b + 1);
    expect(await version(bystander)).toBe(before.bystander);
  });
});

describe('moving a user to another tenant', () => {
  it("ends the user's sessions, so no refresh carries the old tenant and its roles on", async () => {
    const role = roleName('mover');
    await define(role, ['x.y']);
    const user = await newUser();
    await grant(user, 'acme', role);
    await f.sql(
      `insert into auth.sessions (user_id, tenant, created_at, last_seen_at, idle_expires_at, absolute_expires_at, aal)
       values ($1, 'acme', now(), now(), now() + interval '1 hour', now() + interval '1 day', 'aal1')`,
      [user],
    );
    await f.sql(`update auth.users set tenant = 'globex' where id = $1`, [user]);
    const open = await f.sql<{ n: number }>(
      'select count(*)::int n from auth.sessions where user_id = $1 and revoked_at is null',
      [user],
    );
    expect(open[0]!.n).toBe(0);
    const ended = await f.sql<{ revoked_reason: string }>(
      'select revoked_reason from auth.sessions where user_id = $1',
      [user],
    );
    expect(ended.map((r) => r.revoked_reason)).toEqual(['tenant_changed']);
  });
});

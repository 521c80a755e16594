import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRls, planRls } from '../../src/rls/index.js';
import { testIdentity } from '../helpers/context.js';
import { type RlsFixture, rlsFixture, userA } from './fixture.js';

// Tenant columns of every supported type, compared with a cast of auth.tenant_id() to the
// column's type; and owner columns, which confine rows to one user inside the tenant.
let f: RlsFixture;
const all = ['select', 'insert', 'update', 'delete'] as const;
const types = {
  t_text: 'text',
  t_varchar: 'varchar(4)',
  t_bigint: 'bigint',
  t_integer: 'integer',
  t_smallint: 'smallint',
  t_domain: 'app.tenant_code',
} as const;
const otherUser = '00000000-0000-4000-8000-0000000000a9';

beforeAll(async () => {
  f = await rlsFixture({ tenants: { a: '42', b: '43' } });
  await f.sql(`create domain app.tenant_code as text check (value ~ '^[0-9]+$')`);
  for (const [table, type] of Object.entries(types)) {
    await f.sql(`create table app.${table} (tenant_id ${type} not null, note text)`);
    await f.sql(`insert into app.${table} values ('42', 'a1'), ('42', 'a2'), ('43', 'b1')`);
  }
  await f.sql(`create table app.notes (tenant_id bigint not null, author uuid not null, body text)`);
  await f.sql(`insert into app.notes values (42, $1, 'mine'), (42, $2, 'a colleague'), (43, $3, 'other tenant')`, [
    userA,
    otherUser,
    '00000000-0000-4000-8000-0000000000b1',
  ]);
  await f.sql(`create table app.drafts (tenant_id text not null, author_sub text not null, body text)`);
  await f.sql(`insert into app.drafts values ('42', $1, 'mine'), ('42', 'someone-else', 'theirs')`, [userA]);
  await applyRls(f.admin, {
    tables: [
      ...Object.keys(types).map((t) => ({ table: `app.${t}`, tenantColumn: 'tenant_id', grant: all })),
      { table: 'app.notes', tenantColumn: 'tenant_id', ownerColumn: 'author', grant: all },
      { table: 'app.drafts', tenantColumn: 'tenant_id', ownerColumn: 'author_sub', grant: all },
    ],
  });
});
afterAll(async () => {
  await f?.close();
});

describe.each(Object.entries(types))('a tenant column of type %s', (table, type) => {
  it(`allows tenant A its own rows of app.${table} (${type}) and none of tenant B`, async () => {
    await f.as('tenant-a', async (c) => {
      expect((await c.query(`select note from app.${table} order by note`)).rows).toEqual([
        { note: 'a1' },
        { note: 'a2' },
      ]);
      expect((await c.query(`insert into app.${table} values ('42', 'a3')`)).rowCount).toBe(1);
    });
  });

  it(`denies tenant A a row of tenant B in app.${table} (${type}) [R-09]`, async () => {
    await f.as('tenant-a', (c) =>
      expect(c.query(`insert into app.${table} values ('43', 'x')`)).rejects.toMatchObject({ code: '42501' }),
    );
  });

  it(`compares app.${table} with a cast, so the tenant index is used`, async () => {
    const plan = await planRls(f.admin, { tables: [{ table: `app.${table}`, tenantColumn: 'tenant_id' }] });
    expect(plan.steps).toEqual([]);
    const [row] = await f.sql<{ using: string }>(
      `select pg_get_expr(polqual, polrelid) as using from pg_policy where polrelid = $1::regclass and polname = 'pgw_tenant_select'`,
      [`app.${table}`],
    );
    expect(row!.using).toContain('SELECT auth.tenant_id()');
  });
});

describe('tenant values that do not fit the column', () => {
  it('does not truncate a long tenant into a varchar(4) tenant', async () => {
    await f.sql(`insert into app.t_varchar values ('4200', 'short')`);
    await f.as(testIdentity({ tenant: '4200000', roles: [] }), async (c) => {
      expect((await c.query('select note from app.t_varchar')).rows).toEqual([]);
    });
  });

  it('fails closed (22P02) when the tenant does not parse as the column type', async () => {
    await f.as(testIdentity({ tenant: 'acme', roles: [] }), (c) =>
      expect(c.query('select * from app.t_bigint')).rejects.toMatchObject({ code: '22P02' }),
    );
  });
});

describe('an owner column', () => {
  it('allows a user only its own rows inside its tenant (uuid owner, auth.uid())', async () => {
    await f.as('tenant-a', async (c) => {
      expect((await c.query('select body from app.notes')).rows).toEqual([{ body: 'mine' }]);
    });
  });

  it('denies writing a row owned by a colleague of the same tenant', async () => {
    await f.as('tenant-a', async (c) => {
      await expect(c.query(`insert into app.notes values (42, $1, 'forged')`, [otherUser])).rejects.toMatchObject({
        code: '42501',
      });
    });
    await f.as('tenant-a', async (c) => {
      expect((await c.query(`update app.notes set body = 'x' where author = $1`, [otherUser])).rowCount).toBe(0);
      await expect(c.query(`update app.notes set author = $1`, [otherUser])).rejects.toMatchObject({
        code: '42501',
      });
    });
  });

  it('compares a text owner column with auth.sub()', async () => {
    await f.as('tenant-a', async (c) => {
      expect((await c.query('select body from app.drafts')).rows).toEqual([{ body: 'mine' }]);
    });
    const [row] = await f.sql<{ using: string }>(
      `select pg_get_expr(polqual, polrelid) as using from pg_policy where polrelid = 'app.drafts'::regclass and polname = 'pgw_tenant_select'`,
    );
    expect(row!.using).toContain('auth.sub()');
  });
});

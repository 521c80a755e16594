import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRls } from '../../src/rls/index.js';
import {
  copyIn,
  copyOut,
  type Persona,
  projectA,
  type RlsFixture,
  rlsFixture,
  tenantA,
  tenantB,
  uniqueRole,
} from './fixture.js';

// The demo schema protected by the toolkit, then probed as every persona: allow/deny pairs per
// command, cross-tenant writes, upsert and MERGE, table-wide privileges, COPY, the owner.
let f: RlsFixture;
let owner: string;
let idsB: string[];
let idsA: string[];

beforeAll(async () => {
  f = await rlsFixture();
  owner = uniqueRole('rls_owner');
  await f.sql(`create role ${owner} nologin`);
  await f.sql(`grant usage on schema app to ${owner}`);
  await f.sql(`alter table app.invoices owner to ${owner}`);
  await f.sql(`alter table app.projects owner to ${owner}`);
  // Privileges a careless setup hands out; the toolkit must take the table-wide ones back.
  await f.sql(`grant truncate, references, trigger on app.invoices to pgw_app_user, pgw_anon`);
  await f.sql(`grant truncate on app.invoices to public`);
  // anon may touch the tables, so what denies it below is row-level security, not a missing grant.
  await f.sql(`grant usage on schema app to pgw_anon`);
  await f.sql(`grant select, insert, update, delete on app.invoices, app.projects to pgw_anon`);
  const all = ['select', 'insert', 'update', 'delete'] as const;
  await applyRls(f.admin, {
    tables: [
      {
        table: 'app.invoices',
        tenantColumn: 'tenant_id',
        permission: { read: 'invoices.read', write: 'invoices.write' },
        grant: all,
      },
      { table: 'app.projects', tenantColumn: 'tenant_id', grant: all },
    ],
  });
  const ids = async (tenant: string) =>
    (await f.sql<{ id: string }>('select id from app.invoices where tenant_id = $1 order by id', [tenant])).map(
      (r) => r.id,
    );
  [idsA, idsB] = [await ids(tenantA), await ids(tenantB)];
});
afterAll(async () => {
  await f?.close();
});

const count = async (c: { query: (s: string) => Promise<{ rows: Array<{ n: number }> }> }, where = 'true') =>
  (await c.query(`select count(*)::int as n from app.invoices where ${where}`)).rows[0]!.n;

const insertInvoice = (tenant: string, number: string) =>
  `insert into app.invoices (tenant_id, project_id, number, amount_cents)
   values ('${tenant}', '${projectA}', '${number}', 100)`;

describe('SELECT on a protected table [R-01]', () => {
  it.each<[Persona, number]>([
    ['tenant-a', 25],
    ['admin', 25],
  ])('allows %s to read the rows of its own tenant only', async (who, n) => {
    await f.as(who, async (c) => {
      expect(await count(c)).toBe(n);
      expect(await count(c, `tenant_id = '${tenantB}'`)).toBe(0);
    });
  });

  it('allows tenant B to read its rows and none of tenant A', async () => {
    await f.as('tenant-b', async (c) => {
      expect(await count(c)).toBe(25);
      expect(await count(c, `tenant_id = '${tenantA}'`)).toBe(0);
    });
  });

  it.each<Persona>(['no-context', 'anon'])('denies %s every row', async (who) => {
    await f.as(who, async (c) => expect(await count(c)).toBe(0));
  });

  it('denies a tenant without the read permission on a table that requires it', async () => {
    await f.sql(`select auth.rbac_define_role('member', array[]::text[])`);
    try {
      await f.as('tenant-a', async (c) => expect(await count(c)).toBe(0));
    } finally {
      await f.sql(`select auth.rbac_define_role('member', array['invoices.read'])`);
    }
  });

  it('errors instead of returning every row when a request role sets row_security = off [R-14]', async () => {
    await f.as('tenant-a', async (c) => {
      await c.query('set local row_security = off');
      await expect(c.query('select * from app.invoices')).rejects.toMatchObject({
        code: '42501',
        message: expect.stringContaining('row-level security'),
      });
    });
  });

  it('evaluates the helpers once per statement (InitPlan) and uses the tenant index', async () => {
    await f.as('tenant-a', async (c) => {
      await c.query('set local enable_seqscan = off');
      const plan = (await c.query<{ 'QUERY PLAN': string }>('explain (costs off) select * from app.invoices')).rows
        .map((r) => r['QUERY PLAN'])
        .join('\n');
      expect(plan).toContain('InitPlan');
      expect(plan).toMatch(/Index Cond: \(tenant_id = /);
    });
  });
});

describe('INSERT on a protected table [R-01] [R-09]', () => {
  it('allows the admin to insert a row of its own tenant', async () => {
    await f.as('admin', async (c) => expect((await c.query(insertInvoice(tenantA, 'NEW-1'))).rowCount).toBe(1));
  });

  it('denies the admin a row carrying tenant B (42501) [R-09]', async () => {
    await f.as('admin', (c) =>
      expect(c.query(insertInvoice(tenantB, 'NEW-2'))).rejects.toMatchObject({
        code: '42501',
        message: expect.stringContaining('row-level security'),
      }),
    );
  });

  it.each<Persona>(['tenant-a', 'tenant-b', 'no-context', 'anon'])(
    'denies %s an insert without the write permission',
    async (who) => {
      await f.as(who, (c) => expect(c.query(insertInvoice(tenantA, 'NEW-3'))).rejects.toMatchObject({ code: '42501' }));
    },
  );
});

describe('UPDATE on a protected table [R-01] [R-09]', () => {
  it('allows the admin to update the rows of its own tenant', async () => {
    await f.as('admin', async (c) => {
      expect((await c.query('update app.invoices set amount_cents = 1')).rowCount).toBe(25);
    });
  });

  it('updates none of the rows of tenant B for the admin [R-09]', async () => {
    await f.as('admin', async (c) => {
      expect((await c.query(`update app.invoices set amount_cents = 1 where tenant_id = $1`, [tenantB])).rowCount).toBe(
        0,
      );
    });
  });

  it('rejects moving a row to another tenant (WITH CHECK) [R-09]', async () => {
    await f.as('admin', (c) =>
      expect(c.query(`update app.invoices set tenant_id = $1 where id = $2`, [tenantB, idsA[0]])).rejects.toMatchObject(
        { code: '42501' },
      ),
    );
  });

  it.each<Persona>(['tenant-a', 'tenant-b', 'no-context', 'anon'])('updates nothing for %s', async (who) => {
    await f.as(who, async (c) => expect((await c.query('update app.invoices set amount_cents = 1')).rowCount).toBe(0));
  });
});

describe('DELETE on a protected table [R-01] [R-09]', () => {
  it('allows the admin to delete a row of its own tenant', async () => {
    await f.as('admin', async (c) => {
      expect((await c.query('delete from app.invoices where id = $1', [idsA[0]])).rowCount).toBe(1);
    });
  });

  it('deletes none of the rows of tenant B for the admin [R-09]', async () => {
    await f.as('admin', async (c) => {
      expect((await c.query('delete from app.invoices where tenant_id = $1', [tenantB])).rowCount).toBe(0);
    });
  });

  it.each<Persona>(['tenant-a', 'tenant-b', 'no-context', 'anon'])('deletes nothing for %s', async (who) => {
    await f.as(who, async (c) => expect((await c.query('delete from app.invoices')).rowCount).toBe(0));
  });
});

describe('upsert and MERGE across tenants [R-10]', () => {
  const upsert = (id: string) =>
    `insert into app.invoices (id, tenant_id, project_id, number, amount_cents)
     values ('${id}', '${tenantA}', '${projectA}', 'UPSERT-1', 1)
     on conflict (id) do update set amount_cents = 0`;

  it('allows an upsert that hits a row of its own tenant', async () => {
    await f.as('admin', async (c) => expect((await c.query(upsert(idsA[0]!))).rowCount).toBe(1));
  });

  it('refuses INSERT … ON CONFLICT DO UPDATE that hits an id of tenant B, overwriting nothing', async () => {
    await f.as('admin', (c) => expect(c.query(upsert(idsB[0]!))).rejects.toMatchObject({ code: '42501' }));
    const [row] = await f.sql<{ amount_cents: string }>('select amount_cents from app.invoices where id = $1', [
      idsB[0],
    ]);
    expect(Number(row!.amount_cents)).toBeGreaterThan(0);
  });

  it('changes none of the rows of tenant B with MERGE, and its own with the same statement', async () => {
    const merge = `merge into app.invoices t using (select pg_catalog.unnest($1::uuid[]) as id) s on t.id = s.id
                   when matched then update set amount_cents = 0`;
    await f.as('admin', async (c) => {
      expect((await c.query(merge, [idsB])).rowCount).toBe(0);
      expect((await c.query(merge, [idsA])).rowCount).toBe(25);
    });
    await f.as('admin', async (c) => {
      const del = `merge into app.invoices t using (select pg_catalog.unnest($1::uuid[]) as id) s on t.id = s.id
                   when matched then delete`;
      expect((await c.query(del, [idsB])).rowCount).toBe(0);
    });
    expect(await f.sql(`select 1 from app.invoices where tenant_id = $1 and amount_cents = 0`, [tenantB])).toEqual([]);
  });
});

describe('table-wide privileges [R-12]', () => {
  it('leaves request roles no TRUNCATE, REFERENCES or TRIGGER, even through PUBLIC', async () => {
    const rows = await f.sql<{ role: string; privilege: string; held: boolean }>(
      `select r as role, p as privilege, has_table_privilege(r, 'app.invoices', p) as held
         from unnest(array['pgw_app_user', 'pgw_anon']) r, unnest(array['TRUNCATE', 'REFERENCES', 'TRIGGER']) p`,
    );
    expect(rows.filter((r) => r.held)).toEqual([]);
  });

  it('denies TRUNCATE, which row-level security would not stop', async () => {
    await f.as('admin', (c) => expect(c.query('truncate app.invoices')).rejects.toMatchObject({ code: '42501' }));
  });
});

describe('COPY [R-13]', () => {
  it('copies out only the rows of tenant A for tenant A', async () => {
    await f.as('tenant-a', async (c) => {
      for (const sql of ['copy app.invoices to stdout', 'copy (select * from app.invoices) to stdout']) {
        const lines = (await copyOut(c, sql)).trim().split('\n');
        expect(lines).toHaveLength(25);
        expect(lines.every((l) => l.includes(tenantA) && !l.includes(tenantB))).toBe(true);
      }
    });
  });

  it('refuses COPY FROM carrying rows of tenant B, inserting none', async () => {
    const before = await f.sql<{ n: number }>('select count(*)::int as n from app.invoices where tenant_id = $1', [
      tenantB,
    ]);
    const row = ['00000000-0000-4000-8000-00000000c0b1', tenantB, projectA, 'COPY-1', '5'].join('\t');
    await f.as('admin', async (c) => {
      // Released servers refuse COPY FROM under row-level security (0A000); a server that applies
      // the INSERT policies to COPY refuses the row (42501). Either way nothing of B's is written.
      const error = await copyIn(
        c,
        'copy app.invoices (id, tenant_id, project_id, number, amount_cents) from stdin',
        `${row}\n`,
      ).then(
        () => undefined,
        (err: { code?: string }) => err,
      );
      expect(['0A000', '42501']).toContain(error?.code);
    });
    const after = await f.sql<{ n: number }>('select count(*)::int as n from app.invoices where tenant_id = $1', [
      tenantB,
    ]);
    expect(after).toEqual(before);
  });
});

describe('the table owner [R-04]', () => {
  it('sees and writes no row once FORCE ROW LEVEL SECURITY is on', async () => {
    await f.sql('begin');
    try {
      await f.sql(`set local role ${owner}`);
      expect((await f.sql<{ n: number }>('select count(*)::int as n from app.invoices'))[0]!.n).toBe(0);
      await expect(f.sql(insertInvoice(tenantA, 'OWNER-1'))).rejects.toMatchObject({ code: '42501' });
    } finally {
      await f.sql('rollback');
    }
  });

  it('would see the rows of every tenant without FORCE (the bypass FORCE closes)', async () => {
    await f.sql('begin');
    try {
      await f.sql('alter table app.invoices no force row level security');
      await f.sql(`set local role ${owner}`);
      expect((await f.sql<{ n: number }>('select count(*)::int as n from app.invoices'))[0]!.n).toBe(50);
    } finally {
      await f.sql('rollback');
    }
  });
});

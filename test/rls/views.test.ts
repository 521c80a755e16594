import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRls, invokerViewSql, planRls, rlsStatus } from '../../src/rls/index.js';
import { type RlsFixture, rlsFixture, tenantA, tenantB } from './fixture.js';

// A view runs with its owner's rights unless it is security_invoker (PostgreSQL 15+): over a
// protected table, an ordinary view owned by a superuser hands every tenant every row.
let f: RlsFixture;

beforeAll(async () => {
  f = await rlsFixture();
  await applyRls(f.admin, {
    tables: [{ table: 'app.invoices', tenantColumn: 'tenant_id', permission: 'invoices.read', grant: ['select'] }],
  });
  const totals = `select tenant_id, count(*)::int as n from app.invoices group by tenant_id`;
  await f.sql(`create view app.invoice_totals as ${totals}`);
  await f.sql(`create view app.invoice_totals_outer as select * from app.invoice_totals`);
  await f.sql(`create view app.invoice_totals_safe with (security_invoker = true) as ${totals}`);
  await f.sql(`create materialized view app.invoice_totals_snapshot as ${totals}`);
  await f.sql(`grant select on app.invoice_totals, app.invoice_totals_outer, app.invoice_totals_safe to pgw_app_user`);
});
afterAll(async () => {
  await f?.close();
});

const totals = (view: string) =>
  f.as('tenant-a', async (c) => (await c.query(`select tenant_id, n from ${view} order by tenant_id`)).rows);

describe('views over a protected table', () => {
  it('leaks every tenant through a view without security_invoker (the pitfall)', async () => {
    expect(await totals('app.invoice_totals')).toEqual([
      { tenant_id: tenantA, n: 25 },
      { tenant_id: tenantB, n: 25 },
    ]);
  });

  it('confines tenant A to its rows through a security_invoker view', async () => {
    expect(await totals('app.invoice_totals_safe')).toEqual([{ tenant_id: tenantA, n: 25 }]);
  });

  it('flags the leaking views, nested ones too, and the materialized view in status', async () => {
    const status = await rlsStatus(f.admin, { schemas: ['app'] });
    const byView = Object.fromEntries(
      status.findings.filter((x) => x.object.includes('totals')).map((x) => [x.object, x]),
    );
    expect(byView['app.invoice_totals']).toMatchObject({ kind: 'view-leaks', severity: 'high' });
    expect(byView['app.invoice_totals_outer']).toMatchObject({ kind: 'view-leaks', severity: 'high' });
    expect(byView['app.invoice_totals_snapshot']).toMatchObject({ kind: 'materialized-view', severity: 'warn' });
    expect(byView['app.invoice_totals_safe']).toBeUndefined();
    expect(status.views.find((v) => v.view === 'app.invoice_totals_safe')).toMatchObject({
      securityInvoker: true,
      over: ['app.invoices'],
      reachableBy: ['pgw_app_user'],
    });
  });

  it('fixes a leaking view with protect-view, idempotently', async () => {
    const views = ['app.invoice_totals', 'app.invoice_totals_outer'];
    const plan = await planRls(f.admin, { views });
    expect(plan.steps.map((s) => s.sql)).toEqual([
      'alter view app.invoice_totals set (security_invoker = true);',
      'alter view app.invoice_totals_outer set (security_invoker = true);',
    ]);
    await applyRls(f.admin, { views });
    expect(await totals('app.invoice_totals_outer')).toEqual([{ tenant_id: tenantA, n: 25 }]);
    expect((await planRls(f.admin, { views })).steps).toEqual([]);
    const status = await rlsStatus(f.admin, { schemas: ['app'] });
    expect(status.findings.filter((x) => x.kind === 'view-leaks')).toEqual([]);
  });

  it('creates a view that confines the caller with invokerViewSql', async () => {
    await f.sql(
      invokerViewSql({ schema: 'app', name: 'open_invoices' }, `select * from app.invoices where status = 'open';`),
    );
    await f.sql('grant select on app.open_invoices to pgw_app_user');
    const rows = await f.as('tenant-a', async (c) => (await c.query('select tenant_id from app.open_invoices')).rows);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.tenant_id === tenantA)).toBe(true);
  });
});

describe('LEAKPROOF', () => {
  it('never marks the identity helpers LEAKPROOF', async () => {
    expect(
      await f.sql(
        `select p.oid::regprocedure from pg_proc p where p.pronamespace = 'auth'::regnamespace and p.proleakproof`,
      ),
    ).toEqual([]);
  });

  it('flags a LEAKPROOF function called by a policy, and a LEAKPROOF helper', async () => {
    await f.sql(`create function app.same_tenant(a uuid, b text) returns boolean language sql immutable leakproof
                 as $$ select a::text = b $$`);
    await f.sql(`create table app.leaky (tenant_id uuid)`);
    await f.sql(`alter table app.leaky enable row level security`);
    await f.sql(`create policy leaky_select on app.leaky for select to pgw_app_user
                 using (app.same_tenant(tenant_id, (select auth.tenant_id())))`);
    await f.sql('begin');
    try {
      await f.sql('alter function auth.aal() leakproof');
      const status = await rlsStatus(f.admin, { schemas: ['app'] });
      expect(status.findings).toContainEqual(
        expect.objectContaining({
          kind: 'leakproof-function',
          object: 'app.same_tenant(uuid,text)',
          message: expect.stringContaining('app.leaky'),
        }),
      );
      expect(status.findings).toContainEqual(
        expect.objectContaining({ kind: 'leakproof-helper', object: 'auth.aal()', severity: 'high' }),
      );
    } finally {
      await f.sql('rollback');
    }
  });
});

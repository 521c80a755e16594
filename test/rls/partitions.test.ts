import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors/index.js';
import { applyRls, planRls, rlsStatus } from '../../src/rls/index.js';
import { type RlsFixture, rlsFixture, tenantA, tenantB } from './fixture.js';

// Policies on a partitioned table apply when it is queried through the parent; a partition
// queried directly uses its own. The toolkit protects the parent and every partition.
let f: RlsFixture;
const all = ['select', 'insert', 'update', 'delete'] as const;
const events = [{ table: 'app.events', tenantColumn: 'tenant_id', grant: all }];

beforeAll(async () => {
  f = await rlsFixture();
  await f.sql(`create table app.events (tenant_id uuid not null, at date not null, what text) partition by range (at)`);
  await f.sql(`create table app.events_2024 partition of app.events for values from ('2024-01-01') to ('2025-01-01')`);
  await f.sql(
    `create table app.events_2025 partition of app.events for values from ('2025-01-01') to ('2026-01-01')
       partition by list (tenant_id)`,
  );
  await f.sql(`create table app.events_2025_a partition of app.events_2025 for values in ('${tenantA}')`);
  await f.sql(`create table app.events_2025_rest partition of app.events_2025 default`);
  await f.sql(`insert into app.events values
    ('${tenantA}', '2024-05-01', 'a-2024'), ('${tenantB}', '2024-05-01', 'b-2024'),
    ('${tenantA}', '2025-05-01', 'a-2025'), ('${tenantB}', '2025-05-01', 'b-2025')`);
  await applyRls(f.admin, { tables: events });
  // A careless grant straight on the partitions: row-level security must still hold there.
  await f.sql(`grant select, insert on app.events_2024, app.events_2025, app.events_2025_rest to pgw_app_user`);
});
afterAll(async () => {
  await f?.close();
});

describe('a partitioned table [R-18]', () => {
  it('enables and forces row-level security and copies the policies onto every partition, at every level', async () => {
    const rows = await f.sql<{ rel: string; enabled: boolean; forced: boolean; policies: number }>(
      `select c.relname as rel, c.relrowsecurity as enabled, c.relforcerowsecurity as forced,
              (select count(*)::int from pg_policy p where p.polrelid = c.oid) as policies
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'app' and c.relname like 'events%' and c.relkind in ('r', 'p') order by 1`,
    );
    expect(rows).toEqual(
      ['events', 'events_2024', 'events_2025', 'events_2025_a', 'events_2025_rest'].map((rel) => ({
        rel,
        enabled: true,
        forced: true,
        policies: 4,
      })),
    );
  });

  it('returns no rows of tenant B when tenant A selects a partition directly', async () => {
    await f.as('tenant-a', async (c) => {
      expect((await c.query('select what from app.events_2024')).rows).toEqual([{ what: 'a-2024' }]);
      expect((await c.query('select what from app.events_2025_rest')).rows).toEqual([]);
      expect((await c.query('select what from app.events order by what')).rows).toEqual([
        { what: 'a-2024' },
        { what: 'a-2025' },
      ]);
    });
  });

  it('refuses a row of tenant B inserted straight into a partition', async () => {
    await f.as('tenant-a', (c) =>
      expect(
        c.query(`insert into app.events_2024 values ('${tenantB}', '2024-06-01', 'forged')`),
      ).rejects.toMatchObject({ code: '42501' }),
    );
  });

  it('refuses to protect a partition on its own (PW354) and names the parent', async () => {
    await expect(
      planRls(f.admin, { tables: [{ table: 'app.events_2025_a', tenantColumn: 'tenant_id' }] }),
    ).rejects.toMatchObject({ code: ErrorCodes.RLS_PARTITION_CHILD, message: expect.stringContaining('app.events') });
  });

  it('flags a partition attached later without row-level security, and protects it on the next apply', async () => {
    await f.sql(`create table app.events_2026 (like app.events)`);
    await f.sql(
      `alter table app.events attach partition app.events_2026 for values from ('2026-01-01') to ('2027-01-01')`,
    );
    const status = await rlsStatus(f.admin, { schemas: ['app'] });
    expect(status.findings).toContainEqual(
      expect.objectContaining({ kind: 'partition-unprotected', object: 'app.events_2026' }),
    );
    const plan = await planRls(f.admin, { tables: events });
    expect(new Set(plan.steps.map((s) => s.object))).toEqual(new Set(['app.events_2026']));
    await applyRls(f.admin, { tables: events });
    expect((await planRls(f.admin, { tables: events })).steps).toEqual([]);
  });
});

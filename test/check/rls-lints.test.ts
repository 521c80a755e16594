import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privilegeChecks } from '../../src/check/checks/privilege.js';
import { rlsChecks } from '../../src/check/checks/rls.js';
import {
  comparisonsOf,
  constantTruth,
  disjuncts,
  parseExpr,
  tokensOf,
} from '../../src/check/checks/rls-policy-expr.js';
import { type ReportedFinding, type ScanOptions, type ScanReport, scanDatabase } from '../../src/check/index.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { quoteIdent, withClient } from '../../src/db/client.js';
import { applyRls } from '../../src/rls/index.js';
import { adminConnection, installedDatabase, uniquePrefix } from '../helpers/db.js';
import { finding, findingsOf } from './helpers/findings.js';

// The RLS lints against planted misconfigurations, each with the correct form beside it. Every
// test works in a schema of its own and asserts on its own objects (the scan sees them all).

let db: ConnectionConfig;
let admin: pg.Client;
const prefix = uniquePrefix();
const roles: string[] = [];

const sql = async (text: string) => (await admin.query(text)).rows as Array<Record<string, unknown>>;
const scan = (options: ScanOptions = {}) => scanDatabase(db, { checks: rlsChecks, ...options });
const mine = (r: ScanReport, schema: string) =>
  r.results.flatMap((x) =>
    x.findings.filter((f) => f.object?.includes(`${schema}.`)).map((f) => `${f.checkId} ${f.object}`),
  );

/** A role of this file (cluster-wide, so prefixed and dropped in afterAll). */
async function role(name: string, attrs = 'nologin'): Promise<string> {
  const full = `${prefix}${name}`;
  await withClient(adminConnection(), (c) => c.query(`create role ${quoteIdent(full)} ${attrs}`));
  roles.push(full);
  return full;
}

/** A schema of one test, exposed to pgwarden's app_user role. */
async function exposed(schema: string, table = 'orders'): Promise<void> {
  await sql(`create schema ${schema}; grant usage on schema ${schema} to pgw_app_user;
    create table ${schema}.${table} (id bigint generated always as identity primary key, tenant_id uuid not null,
      owner_id uuid, status text not null default 'open');
    grant select, insert, update, delete on ${schema}.${table} to pgw_app_user;`);
}

beforeAll(async () => {
  db = await installedDatabase();
  admin = new pg.Client(db);
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await withClient(adminConnection(), async (c) => {
    for (const r of roles.reverse()) {
      await withClient(db, (d) => d.query(`drop owned by ${quoteIdent(r)}`)).catch(() => undefined);
      await c.query(`drop role if exists ${quoteIdent(r)}`);
    }
  });
});

describe('clean installation', () => {
  it('reports nothing in the rls and privilege families for a database with only pgwarden installed [C-01]', async () => {
    const clean = await installedDatabase();
    const report = await scanDatabase(clean, { checks: [...rlsChecks, ...privilegeChecks] });
    for (const r of report.results) expect(r.verdict, `${r.id}: ${r.reason ?? ''}`).not.toBe('not_evaluated');
    // Roles are cluster-wide and other test files may hold BYPASSRLS roles meanwhile; pgwarden's own
    // roles, and any role its request roles reach, must never appear.
    const othersRoles = (f: ReportedFinding) =>
      f.checkId === 'PRIV-003' && !f.object!.startsWith('role pgw_') && (f.evidence.reachedBy as string[]).length === 0;
    const unexpected = report.results.flatMap((r) => r.findings).filter((f) => !othersRoles(f));
    expect(unexpected.map((f) => `${f.checkId} ${f.object}: ${f.message}`)).toEqual([]);
  });
});

describe('RLS-001 tables without row-level security', () => {
  it('finds a table without RLS in an exposed schema [C-01]', async () => {
    await exposed('r1_bad');
    await sql(`create table r1_bad.notes (id int); -- nobody but the owner holds a privilege`);
    const report = await scan();
    const f = finding(report, 'RLS-001', 'r1_bad.orders');
    expect(f).toMatchObject({ checkId: 'RLS-001', severity: 'high', evidence: { grantees: ['pgw_app_user'] } });
    expect(f?.fix).toEqual([{ sql: 'alter table r1_bad.orders enable row level security;', safety: 'manual' }]);
    expect(finding(report, 'RLS-001', 'r1_bad.notes')?.severity).toBe('medium');
  });

  it('finds a partition without RLS under a protected parent [R-18]', async () => {
    await sql(`create schema r1_part; grant usage on schema r1_part to pgw_app_user;
      create table r1_part.events (tenant_id uuid not null, at date not null) partition by range (at);
      create table r1_part.events_2025 partition of r1_part.events for values from ('2025-01-01') to ('2026-01-01');
      grant select on r1_part.events, r1_part.events_2025 to pgw_app_user;
      alter table r1_part.events enable row level security;
      create policy tenant_read on r1_part.events for select to pgw_app_user using (tenant_id = (select auth.tenant_id())::uuid);`);
    const report = await scan();
    expect(finding(report, 'RLS-001', 'r1_part.events_2025')).toMatchObject({
      severity: 'high',
      evidence: { parent: 'r1_part.events' },
    });
    expect(finding(report, 'RLS-001', 'r1_part.events')).toBeUndefined();
  });

  it('allows tables with RLS, tables in schemas no request role uses, and honours check.exposedSchemas', async () => {
    await exposed('r1_good');
    await sql(`alter table r1_good.orders enable row level security;
      create policy tenant_all on r1_good.orders to pgw_app_user using (tenant_id = (select auth.tenant_id())::uuid);
      create schema r1_private; create table r1_private.orders (id int);`);
    const report = await scan();
    expect(finding(report, 'RLS-001', 'r1_good.orders')).toBeUndefined();
    expect(finding(report, 'RLS-001', 'r1_private.orders')).toBeUndefined();
    const configured = await scan({ exposedSchemas: ['r1_private'] });
    expect(finding(configured, 'RLS-001', 'r1_private.orders')).toBeDefined();
    expect(findingsOf(configured, 'RLS-001').every((f) => f.object!.startsWith('r1_private.'))).toBe(true);
  });
});

describe('RLS-002 policies on tables without row-level security', () => {
  it('finds a policy while RLS is disabled [C-01]', async () => {
    await exposed('r2_bad');
    await sql(
      `create policy tenant_read on r2_bad.orders for select to pgw_app_user using (tenant_id = (select auth.tenant_id())::uuid);`,
    );
    const f = finding(await scan(), 'RLS-002', 'r2_bad.orders');
    expect(f).toMatchObject({ severity: 'high', evidence: { policies: ['tenant_read'] } });
    expect(f?.fix?.[0]).toMatchObject({ safety: 'manual' });
  });

  it('allows the same policy once RLS is enabled', async () => {
    await exposed('r2_good');
    await sql(`alter table r2_good.orders enable row level security;
      create policy tenant_read on r2_good.orders for select to pgw_app_user using (tenant_id = (select auth.tenant_id())::uuid);`);
    expect(mine(await scan(), 'r2_good')).toEqual(['RLS-011 column r2_good.orders.tenant_id']);
  });
});

describe('RLS-003 row-level security without policies', () => {
  it('finds RLS with no policy, which denies every row [C-01] [R-02]', async () => {
    await exposed('r3_bad');
    await sql(
      `alter table r3_bad.orders enable row level security; insert into r3_bad.orders (tenant_id) values (gen_random_uuid());`,
    );
    // Default deny: the request role sees nothing.
    await admin.query('begin');
    await admin.query('set local role pgw_app_user');
    expect((await admin.query('select * from r3_bad.orders')).rowCount).toBe(0);
    await admin.query('rollback');
    expect(finding(await scan(), 'RLS-003', 'r3_bad.orders')).toMatchObject({ checkId: 'RLS-003', severity: 'low' });
  });

  it('allows a partition with RLS and no policy under a parent with policies [R-18]', async () => {
    await sql(`create schema r3_part;
      create table r3_part.events (tenant_id uuid not null, at date not null) partition by range (at);
      create table r3_part.events_2025 partition of r3_part.events for values from ('2025-01-01') to ('2026-01-01');
      alter table r3_part.events enable row level security; alter table r3_part.events_2025 enable row level security;
      create policy tenant_read on r3_part.events for select to pgw_app_user using (tenant_id = (select auth.tenant_id())::uuid);
      create index on r3_part.events (tenant_id);`);
    expect(mine(await scan(), 'r3_part')).toEqual([]);
  });
});

describe('RLS-004 always-true policies', () => {
  it('finds USING (true) and 1 = 1 for request roles and PUBLIC, with the command [C-01]', async () => {
    await exposed('r4_bad');
    await sql(`alter table r4_bad.orders enable row level security;
      create policy upd on r4_bad.orders for update to pgw_app_user using (true);
      create policy ins on r4_bad.orders for insert to pgw_app_user with check ((1 = 1) or (status = 'x'));
      create policy sel on r4_bad.orders for select using (1 = 1);`);
    const report = await scan();
    expect(finding(report, 'RLS-004', 'policy upd on r4_bad.orders')).toMatchObject({
      severity: 'high',
      evidence: { command: 'UPDATE', roles: ['pgw_app_user'] },
    });
    expect(finding(report, 'RLS-004', 'policy upd on r4_bad.orders')?.message).toContain('USING and WITH CHECK are');
    expect(finding(report, 'RLS-004', 'policy ins on r4_bad.orders')).toMatchObject({
      severity: 'high',
      evidence: { command: 'INSERT' },
    });
    expect(finding(report, 'RLS-004', 'policy sel on r4_bad.orders')).toMatchObject({
      severity: 'medium',
      evidence: { command: 'SELECT', roles: ['PUBLIC'] },
    });
  });

  it('allows true for administrative roles only, tenant predicates, and policies without an expression', async () => {
    await exposed('r4_good');
    await sql(`alter table r4_good.orders enable row level security;
      create policy admin_all on r4_good.orders to pgw_security_admin, pgw_auditor using (true) with check (true);
      create policy tenant_all on r4_good.orders to pgw_app_user using (tenant_id = (select auth.tenant_id())::uuid);
      create policy inert on r4_good.orders for delete to pgw_app_user;
      create index on r4_good.orders (tenant_id);`);
    expect(mine(await scan(), 'r4_good')).toEqual([]);
    // A policy without USING admits nothing (unlike what splinter 0024 assumes): prove it.
    await sql(`insert into r4_good.orders (tenant_id) values (gen_random_uuid())`);
    await admin.query('begin');
    await admin.query('set local role pgw_app_user');
    expect((await admin.query('delete from r4_good.orders')).rowCount).toBe(0);
    await admin.query('rollback');
  });
});

describe('RLS-005 policies true when the caller has no identity', () => {
  it('finds a null-auth disjunct, plain and inverted [C-01]', async () => {
    await exposed('r5_bad');
    await sql(`alter table r5_bad.orders enable row level security;
      create policy own on r5_bad.orders for select to pgw_app_user using (auth.uid() is null or owner_id = auth.uid());
      create policy own_not on r5_bad.orders for select to pgw_anon using (not ((select auth.uid()) is not null) or owner_id = (select auth.uid()));
      create policy ins on r5_bad.orders for insert to pgw_app_user
        with check ((select auth.tenant_id()) is null or tenant_id = (select auth.tenant_id())::uuid);`);
    const report = await scan();
    expect(finding(report, 'RLS-005', 'policy own on r5_bad.orders')).toMatchObject({
      checkId: 'RLS-005',
      severity: 'high',
    });
    expect(finding(report, 'RLS-005', 'policy own on r5_bad.orders')?.message).toContain('auth.uid()');
    expect(finding(report, 'RLS-005', 'policy own_not on r5_bad.orders')).toBeDefined();
    expect(finding(report, 'RLS-005', 'policy ins on r5_bad.orders')?.message).toContain('WITH CHECK');
  });

  it('allows gated and nested forms and IS NULL on ordinary columns', async () => {
    await exposed('r5_good');
    await sql(`alter table r5_good.orders enable row level security;
      create policy gated on r5_good.orders for select to pgw_app_user
        using ((select auth.uid()) is not null and owner_id = (select auth.uid()));
      create policy nested on r5_good.orders for select to pgw_app_user
        using (tenant_id = (select auth.tenant_id())::uuid and (owner_id is null or owner_id = (select auth.uid())));
      create policy col on r5_good.orders for select to pgw_app_user using (owner_id is null or status = 'public');
      create policy raises on r5_good.orders for select to pgw_app_user
        using (current_setting('app.never_null') is null or status = 'x');
      create index on r5_good.orders (tenant_id); create index on r5_good.orders (owner_id);`);
    const report = await scan();
    expect(mine(report, 'r5_good').filter((f) => f.startsWith('RLS-005'))).toEqual([]);
  });
});

describe('RLS-006 user-editable claims', () => {
  it('finds user_metadata in a policy [C-01] [R-20]', async () => {
    await exposed('r6_bad');
    await sql(`alter table r6_bad.orders enable row level security;
      create policy meta on r6_bad.orders for select to pgw_app_user
        using ((auth.claims() -> 'user_metadata' ->> 'role') = 'admin');
      create policy raw on r6_bad.orders for update to pgw_app_user
        using (tenant_id = ((current_setting('request.jwt.claims', true))::jsonb #>> '{user_metadata,tenant}')::uuid);`);
    const report = await scan();
    expect(finding(report, 'RLS-006', 'policy meta on r6_bad.orders')).toMatchObject({
      checkId: 'RLS-006',
      severity: 'critical',
      evidence: { fields: ['user_metadata'] },
    });
    expect(finding(report, 'RLS-006', 'policy raw on r6_bad.orders')?.severity).toBe('critical');
  });

  it('allows server-set roles and permissions [R-20]', async () => {
    await exposed('r6_good');
    await sql(`alter table r6_good.orders enable row level security;
      create policy perm on r6_good.orders for select to pgw_app_user
        using (tenant_id = (select auth.tenant_id())::uuid and (select auth.has_permission('orders.read')));
      create policy role on r6_good.orders for delete to pgw_app_user
        using (tenant_id = (select auth.tenant_id())::uuid and 'admin' = any (auth.roles()));
      create index on r6_good.orders (tenant_id);`);
    expect(mine(await scan(), 'r6_good')).toEqual([]);
  });
});

describe('RLS-007 settings any session can change', () => {
  it('finds current_setting(request.…) read by a policy, directly or through a function [R-15]', async () => {
    await exposed('r7_bad');
    await sql(`alter table r7_bad.orders enable row level security;
      create policy claims on r7_bad.orders for select to pgw_app_user
        using (tenant_id = ((current_setting('request.jwt.claims', true))::jsonb ->> 'tenant')::uuid);
      create function r7_bad.current_tenant() returns uuid language sql stable
        as $$ select pg_catalog.current_setting('app.tenant_id')::uuid $$;
      create policy via_fn on r7_bad.orders for update to pgw_app_user using (tenant_id = r7_bad.current_tenant());`);
    const report = await scan();
    expect(finding(report, 'RLS-007', 'policy claims on r7_bad.orders')).toMatchObject({
      severity: 'high',
      evidence: { settings: ['request.jwt.claims'] },
    });
    expect(finding(report, 'RLS-007', 'policy via_fn on r7_bad.orders')).toMatchObject({
      evidence: { functions: [{ function: 'r7_bad.current_tenant()', settings: ['app.tenant_id'] }] },
    });
  });

  it("allows pgwarden's MAC-verified helpers", async () => {
    await exposed('r7_good');
    await sql(`alter table r7_good.orders enable row level security;
      create policy tenant_all on r7_good.orders to pgw_app_user
        using (tenant_id = (select auth.tenant_id())::uuid and owner_id = (select auth.uid()));
      create index on r7_good.orders (tenant_id, owner_id);`);
    expect(mine(await scan(), 'r7_good')).toEqual([]);
  });
});

describe('RLS-008 write policies and WITH CHECK', () => {
  it('finds a WITH CHECK that drops the tenant condition of USING, and an INSERT policy without WITH CHECK [R-09]', async () => {
    await exposed('r8_bad');
    await sql(`alter table r8_bad.orders enable row level security;
      create policy upd on r8_bad.orders for update to pgw_app_user
        using (tenant_id = (select auth.tenant_id())::uuid and owner_id = (select auth.uid()))
        with check (owner_id = (select auth.uid()));
      create policy ins on r8_bad.orders for insert to pgw_app_user;`);
    const report = await scan();
    expect(finding(report, 'RLS-008', 'policy upd on r8_bad.orders')).toMatchObject({
      severity: 'high',
      evidence: { command: 'UPDATE', columns: ['tenant_id'] },
    });
    expect(finding(report, 'RLS-008', 'policy ins on r8_bad.orders')?.severity).toBe('low');
  });

  it('allows UPDATE and ALL policies without WITH CHECK: PostgreSQL checks new rows with USING', async () => {
    await exposed('r8_good');
    await sql(`alter table r8_good.orders enable row level security;
      create policy upd on r8_good.orders for update to pgw_app_user using (status = 'open');
      create policy sel on r8_good.orders for select to pgw_app_user using (status = 'open');
      create policy both_ on r8_good.orders to pgw_app_user
        using (tenant_id = (select auth.tenant_id())::uuid) with check (tenant_id = (select auth.tenant_id())::uuid);
      create index on r8_good.orders (tenant_id);
      insert into r8_good.orders (tenant_id) values (gen_random_uuid());`);
    expect(mine(await scan(), 'r8_good')).toEqual([]);
    // The rationale, checked on the server: the new row must pass USING.
    await admin.query('begin');
    await admin.query('set local role pgw_app_user');
    await expect(admin.query(`update r8_good.orders set status = 'closed'`)).rejects.toMatchObject({ code: '42501' });
    await admin.query('rollback');
  });
});

describe('RLS-009 owners that bypass their own policies', () => {
  it('finds an RLS table owned by a login role without FORCE [R-04]', async () => {
    const owner = await role('app_login', 'login');
    await exposed('r9_bad');
    await sql(`alter table r9_bad.orders enable row level security;
      create policy tenant_all on r9_bad.orders to pgw_app_user using (tenant_id = (select auth.tenant_id())::uuid);
      alter table r9_bad.orders owner to ${owner};`);
    const f = finding(await scan(), 'RLS-009', 'r9_bad.orders');
    expect(f).toMatchObject({ checkId: 'RLS-009', severity: 'high', evidence: { owner, ownerCanLogin: true } });
    expect(f?.fix).toEqual([{ sql: 'alter table r9_bad.orders force row level security;', safety: 'manual' }]);
  });

  it('finds an owner the authenticator can become [R-04]', async () => {
    // A role family of this file, so no membership of the shared pgw_ roles changes.
    const authenticator = await role('authenticator', 'login noinherit');
    const owner = await role('tbl_owner');
    await withClient(adminConnection(), (c) => c.query(`grant ${owner} to ${authenticator}`));
    await sql(`create schema r9_reach; create table r9_reach.orders (tenant_id uuid);
      alter table r9_reach.orders enable row level security;
      create policy tenant_all on r9_reach.orders using (tenant_id = (select auth.tenant_id())::uuid);
      alter table r9_reach.orders owner to ${owner};`);
    const f = finding(await scan({ rolePrefix: prefix }), 'RLS-009', 'r9_reach.orders');
    expect(f).toMatchObject({ evidence: { ownerCanLogin: false, ownerReachedBy: [authenticator] } });
  });

  it('allows FORCE, and owners no request role can become [R-04]', async () => {
    const forced = await role('forced_login', 'login');
    const nologin = await role('plain_owner');
    await sql(`create schema r9_good;
      create table r9_good.forced (tenant_id uuid); create table r9_good.owned (tenant_id uuid);
      alter table r9_good.forced enable row level security, force row level security;
      alter table r9_good.owned enable row level security;
      create policy p on r9_good.forced using (tenant_id = (select auth.tenant_id())::uuid);
      create policy p on r9_good.owned using (tenant_id = (select auth.tenant_id())::uuid);
      alter table r9_good.forced owner to ${forced}; alter table r9_good.owned owner to ${nologin};`);
    expect(mine(await scan(), 'r9_good').filter((f) => f.startsWith('RLS-009'))).toEqual([]);
  });
});

describe('RLS-010 views that run as their owner', () => {
  it('finds a security definer view over an RLS table, through another view too [C-01]', async () => {
    await exposed('r10_bad');
    await sql(`alter table r10_bad.orders enable row level security;
      create policy tenant_all on r10_bad.orders to pgw_app_user using (tenant_id = (select auth.tenant_id())::uuid);
      create table r10_bad.plain (id int);
      create view r10_bad.all_orders as select * from r10_bad.orders;
      create view r10_bad.open_orders as select * from r10_bad.all_orders where status = 'open';
      create view r10_bad.plain_view as select * from r10_bad.plain;
      grant select on r10_bad.all_orders, r10_bad.open_orders to pgw_app_user;`);
    const report = await scan();
    expect(finding(report, 'RLS-010', 'r10_bad.all_orders')).toMatchObject({
      checkId: 'RLS-010',
      severity: 'high',
      evidence: { rlsTables: ['r10_bad.orders'], grantees: ['pgw_app_user'] },
    });
    expect(finding(report, 'RLS-010', 'r10_bad.open_orders')).toMatchObject({ severity: 'high' });
    expect(finding(report, 'RLS-010', 'r10_bad.plain_view')).toMatchObject({ severity: 'medium' });
    expect(finding(report, 'RLS-010', 'r10_bad.all_orders')?.fix?.[0]?.sql).toBe(
      'alter view r10_bad.all_orders set (security_invoker = true);',
    );
  });

  it('allows security_invoker views, however the option is spelled', async () => {
    await exposed('r10_good');
    await sql(`alter table r10_good.orders enable row level security;
      create policy tenant_all on r10_good.orders to pgw_app_user using (tenant_id = (select auth.tenant_id())::uuid);
      create index on r10_good.orders (tenant_id);
      create view r10_good.a with (security_invoker = true) as select * from r10_good.orders;
      create view r10_good.b with (security_invoker = on) as select * from r10_good.orders;
      create view r10_good.c with (security_invoker = 1) as select * from r10_good.a;`);
    expect(mine(await scan(), 'r10_good')).toEqual([]);
  });
});

describe('RLS-011 unindexed policy columns', () => {
  it('finds the tenant column of a policy that leads no index', async () => {
    await exposed('r11_bad');
    await sql(`create index on r11_bad.orders (status, tenant_id);
      alter table r11_bad.orders enable row level security;
      create policy sel on r11_bad.orders for select to pgw_app_user using (tenant_id = (select auth.tenant_id())::uuid);
      create policy del on r11_bad.orders for delete to pgw_app_user using (tenant_id = (select auth.tenant_id())::uuid);`);
    const f = finding(await scan(), 'RLS-011', 'column r11_bad.orders.tenant_id');
    expect(f).toMatchObject({ severity: 'low', evidence: { policies: ['del', 'sel'] } });
    expect(f?.fix?.[0]).toEqual({ sql: 'create index concurrently on r11_bad.orders (tenant_id);', safety: 'manual' });
  });

  it('allows a composite index that starts with one of the filtered columns', async () => {
    await exposed('r11_good');
    await sql(`create index on r11_good.orders (owner_id, id);
      alter table r11_good.orders enable row level security;
      create policy sel on r11_good.orders for select to pgw_app_user
        using (tenant_id = (select auth.tenant_id())::uuid and owner_id = (select auth.uid()));`);
    expect(mine(await scan(), 'r11_good')).toEqual([]);
  });
});

describe("pgwarden's own RLS tooling", () => {
  it('sets up a table that passes every RLS and privilege lint', async () => {
    const owner = await role('tool_owner', 'login');
    await exposed('r_tool');
    await sql(`alter table r_tool.orders owner to ${owner}`);
    await applyRls(admin, {
      tables: [
        {
          table: 'r_tool.orders',
          tenantColumn: 'tenant_id',
          ownerColumn: 'owner_id',
          permission: { read: 'orders.read', write: 'orders.write' },
          grant: ['select', 'insert', 'update', 'delete'],
        },
      ],
    });
    const report = await scanDatabase(db, { checks: [...rlsChecks, ...privilegeChecks] });
    expect(mine(report, 'r_tool')).toEqual([]);
  });
});

describe('the policy expression reader, on policies as PostgreSQL prints them', () => {
  const printed = async (using: string): Promise<string> => {
    const name = `p${Math.random().toString(36).slice(2, 8)}`;
    await sql(`create policy ${name} on rx.t for select using (${using})`);
    const rows = await sql(
      `select qual from pg_catalog.pg_policies where schemaname = 'rx' and policyname = '${name}'`,
    );
    return rows[0]!.qual as string;
  };

  beforeAll(async () => {
    await sql(
      `create schema rx; create table rx.t (id int, tenant_id uuid, owner_id uuid, status text, "Org Id" text)`,
    );
  });

  it('splits top-level disjuncts but not an OR nested under AND', async () => {
    expect(disjuncts(parseExpr(await printed('auth.uid() is null or owner_id = auth.uid()')))).toHaveLength(2);
    const nested = await printed(`tenant_id = auth.tenant_id()::uuid and (owner_id is null or status = 'x')`);
    expect(disjuncts(parseExpr(nested))).toHaveLength(1);
    const withCase = await printed(
      `"Org Id" in (select x from unnest(auth.roles()) x) or case when status = 'a' then true else false end`,
    );
    expect(disjuncts(parseExpr(withCase))).toHaveLength(2);
  });

  it('folds constant truths and leaves the rest open', async () => {
    expect(constantTruth(parseExpr(await printed('true')))).toBe(true);
    expect(constantTruth(parseExpr(await printed('1 = 1')))).toBe(true);
    expect(constantTruth(parseExpr(await printed(`'a'::text = 'a' or status = 'x'`)))).toBe(true);
    expect(constantTruth(parseExpr(await printed('not false and 2 = 2')))).toBe(true);
    expect(constantTruth(parseExpr(await printed(`status = 'x'`)))).toBeUndefined();
    expect(constantTruth(parseExpr(await printed('1 = 2 or status is null')))).toBeUndefined();
  });

  it('reads quoted identifiers, escaped strings, ANY, IN and BETWEEN', async () => {
    const text = await printed(
      `"Org Id" = 'it''s' and tenant_id = any (array[auth.tenant_id()::uuid]) and id between 1 and 9 and status in ('a', 'b')`,
    );
    const tokens = [...tokensOf(parseExpr(text))];
    expect(tokens).toContainEqual({ kind: 'qident', value: 'Org Id' });
    expect(tokens).toContainEqual({ kind: 'string', value: "it's" });
    const cmps = comparisonsOf(parseExpr(text)).map((c) => c.op);
    expect(cmps).toEqual(['=', '=', '>=', '<=', '=']);
  });

  it('skips comparisons inside sub-selects', async () => {
    const text = await printed(
      'exists (select 1 from rx.t o where o.id = t.id and o.tenant_id = auth.tenant_id()::uuid)',
    );
    expect(comparisonsOf(parseExpr(text))).toEqual([]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyRls,
  hasFindingAtLeast,
  type RlsFinding,
  type RlsStatus,
  rlsStatus,
  serverVersionFinding,
} from '../../src/rls/index.js';
import { type RlsFixture, rlsFixture, tenantA, uniqueRole } from './fixture.js';

// `rls status` over the demo schema with one of each weakness planted.
let f: RlsFixture;
let status: RlsStatus;
const all = ['select', 'insert', 'update', 'delete'] as const;

beforeAll(async () => {
  f = await rlsFixture();
  await applyRls(f.admin, {
    tables: [
      { table: 'app.invoices', tenantColumn: 'tenant_id', grant: all },
      { table: 'app.projects', tenantColumn: 'tenant_id', grant: all },
      { table: 'app.users', tenantColumn: 'tenant_id', grant: all },
    ],
  });
  // Default deny: RLS on, no policy, but granted.
  await f.sql(`create table app.notes (tenant_id uuid not null, body text)`);
  await f.sql(`insert into app.notes values ('${tenantA}', 'hidden')`);
  await f.sql(`alter table app.notes enable row level security`);
  await f.sql(`grant select, insert on app.notes to pgw_app_user`);
  // Reachable without RLS.
  await f.sql(`grant select on app.tenants to pgw_app_user`);
  // RLS not forced, a policy that is always true, a table-wide privilege.
  const owner = uniqueRole('rls_status_owner');
  await f.sql(`create role ${owner} nologin`);
  await f.sql(`create table app.settings (tenant_id uuid, k text, v text)`);
  await f.sql(`alter table app.settings owner to ${owner}`);
  await f.sql(`alter table app.settings enable row level security`);
  await f.sql(`create policy everyone on app.settings for select to public using (true)`);
  await f.sql(`grant truncate on app.settings to pgw_app_user`);
  // Owned by a request role.
  await f.sql(`create table app.scratch (tenant_id uuid)`);
  await f.sql(`alter table app.scratch owner to pgw_app_user`);
  status = await rlsStatus(f.admin);
});
afterAll(async () => {
  await f?.close();
});

const findings = (kind: RlsFinding['kind']) => status.findings.filter((x) => x.kind === kind);

describe('rls status', () => {
  it('looks at every schema except the system ones and auth, logs, pgwarden', () => {
    expect(status.schemas).toContain('app');
    expect(status.schemas).toContain('public');
    for (const own of ['auth', 'logs', 'pgwarden', 'pg_catalog', 'information_schema']) {
      expect(status.schemas).not.toContain(own);
    }
    expect(status.requestRoles).toEqual(['pgw_anon', 'pgw_app_user']);
  });

  it('reports the pgwarden policies of a protected table and the commands they cover', () => {
    const invoices = status.tables.find((t) => t.table === 'app.invoices')!;
    expect(invoices).toMatchObject({
      rlsEnabled: true,
      rlsForced: true,
      commands: ['select', 'insert', 'update', 'delete'],
      reachableBy: ['pgw_app_user'],
      defaultDeny: false,
      unprotected: false,
    });
    expect(invoices.policies.map((p) => [p.name, p.managed])).toEqual([
      ['pgw_tenant_delete', true],
      ['pgw_tenant_insert', true],
      ['pgw_tenant_select', true],
      ['pgw_tenant_update', true],
    ]);
  });

  it('flags a table with RLS on and no policy as default deny, which returns 0 rows and refuses inserts [R-02]', async () => {
    expect(status.tables.find((t) => t.table === 'app.notes')).toMatchObject({ defaultDeny: true, commands: [] });
    expect(findings('default-deny').map((x) => x.object)).toEqual(['app.notes']);
    await f.as('tenant-a', async (c) => {
      expect((await c.query('select * from app.notes')).rows).toEqual([]);
      await expect(c.query(`insert into app.notes values ('${tenantA}', 'x')`)).rejects.toMatchObject({
        code: '42501',
      });
    });
  });

  it('flags a table request roles reach without row-level security as unprotected [R-21]', () => {
    expect(status.tables.find((t) => t.table === 'app.tenants')).toMatchObject({ unprotected: true });
    expect(findings('unprotected').map((x) => [x.object, x.severity])).toEqual([
      ['app.scratch', 'high'],
      ['app.tenants', 'high'],
    ]);
  });

  it('warns about unique constraints that span tenants, and foreign keys that ignore RLS [R-11]', () => {
    expect(findings('unique-oracle')).toEqual([
      expect.objectContaining({ object: 'app.users', message: expect.stringContaining('users_email_key (email)') }),
    ]);
    const fks = findings('foreign-key-oracle').map((x) => x.message.split(' ')[2]);
    expect(fks).toEqual(expect.arrayContaining(['invoices_project_id_fkey', 'projects_owner_id_fkey']));
  });

  it('flags a table-wide privilege, an unforced table and an always-true policy [R-04] [R-12]', () => {
    expect(findings('table-wide-privilege').filter((x) => x.object === 'app.settings')).toEqual([
      expect.objectContaining({
        severity: 'high',
        message: 'pgw_app_user holds TRUNCATE, which row-level security does not govern',
      }),
    ]);
    expect(findings('not-forced').map((x) => x.object)).toEqual(['app.settings']);
    expect(findings('policy-always-true')).toEqual([expect.objectContaining({ object: 'app.settings' })]);
  });

  it('flags a table owned by a request role [R-04]', () => {
    expect(findings('request-role-owner')).toEqual([
      expect.objectContaining({ object: 'app.scratch', severity: 'high' }),
    ]);
  });

  it('narrows to the schemas asked for, and ranks severities for --fail-on', async () => {
    const only = await rlsStatus(f.admin, { schemas: ['public'] });
    expect(only.tables).toEqual([]);
    expect(hasFindingAtLeast(only, 'info')).toBe(false);
    expect(hasFindingAtLeast(status, 'high')).toBe(true);
  });
});

describe('the server version gate [R-22]', () => {
  it('reports HIGH for a minor release without the RLS and SET ROLE CVE fixes', () => {
    for (const v of [140013, 150008, 150003, 160004, 170000, 130020]) {
      expect(serverVersionFinding(v)).toMatchObject({ severity: 'high', kind: 'server-version', object: 'server' });
    }
    expect(serverVersionFinding(150008)!.message).toMatch(/CVE-2024-10976.*upgrade to 15\.9 or later/);
  });

  it('reports nothing from the fixed releases on, nor for 18 and later', () => {
    for (const v of [140014, 150009, 150020, 160005, 160014, 170001, 170010, 180000]) {
      expect(serverVersionFinding(v)).toBeNull();
    }
  });

  it('finds nothing to report on the server under test, which is current', () => {
    expect(status.findings.filter((x) => x.kind === 'server-version')).toEqual([]);
  });
});

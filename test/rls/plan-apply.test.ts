import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { withClient } from '../../src/db/client.js';
import { ErrorCodes } from '../../src/errors/index.js';
import { applyRls, parseRlsFile, planRls, type RlsPlanOptions } from '../../src/rls/index.js';
import { emptyDatabase } from '../helpers/db.js';
import { type RlsFixture, rlsFixture, uniqueRole } from './fixture.js';

// The declarative side: a policy file planned against the catalog and applied in one transaction,
// idempotently, touching only pgwarden's own policies.
let f: RlsFixture;
beforeAll(async () => {
  f = await rlsFixture();
});
afterAll(async () => {
  await f?.close();
});

/** Puts the demo tables back to "never protected" between tests. */
async function reset(): Promise<void> {
  for (const t of ['app.invoices', 'app.projects', 'app.users']) {
    await f.sql(`alter table ${t} no force row level security, disable row level security`);
    for (const { polname } of await f.sql<{ polname: string }>(
      `select polname from pg_policy where polrelid = $1::regclass`,
      [t],
    )) {
      await f.sql(`drop policy "${polname}" on ${t}`);
    }
  }
  await f.sql(`drop index if exists app.users_full_name_pgw_rls_idx`);
  await f.sql(`drop event trigger if exists pgw_test_fail_index`);
}
beforeEach(reset);

const file = parseRlsFile(
  `
version: 1
tables:
  app.invoices:
    tenantColumn: tenant_id
    permission:
      read: invoices.read
      write: invoices.write
    grant: [select, insert, update, delete]
  app.projects:
    tenantColumn: tenant_id
`,
  'pgwarden.rls.yaml',
);
const fromFile = (over: Partial<RlsPlanOptions> = {}): RlsPlanOptions => ({
  tables: file.tables,
  views: file.views,
  prune: file.prune,
  source: file.path,
  ...over,
});

const rlsState = async (table: string) =>
  (
    await f.sql<{ enabled: boolean; forced: boolean; policies: number }>(
      `select relrowsecurity as enabled, relforcerowsecurity as forced,
              (select count(*)::int from pg_policy where polrelid = c.oid) as policies
         from pg_class c where oid = $1::regclass`,
      [table],
    )
  )[0]!;

describe('rls plan', () => {
  it('lists every change for unprotected tables and changes nothing', async () => {
    const plan = await planRls(f.admin, fromFile());
    const kinds = plan.steps.filter((s) => s.object === 'app.invoices').map((s) => s.kind);
    expect(kinds).toEqual([
      'enable-rls',
      'force-rls',
      'create-policy',
      'create-policy',
      'create-policy',
      'create-policy',
      'grant',
      'grant',
    ]);
    expect(plan.tables).toEqual(['app.invoices', 'app.projects']);
    expect(await rlsState('app.invoices')).toEqual({ enabled: false, forced: false, policies: 0 });
  });

  it('plans an index when none leads with the tenant column', async () => {
    const plan = await planRls(f.admin, { tables: [{ table: 'app.users', tenantColumn: 'full_name' }] });
    expect(plan.steps.find((s) => s.kind === 'create-index')?.sql).toBe(
      'create index users_full_name_pgw_rls_idx on app.users (full_name);',
    );
    const indexed = await planRls(f.admin, { tables: [{ table: 'app.users', tenantColumn: 'tenant_id' }] });
    expect(indexed.steps.some((s) => s.kind === 'create-index')).toBe(false);
  });

  it('shows a hand-edited pgwarden policy as a replacement, naming what differs', async () => {
    await applyRls(f.admin, fromFile());
    await f.sql(`alter policy pgw_tenant_select on app.invoices using (true)`);
    const plan = await planRls(f.admin, fromFile());
    expect(plan.steps).toEqual([
      expect.objectContaining({
        kind: 'replace-policy',
        object: 'app.invoices',
        summary: expect.stringContaining('using'),
      }),
    ]);
  });

  it('replaces the policies whose permission changed in the file', async () => {
    await applyRls(f.admin, fromFile());
    const changed = parseRlsFile(
      `tables:\n  app.invoices: { tenantColumn: tenant_id, permission: invoices.admin }\n  app.projects: { tenantColumn: tenant_id }`,
      'changed.yaml',
    );
    const plan = await planRls(f.admin, { tables: changed.tables });
    expect(plan.steps.map((s) => `${s.kind} ${s.summary.split(' ').slice(0, 3).join(' ')}`)).toEqual([
      'replace-policy replace policy pgw_tenant_select',
      'replace-policy replace policy pgw_tenant_insert',
      'replace-policy replace policy pgw_tenant_update',
      'replace-policy replace policy pgw_tenant_delete',
    ]);
  });

  it('drops pgwarden policies of tables no longer in the file, leaving RLS on (default deny)', async () => {
    await applyRls(f.admin, fromFile());
    const onlyInvoices = fromFile({ tables: file.tables.filter((t) => t.table === 'app.invoices') });
    const plan = await planRls(f.admin, onlyInvoices);
    expect(plan.steps.map((s) => [s.kind, s.object])).toEqual(
      Array.from({ length: 4 }, () => ['drop-policy', 'app.projects']),
    );
    await applyRls(f.admin, onlyInvoices);
    expect(await rlsState('app.projects')).toEqual({ enabled: true, forced: true, policies: 0 });
    expect((await planRls(f.admin, { ...onlyInvoices, prune: false })).steps).toEqual([]);
  });

  it('never touches a policy pgwarden did not write, and warns that it widens access', async () => {
    await f.sql(`create policy reports_read on app.invoices for select to pgw_app_user using (status = 'paid')`);
    const result = await applyRls(f.admin, fromFile());
    expect(result.plan.warnings.join('\n')).toMatch(/reports_read.*can widen access/);
    expect(await f.sql(`select 1 from pg_policy where polname = 'reports_read'`)).toHaveLength(1);
    expect((await planRls(f.admin, fromFile())).steps).toEqual([]);
  });
});

describe('rls apply', () => {
  it('applies the plan, and a second apply is a no-op', async () => {
    const first = await applyRls(f.admin, fromFile());
    expect(first.applied.length).toBeGreaterThan(8);
    expect(await rlsState('app.invoices')).toEqual({ enabled: true, forced: true, policies: 4 });
    const second = await applyRls(f.admin, fromFile());
    expect(second.plan.steps).toEqual([]);
    expect(second.applied).toEqual([]);
  });

  it('changes nothing on a dry run', async () => {
    const result = await applyRls(f.admin, { ...fromFile(), dryRun: true });
    expect(result.dryRun).toBe(true);
    expect(result.plan.steps.length).toBeGreaterThan(0);
    expect(result.applied).toEqual([]);
    expect(await rlsState('app.invoices')).toEqual({ enabled: false, forced: false, policies: 0 });
  });

  it('applies all or nothing: a failing step rolls back the steps before it', async () => {
    await f.sql(`create or replace function public.pgw_test_fail() returns event_trigger language plpgsql as
                 $$ begin raise exception 'index creation refused by test'; end $$`);
    await f.sql(`create event trigger pgw_test_fail_index on ddl_command_end when tag in ('CREATE INDEX')
                 execute function public.pgw_test_fail()`);
    await expect(
      applyRls(f.admin, { tables: [{ table: 'app.users', tenantColumn: 'full_name' }] }),
    ).rejects.toMatchObject({
      code: ErrorCodes.DATABASE_ERROR,
      message: expect.stringContaining('create index'),
    });
    expect(await rlsState('app.users')).toEqual({ enabled: false, forced: false, policies: 0 });
  });
});

describe('refusals', () => {
  const protect = (over: Record<string, unknown>) =>
    planRls(f.admin, { tables: [{ table: 'app.invoices', tenantColumn: 'tenant_id', ...over }] });

  it('refuses an unknown table with PW350', async () => {
    await expect(protect({ table: 'app.nope' })).rejects.toMatchObject({ code: ErrorCodes.RLS_UNKNOWN_TABLE });
    await expect(protect({ table: 'a.b.c.d' })).rejects.toMatchObject({ code: ErrorCodes.RLS_UNKNOWN_TABLE });
  });

  it('refuses an unknown tenant or owner column with PW351', async () => {
    await expect(protect({ tenantColumn: 'tenant' })).rejects.toMatchObject({ code: ErrorCodes.RLS_UNKNOWN_COLUMN });
    await expect(protect({ ownerColumn: 'owner' })).rejects.toMatchObject({ code: ErrorCodes.RLS_UNKNOWN_COLUMN });
  });

  it('refuses a column it cannot compare with PW352', async () => {
    await expect(protect({ tenantColumn: 'issued_at' })).rejects.toMatchObject({ code: ErrorCodes.RLS_COLUMN_TYPE });
    await f.sql(`create table app.padded (tenant_id character(8))`);
    await expect(
      planRls(f.admin, { tables: [{ table: 'app.padded', tenantColumn: 'tenant_id' }] }),
    ).rejects.toMatchObject({ code: ErrorCodes.RLS_COLUMN_TYPE });
  });

  it('refuses a table owned by a request role, or one of pgwarden, with PW353', async () => {
    await f.sql(`create table app.owned_by_request (tenant_id text)`);
    await f.sql(`alter table app.owned_by_request owner to pgw_app_user`);
    await expect(
      planRls(f.admin, { tables: [{ table: 'app.owned_by_request', tenantColumn: 'tenant_id' }] }),
    ).rejects.toMatchObject({ code: ErrorCodes.RLS_UNSAFE_OWNER });
    await expect(planRls(f.admin, { tables: [{ table: 'auth.users', tenantColumn: 'tenant' }] })).rejects.toMatchObject(
      { code: ErrorCodes.RLS_UNSAFE_OWNER, message: expect.stringContaining("pgwarden's own") },
    );
  });

  it('refuses a view with PW355 and points at protect-view', async () => {
    await f.sql(`create view app.invoice_numbers as select number from app.invoices`);
    await expect(protect({ table: 'app.invoice_numbers' })).rejects.toMatchObject({
      code: ErrorCodes.RLS_NOT_A_TABLE,
      hint: expect.stringContaining('protect-view'),
    });
  });

  it('refuses policy roles that are unknown, can log in or bypass RLS with PW356', async () => {
    const login = uniqueRole('rls_login');
    await f.sql(`create role ${login} login`);
    for (const role of ['no_such_role_x', login, 'postgres', 'pgw_authenticator']) {
      await expect(protect({ roles: [role] })).rejects.toMatchObject({ code: ErrorCodes.RLS_BAD_ROLE });
    }
  });

  it('accepts the role keys app_user and anon and warns when a role cannot use the helpers', async () => {
    const plain = uniqueRole('rls_plain');
    await f.sql(`create role ${plain} nologin`);
    const plan = await protect({ roles: ['app_user', 'anon', plain] });
    expect(plan.steps.find((s) => s.kind === 'create-policy')?.sql).toContain(`to pgw_anon, pgw_app_user, ${plain}`);
    expect(plan.warnings.join('\n')).toContain(`role ${plain} has no USAGE on schema auth`);
  });

  it('refuses bad options and bad files with PW357, listing every problem', async () => {
    await expect(protect({ permission: 'Invoices Read' })).rejects.toMatchObject({ code: ErrorCodes.RLS_SPEC_INVALID });
    await expect(protect({ grant: ['truncate'] })).rejects.toMatchObject({ code: ErrorCodes.RLS_SPEC_INVALID });
    expect(() => parseRlsFile('tables:\n  app.t: { tenantColum: x }\nextra: 1', 'bad.yaml')).toThrow(
      expect.objectContaining({
        code: ErrorCodes.RLS_SPEC_INVALID,
        detail: expect.stringMatching(/app\.t\.tenantColumn[\s\S]*extra/),
      }),
    );
    expect(() => parseRlsFile('tables: [unclosed', 'broken.yaml')).toThrow(
      expect.objectContaining({ code: ErrorCodes.RLS_SPEC_INVALID }),
    );
    await expect(
      planRls(f.admin, {
        tables: [
          { table: 'app.invoices', tenantColumn: 'tenant_id' },
          { table: 'app."invoices"', tenantColumn: 'tenant_id' },
        ],
      }),
    ).rejects.toMatchObject({ code: ErrorCodes.RLS_SPEC_INVALID, detail: expect.stringContaining('listed twice') });
  });

  it('refuses protect-view on something that is not a view with PW358', async () => {
    await expect(planRls(f.admin, { views: ['app.invoices'] })).rejects.toMatchObject({
      code: ErrorCodes.RLS_NOT_A_VIEW,
    });
  });

  it('refuses to protect a table where the identity helpers are not installed (PW314)', async () => {
    const bare = await emptyDatabase();
    await withClient(bare, async (c) => {
      await c.query('create table t (tenant_id text)');
      await expect(planRls(c, { tables: [{ table: 't', tenantColumn: 'tenant_id' }] })).rejects.toMatchObject({
        code: ErrorCodes.AUTH_NOT_INSTALLED,
      });
    });
  });
});

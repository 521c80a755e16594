import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempCwd, urlOf } from '../cli/run-cli.js';
import { type RlsFixture, rlsFixture } from './fixture.js';

// `pgwarden rls …` through the built binary (dist/; run `npm run build` first).
let f: RlsFixture;
let cwd: string;
let remove: () => Promise<void>;
let db: string[];

beforeAll(async () => {
  f = await rlsFixture();
  ({ dir: cwd, remove } = await tempCwd());
  db = ['--database-url', urlOf(f.db)];
});
afterAll(async () => {
  await f?.close();
  await remove?.();
});

const pgwarden = (...args: string[]) => runCli([...args, ...db], { cwd });
const json = async (...args: string[]) => {
  const r = await pgwarden(...args, '--json');
  return { code: r.code, out: JSON.parse(r.stdout) as Record<string, unknown> & { error?: { code: string } } };
};
const policyCount = async (table: string) =>
  (await f.sql<{ n: number }>('select count(*)::int as n from pg_policy where polrelid = $1::regclass', [table]))[0]!.n;

describe('pgwarden rls protect', () => {
  it('prints the SQL on --dry-run and changes nothing', async () => {
    const r = await pgwarden('rls', 'protect', 'app.projects', '--tenant-column', 'tenant_id', '--dry-run');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('begin;');
    expect(r.stdout).toContain('alter table app.projects force row level security;');
    expect(r.stdout).toContain(
      'create policy pgw_tenant_update on app.projects as permissive for update\n  to pgw_app_user\n' +
        '  using (tenant_id = (select auth.tenant_id())::uuid)\n  with check (tenant_id = (select auth.tenant_id())::uuid);',
    );
    expect(await policyCount('app.projects')).toBe(0);
  });

  it('protects a table in one transaction, and says so when run again', async () => {
    const first = await json(
      'rls',
      'protect',
      'app.projects',
      '--tenant-column',
      'tenant_id',
      '--read-permission',
      'invoices.read',
      '--role',
      'app_user',
      '--grant',
      'select',
      'insert',
    );
    expect(first.code).toBe(0);
    expect(first.out).toMatchObject({ ok: true, dryRun: false, tables: ['app.projects'] });
    expect(first.out.applied).toBeGreaterThanOrEqual(7);
    expect(await policyCount('app.projects')).toBe(4);
    const again = await pgwarden(
      'rls',
      'protect',
      'app.projects',
      '--tenant-column',
      'tenant_id',
      '--read-permission',
      'invoices.read',
      '--grant',
      'select,insert',
    );
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Nothing to do');
  });

  it('exits 1 with PW350 for an unknown table and 2 with PW001 without --tenant-column', async () => {
    const unknown = await json('rls', 'protect', 'app.nope', '--tenant-column', 'tenant_id');
    expect(unknown.code).toBe(1);
    expect(unknown.out.error?.code).toBe('PW350');
    const usage = await json('rls', 'protect', 'app.invoices');
    expect(usage.code).toBe(2);
    expect(usage.out.error?.code).toBe('PW001');
  });
});

describe('pgwarden rls plan / apply', () => {
  it('plans from pgwarden.rls.yaml, applies it, and applies nothing the second time', async () => {
    await writeFile(
      join(cwd, 'pgwarden.rls.yaml'),
      [
        'tables:',
        '  app.projects: { tenantColumn: tenant_id, permission: { read: invoices.read }, grant: [select, insert] }',
        '  app.invoices:',
        '    tenantColumn: tenant_id',
        '    permission: { read: invoices.read, write: invoices.write }',
        'views: []',
      ].join('\n'),
    );
    const plan = await pgwarden('rls', 'plan');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('app.invoices');
    expect(plan.stdout).toContain('+ enable row level security');
    expect(plan.stdout).toContain('nothing was changed');
    expect(await policyCount('app.invoices')).toBe(0);

    const apply = await json('rls', 'apply');
    expect(apply.code).toBe(0);
    expect(apply.out.changes).toBe(apply.out.applied);
    expect(await policyCount('app.invoices')).toBe(4);

    const again = await pgwarden('rls', 'apply');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Nothing to do: the database already matches.');
  });

  it('reads --file and exits 1 with PW357 when there is no policy file', async () => {
    await writeFile(join(cwd, 'other.yaml'), 'tables:\n  app.users: { tenantColumn: tenant_id }\nprune: false\n');
    const plan = await json('rls', 'plan', '--file', 'other.yaml');
    expect(plan.code).toBe(0);
    expect(plan.out.tables).toEqual(['app.users']);
    const { dir, remove: rm } = await tempCwd();
    try {
      const r = await runCli(['rls', 'plan', '--json', ...db], { cwd: dir });
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout).error.code).toBe('PW357');
    } finally {
      await rm();
    }
  });
});

describe('pgwarden rls status and protect-view', () => {
  it('reports tables, views and findings, and fails on --fail-on high while a table is unprotected', async () => {
    await f.sql('grant usage on schema app to pgw_app_user');
    await f.sql('grant select on app.tenants to pgw_app_user');
    await f.sql('create view app.project_names as select tenant_id, name from app.projects');
    const status = await json('rls', 'status', '--schema', 'app');
    expect(status.code).toBe(0);
    expect(status.out.schemas).toEqual(['app']);
    expect(status.out.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'unprotected', object: 'app.tenants' }),
        expect.objectContaining({ kind: 'view-leaks', object: 'app.project_names' }),
      ]),
    );
    const text = await pgwarden('rls', 'status', '--schema', 'app', '--fail-on', 'high');
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/app\.tenants\s+off/);
    expect(text.stdout).toContain('UNPROTECTED');
  });

  it('sets security_invoker on a view with protect-view', async () => {
    const dry = await pgwarden('rls', 'protect-view', 'app.project_names', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('alter view app.project_names set (security_invoker = true);');
    const real = await json('rls', 'protect-view', 'app.project_names');
    expect(real.out).toMatchObject({ ok: true, applied: 1, views: ['app.project_names'] });
    const [row] = await f.sql<{ reloptions: string[] }>(
      `select reloptions from pg_class where oid = 'app.project_names'::regclass`,
    );
    expect(row!.reloptions).toEqual(['security_invoker=true']);
    const notView = await json('rls', 'protect-view', 'app.invoices');
    expect(notView.out.error?.code).toBe('PW358');
  });

  it('lists the rls subcommands in --help', async () => {
    const r = await runCli(['rls', '--help'], { cwd });
    expect(r.code).toBe(0);
    for (const sub of ['protect', 'protect-view', 'plan', 'apply', 'status']) expect(r.stdout).toContain(sub);
  });
});

import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quoteIdent } from '../../src/db/client.js';
import { runCli, tempCwd, urlOf } from '../cli/run-cli.js';
import { type AuthFixture, authFixture, goodPassword, uniqueEmail } from '../helpers/auth.js';

// `pgwarden rbac …` through the built binary (run `npm run build` first), against a fresh clone.
let f: AuthFixture;
let cwd: string;
let removeCwd: () => Promise<void>;
let url: string;
let auditorUrl: string;
let email: string;
let userId: string;

beforeAll(async () => {
  f = await authFixture();
  ({ dir: cwd, remove: removeCwd } = await tempCwd());
  url = urlOf(f.db);
  email = uniqueEmail('cli');
  userId = (await f.auth.register({ email, password: goodPassword, tenant: 'acme' })).userId!;
  const login = `rbac_auditor_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await f.sql(`create role ${quoteIdent(login)} login password '${password}' in role pgw_auditor`);
  auditorUrl = urlOf({ ...f.db, user: login }, { password });
});
afterAll(async () => {
  await removeCwd?.();
  await f?.close();
});

const rbac = (args: string[], databaseUrl = url) => runCli(['rbac', ...args, '--database-url', databaseUrl], { cwd });
const json = async (args: string[], databaseUrl = url) => {
  const r = await rbac([...args, '--json'], databaseUrl);
  return { code: r.code, body: JSON.parse(r.stdout) as Record<string, unknown>, stderr: r.stderr };
};

// The tests of this file build on each other: define, grant, list, revoke, drop.
describe('pgwarden rbac', () => {
  it('defines a role with its permissions', async () => {
    const r = await rbac([
      'role',
      'define',
      'billing',
      '--permission',
      'invoice.read',
      '--permission',
      'invoice.write',
      '--description',
      'billing clerks',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Defined role billing: invoice.read, invoice.write');
  });

  it('redefines a role under --json, saying what it added and removed', async () => {
    const { code, body } = await json(['role', 'define', 'billing', '-p', 'invoice.read', 'invoice.void']);
    expect(code).toBe(0);
    expect(body).toEqual({
      ok: true,
      role: {
        role: 'billing',
        description: 'billing clerks',
        permissions: ['invoice.read', 'invoice.void'],
        assignments: 0,
      },
      created: false,
      added: ['invoice.void'],
      removed: ['invoice.write'],
    });
  });

  it('grants a role to a user named by e-mail in any case, recording the OS and database user', async () => {
    const { code, body } = await json(['grant', email.toUpperCase(), 'billing', '--tenant', 'acme']);
    expect(code).toBe(0);
    expect(body).toEqual({ ok: true, userId, email, tenant: 'acme', role: 'billing', granted: true });
    const [row] = await f.sql('select granted_by from auth.role_assignments where user_id = $1', [userId]);
    expect(row).toEqual({ granted_by: `os:${userInfo().username} db:${f.db.user}` });
    const again = await rbac(['grant', userId, 'billing', '--tenant', 'acme']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already holds billing in tenant acme');
  });

  it('lists roles with their permissions and assignment counts', async () => {
    const text = await rbac(['roles']);
    expect(text.code).toBe(0);
    const line = text.stdout.split('\n').find((l) => l.startsWith('billing'));
    expect(line).toMatch(/^billing\s+invoice\.read, invoice\.void\s+1\s+billing clerks$/);
    const { body } = await json(['roles']);
    expect(body.roles).toEqual([
      { role: 'billing', description: 'billing clerks', permissions: ['invoice.read', 'invoice.void'], assignments: 1 },
    ]);
  });

  it('lists assignments, filtered by user and by tenant', async () => {
    const text = await rbac(['list', '--user', email]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^acme\\s+${email.replaceAll('.', '\\.')}\\s+billing\\s+os:`, 'm'));
    const [byUser, otherTenant] = await Promise.all([
      json(['list', '--user', userId, '--tenant', 'acme']),
      json(['list', '--tenant', 'globex']),
    ]);
    expect(byUser.body.assignments).toEqual([
      expect.objectContaining({ userId, email, tenant: 'acme', role: 'billing', grantedAt: expect.any(String) }),
    ]);
    expect(otherTenant.body.assignments).toEqual([]);
  });

  it('lets an auditor list and denies it every change with PW342', async () => {
    const list = await json(['roles'], auditorUrl);
    expect(list.code).toBe(0);
    expect((list.body.roles as unknown[]).length).toBe(1);
    const denied = await rbac(['revoke', email, 'billing', '--tenant', 'acme'], auditorUrl);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('error PW342');
    expect(denied.stderr).toContain('hint: connect as a member of pgw_security_admin');
  });

  it('revokes a role, and says so when there was nothing to revoke', async () => {
    const { code, body } = await json(['revoke', email, 'billing', '--tenant', 'acme']);
    expect(code).toBe(0);
    expect(body).toMatchObject({ ok: true, userId, tenant: 'acme', role: 'billing', revoked: true });
    const again = await rbac(['revoke', email, 'billing', '--tenant', 'acme']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('does not hold billing in tenant acme; nothing revoked');
  });

  it('drops a role, and says so when there was none', async () => {
    const first = await rbac(['role', 'drop', 'billing']);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('Dropped role billing');
    const { body } = await json(['role', 'drop', 'billing']);
    expect(body).toEqual({ ok: true, role: 'billing', dropped: false });
  });
});

describe('pgwarden rbac errors', () => {
  it('exits 1 with PW309 for an unknown user, PW341 for an unknown role, PW340 for a bad name', async () => {
    await rbac(['role', 'define', 'known', '-p', 'x.y']);
    const [ghost, noRole, badName] = await Promise.all([
      json(['grant', uniqueEmail('ghost'), 'known', '--tenant', 'acme']),
      json(['grant', email, 'unknown', '--tenant', 'acme']),
      json(['role', 'define', 'Bad Name', '-p', 'x.y']),
    ]);
    for (const [r, code] of [
      [ghost, 'PW309'],
      [noRole, 'PW341'],
      [badName, 'PW340'],
    ] as const) {
      expect(r.code).toBe(1);
      expect(r.body).toMatchObject({ ok: false, error: { code } });
    }
  });

  it('exits 2 with PW001 when --tenant or --permission is missing', async () => {
    const [noTenant, noPermission] = await Promise.all([
      json(['grant', email, 'known']),
      json(['role', 'define', 'known']),
    ]);
    for (const r of [noTenant, noPermission]) {
      expect(r.code).toBe(2);
      expect(r.body).toMatchObject({ ok: false, error: { code: 'PW001' } });
    }
  });
});

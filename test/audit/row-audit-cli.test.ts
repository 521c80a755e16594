import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionConfig } from '../../src/db/client.js';
import { runCli, tempCwd, urlOf } from '../cli/run-cli.js';
import { installedDatabase } from '../helpers/db.js';

// `pgwarden audit enable|disable` through the built binary (run `npm run build` first).
let db: ConnectionConfig;
let cwd: string;
let removeCwd: () => Promise<void>;

beforeAll(async () => {
  db = await installedDatabase();
  ({ dir: cwd, remove: removeCwd } = await tempCwd());
  const c = new pg.Client(db);
  await c.connect();
  await c.query(
    'create table public.orders (id int primary key, card text, tmp text); create table public.logs (a int)',
  );
  await c.end();
});
afterAll(async () => {
  await removeCwd?.();
});

const audit = (args: string[]) => runCli(['audit', ...args, '--database-url', urlOf(db)], { cwd });
const triggers = async () => {
  const c = new pg.Client(db);
  await c.connect();
  try {
    const r = await c.query(
      `select t.exclude_columns, t.redact_columns from audit.audited_tables t where table_oid = 'public.orders'::regclass`,
    );
    return r.rows;
  } finally {
    await c.end();
  }
};

describe('pgwarden audit', () => {
  it('enables capture with excluded and redacted columns (--json)', async () => {
    const r = await audit([
      'enable',
      'public.orders',
      '--exclude-columns',
      'tmp',
      '--redact-columns',
      'card',
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, enabled: true, exclude: ['tmp'], redact: ['card'] });
    expect(await triggers()).toEqual([{ exclude_columns: ['tmp'], redact_columns: ['card'] }]);
  });

  it('refuses a table without a primary key with PW420', async () => {
    const r = await audit(['enable', 'public.logs']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('PW420');
  });

  it('disables capture', async () => {
    const r = await audit(['disable', 'public.orders']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Stopped auditing public.orders');
    expect(await triggers()).toEqual([]);
  });
});

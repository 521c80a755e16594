import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, withClient } from '../../src/db/client.js';
import { emptyDatabase, installedDatabase, serverMajor, uniquePrefix } from '../helpers/db.js';
import { finished, runCli, type ShippedFile, shippedFiles, spawnCli, tempCwd, urlOf, waitForLine } from './run-cli.js';

let cwd: string;
let remove: () => Promise<void>;
let shipped: ShippedFile[];

beforeAll(async () => {
  ({ dir: cwd, remove } = await tempCwd());
  shipped = shippedFiles();
});
afterAll(async () => {
  await remove();
});

const query = <T>(db: ConnectionConfig, sql: string, params: unknown[] = []): Promise<T[]> =>
  withClient(db, async (c) => (await c.query(sql, params)).rows as T[]);

interface LedgerRow {
  module: string;
  version: number;
  name: string;
  sha256: string;
}

/** The ledger rows, or none when pgwarden.migrations does not exist (yet). */
async function ledger(db: ConnectionConfig): Promise<LedgerRow[]> {
  const [exists] = await query<{ t: string | null }>(db, `select to_regclass('pgwarden.migrations')::text as t`);
  if (!exists?.t) return [];
  return query<LedgerRow>(db, 'select module, version, name, sha256 from pgwarden.migrations order by module, version');
}

/** Ledger rows as `module/name@sha256`, comparable with the files on disk. */
const ledgerKeys = (rows: LedgerRow[]) => rows.map((r) => `${r.module}/${r.name}@${r.sha256}`).sort();
const shippedKeys = () => shipped.map((f) => `${f.module}/${f.name}@${f.sha256}`).sort();

const installedEvents = (db: ConnectionConfig) =>
  query<{ details: { modules: Array<{ module: string; from: number; to: number }> } }>(
    db,
    `select details from logs.notification_log where event_type = 'pgwarden.installed'`,
  );

describe('pgwarden install', () => {
  it('prints the plan on --dry-run and changes nothing, then installs and reports it in status', async () => {
    const db = await emptyDatabase();
    const prefix = uniquePrefix();
    const flags = ['--database-url', urlOf(db), '--role-prefix', prefix];

    const dry = await runCli(['install', '--tier', 'basic', '--dry-run', ...flags], { cwd });
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('dry run');
    for (const f of shipped.filter((s) => s.module === 'core')) expect(dry.stdout).toContain(`core/${f.name}`);
    expect(await query(db, `select 1 from pg_namespace where nspname = 'pgwarden'`)).toEqual([]);
    expect(await query(db, 'select 1 from pg_roles where rolname = $1', [`${prefix}owner`])).toEqual([]);

    const real = await runCli(['install', '--tier', 'advanced', ...flags], { cwd });
    expect(real.stderr).toBe('');
    expect(real.code).toBe(0);

    const status = await runCli(['status', '--json', ...flags], { cwd });
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout);
    expect(s.installed).toBe(true);
    expect(s.tier).toBe('advanced');
    expect(s.rolePrefix).toBe(prefix);
    expect(s.modules.length).toBeGreaterThan(0);
    for (const m of s.modules) expect(m.state, m.module).toBe('installed');
    expect(s.server.major).toBe(serverMajor());
    expect(s.extensions.map((e: { name: string }) => e.name).sort()).toEqual([
      'pg_stat_statements',
      'pgaudit',
      'pgcrypto',
    ]);
    expect(s.extensions.find((e: { name: string }) => e.name === 'pgcrypto').installedVersion).toBeTruthy();
  });

  it('says nothing is to do when run on an installed database', async () => {
    const db = await installedDatabase();
    const r = await runCli(['install', '--database-url', urlOf(db), '--json'], { cwd });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, applied: [], plan: [] });
  });

  it('applies every file once when two installs start at the same moment', async () => {
    const db = await emptyDatabase();
    const args = ['install', '--tier', 'advanced', '--database-url', urlOf(db), '--role-prefix', uniquePrefix()];
    const [a, b] = await Promise.all([runCli(args, { cwd }), runCli(args, { cwd })]);
    expect(a.stderr).toBe('');
    expect(b.stderr).toBe('');
    expect([a.code, b.code]).toEqual([0, 0]);

    const rows = await ledger(db);
    expect(rows).toHaveLength(shipped.length);
    expect(ledgerKeys(rows)).toEqual(shippedKeys());

    const events = await installedEvents(db);
    expect(events).toHaveLength(1);
    const modules = [...new Set(shipped.map((f) => f.module))];
    expect(events[0]?.details.modules).toEqual(
      expect.arrayContaining(
        modules.map((module) => ({
          module,
          from: 0,
          to: shipped.filter((f) => f.module === module).length,
        })),
      ),
    );
    expect(events[0]?.details.modules).toHaveLength(modules.length);
  });

  it.each([
    ['its first line', () => true],
    ['its first applied file', (line: string) => line.includes('applied ')],
  ])('stops at a safe point on Ctrl-C after %s and completes on the next run', async (_, when) => {
    const db = await emptyDatabase();
    const args = ['install', '--tier', 'advanced', '--database-url', urlOf(db), '--role-prefix', uniquePrefix()];
    const child = spawnCli(args, { cwd });
    const result = finished(child, 30_000);
    await waitForLine(child, when, 20_000);
    child.kill('SIGINT');
    const interrupted = await result;
    expect([0, 130]).toContain(interrupted.code);
    // 130 either with PW002 (stopped between files) or after a finished install (signal came late).
    expect(interrupted.stderr).not.toContain('PW000');

    // Whatever was applied is whole: each ledger row is a shipped file with its exact hash.
    const partial = ledgerKeys(await ledger(db));
    for (const key of partial) expect(shippedKeys()).toContain(key);

    const again = await runCli(args, { cwd });
    expect(again.code).toBe(0);
    expect(ledgerKeys(await ledger(db))).toEqual(shippedKeys());
  });

  it('exits 130 with PW002 at once on Ctrl-C while waiting for another installer, changing nothing', async () => {
    const db = await emptyDatabase();
    // Another installer holds the lock, so this one is certainly waiting when the signal comes.
    const { connect } = await import('../../src/db/client.js');
    const holder = await connect(db);
    try {
      await holder.query(`select pg_advisory_lock(hashtextextended('pgwarden.install', 0))`);
      const args = ['install', '--database-url', urlOf(db), '--role-prefix', uniquePrefix()];
      const child = spawnCli(args, { cwd });
      const result = finished(child, 30_000);
      await waitForLine(child, () => true, 20_000);
      await new Promise((r) => setTimeout(r, 300));
      const sent = Date.now();
      child.kill('SIGINT');
      const interrupted = await result;
      expect(interrupted.code).toBe(130);
      expect(interrupted.stderr).toContain('PW002');
      expect(Date.now() - sent).toBeLessThan(5_000);
      expect(await ledger(db)).toEqual([]);
    } finally {
      await holder.end();
    }
  });
});

describe('pgwarden uninstall', () => {
  it('refuses --purge without --yes with exit 2 and PW214, leaving the install alone', async () => {
    const db = await installedDatabase();
    const r = await runCli(['uninstall', '--purge', '--database-url', urlOf(db)], { cwd });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('PW214');
    expect(await ledger(db)).toHaveLength(shipped.length);
  });

  it('keeps the security events, and a reinstall adopts them', async () => {
    const db = await emptyDatabase();
    const flags = ['--database-url', urlOf(db), '--role-prefix', uniquePrefix()];
    expect((await runCli(['install', ...flags], { cwd })).code).toBe(0);
    const count = async () =>
      Number((await query<{ n: string }>(db, 'select count(*) as n from logs.notification_log'))[0]?.n);
    const installed = await count();
    expect(installed).toBeGreaterThan(0);

    const un = await runCli(['uninstall', ...flags], { cwd });
    expect(un.stderr).toBe('');
    expect(un.code).toBe(0);
    expect(await query(db, `select 1 from pg_namespace where nspname = 'pgwarden'`)).toEqual([]);
    const kept = await count();
    expect(kept).toBeGreaterThanOrEqual(installed);

    const re = await runCli(['install', ...flags], { cwd });
    expect(re.stderr).toBe('');
    expect(re.code).toBe(0);
    expect(await count()).toBeGreaterThanOrEqual(kept);
    expect(ledgerKeys(await ledger(db))).toEqual(shippedKeys());
  });
});

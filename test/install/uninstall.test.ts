import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { withClient } from '../../src/db/client.js';
import { isPgwardenError } from '../../src/errors/index.js';
import { defaultCatalog, install, readLedger, roleNames, uninstall } from '../../src/install/index.js';
import { emptyDatabase, installedDatabase, uniquePrefix } from '../helpers/db.js';

const events = async (c: pg.ClientBase) =>
  Number((await c.query('select count(*) as n from logs.notification_log')).rows[0].n);
const rolesPresent = async (c: pg.ClientBase, prefix: string) =>
  (
    await c.query('select rolname from pg_roles where rolname = any($1::text[]) order by 1', [
      Object.values(roleNames(prefix)),
    ])
  ).rows.map((r) => r.rolname);

async function freshInstall(prefix: string) {
  const db = await emptyDatabase();
  await withClient(db, (c) => install(c, { tier: 'advanced', rolePrefix: prefix }));
  return db;
}

describe('uninstall', () => {
  it('removes schemas, functions, ledger and roles but keeps the security events with their rows', async () => {
    const prefix = uniquePrefix();
    const db = await freshInstall(prefix);
    await withClient(db, async (c) => {
      await c.query(`select logs.log_event('test.marker', 'info', 'tester', null, null, '{"n": 1}')`);
      const before = await events(c);
      const result = await uninstall(c, { rolePrefix: prefix });
      expect(result.droppedSchemas).toContain('pgwarden');
      expect(result.keptTables).toEqual(['logs.notification_log']);
      expect(result.droppedRoles.sort()).toEqual(Object.values(roleNames(prefix)).sort());
      expect(await rolesPresent(c, prefix)).toEqual([]);
      expect(
        (
          await c.query(
            `select to_regclass('pgwarden.migrations') as t, to_regprocedure('logs.log_event(text,text,text,text,text,jsonb,uuid)') as f`,
          )
        ).rows[0],
      ).toEqual({ t: null, f: null });
      expect(await events(c)).toBe(before + 1);
      const last = (await c.query(`select event_type from logs.notification_log order by id desc limit 1`)).rows[0];
      expect(last.event_type).toBe('pgwarden.uninstalled');
    });
  });

  it('lets a reinstall adopt the kept table, its rows and its identity sequence', async () => {
    const prefix = uniquePrefix();
    const db = await freshInstall(prefix);
    await withClient(db, async (c) => {
      await uninstall(c, { rolePrefix: prefix });
      const kept = await events(c);
      const maxId = Number((await c.query('select max(id) as m from logs.notification_log')).rows[0].m);
      const again = await install(c, { tier: 'advanced', rolePrefix: prefix });
      expect(again.applied.length).toBe(defaultCatalog().files.length);
      expect(await events(c)).toBe(kept + 1);
      const newest = (await c.query(`select id, event_type from logs.notification_log order by id desc limit 1`))
        .rows[0];
      expect(Number(newest.id)).toBeGreaterThan(maxId);
      expect(newest.event_type).toBe('pgwarden.installed');
      const owner = (
        await c.query(`select relowner::regrole::text as o from pg_class where oid = 'logs.notification_log'::regclass`)
      ).rows[0].o;
      expect(owner).toBe(roleNames(prefix).owner);
    });
  });

  it('refuses --purge without confirmation (PW214) and changes nothing', async () => {
    const db = await installedDatabase();
    await withClient(db, async (c) => {
      await expect(uninstall(c, { rolePrefix: 'pgw_', purge: true })).rejects.toMatchObject({
        code: 'PW214',
      });
      expect((await readLedger(c)).length).toBe(defaultCatalog().files.length);
    });
  });

  it('deletes the security events too with purge and confirmation', async () => {
    const prefix = uniquePrefix();
    const db = await freshInstall(prefix);
    await withClient(db, async (c) => {
      const result = await uninstall(c, { rolePrefix: prefix, purge: true, confirm: true });
      expect(result.keptTables).toEqual([]);
      expect((await c.query(`select nspname from pg_namespace where nspname in ('logs', 'pgwarden')`)).rows).toEqual(
        [],
      );
    });
  });

  it('keeps roles another database of the cluster still uses', async () => {
    const prefix = uniquePrefix();
    const first = await freshInstall(prefix);
    await freshInstall(prefix);
    await withClient(first, async (c) => {
      const result = await uninstall(c, { rolePrefix: prefix });
      expect(result.droppedRoles).toEqual([]);
      expect(result.keptRoles.map((r) => r.name)).toContain(roleNames(prefix).owner);
      expect(await rolesPresent(c, prefix)).toHaveLength(6);
    });
  });

  it('reports PW208 where pgwarden is not installed', async () => {
    const db = await emptyDatabase();
    await withClient(db, async (c) => {
      const err = await uninstall(c, { rolePrefix: uniquePrefix() }).catch((e) => e);
      expect(isPgwardenError(err) && err.code).toBe('PW208');
    });
  });
});

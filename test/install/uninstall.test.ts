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

  it('refuses to delete row-change audit records without --purge (PW214), removing nothing', async () => {
    const prefix = uniquePrefix();
    const db = await freshInstall(prefix);
    await withClient(db, async (c) => {
      await c.query(
        `create table public.kept (id int primary key); select audit.enable('public.kept'); insert into public.kept values (1)`,
      );
      const err = await uninstall(c, { rolePrefix: prefix }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'PW214' });
      expect((await c.query(`select count(*)::int as n from audit.row_changes`)).rows[0].n).toBe(1);
      // Purging works once the table no longer depends on pgwarden's capture trigger.
      await c.query(`select audit.disable('public.kept')`);
      const purged = await uninstall(c, { rolePrefix: prefix, purge: true, confirm: true });
      expect(purged.droppedSchemas).toContain('audit');
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

  it('keeps roles another database of the cluster still uses, and drops them with the last uninstall', async () => {
    const prefix = uniquePrefix();
    const first = await freshInstall(prefix);
    const second = await freshInstall(prefix);
    await withClient(first, async (c) => {
      const result = await uninstall(c, { rolePrefix: prefix });
      expect(result.droppedRoles).toEqual([]);
      expect(result.keptRoles.map((r) => r.name)).toContain(roleNames(prefix).owner);
      expect(await rolesPresent(c, prefix)).toHaveLength(7);
    });
    // nothing of the first database (its CREATE grant, default privileges) keeps them alive now
    await withClient(second, async (c) => {
      const result = await uninstall(c, { rolePrefix: prefix });
      expect(result.keptRoles).toEqual([]);
      expect(await rolesPresent(c, prefix)).toEqual([]);
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

describe("uninstall leaves what is not pgwarden's alone", () => {
  it('refuses where pgwarden was never installed, even next to a schema named like its own (PW208)', async () => {
    const db = await emptyDatabase();
    await withClient(db, async (c) => {
      await c.query(
        'create schema logs; create table logs.app_requests (id int); insert into logs.app_requests values (1)',
      );
      await expect(uninstall(c, { rolePrefix: uniquePrefix() })).rejects.toMatchObject({ code: 'PW208' });
      expect(Number((await c.query('select count(*) as n from logs.app_requests')).rows[0].n)).toBe(1);
    });
  });

  it("refuses, removing nothing, when pgwarden's schemas hold objects it did not create (PW215)", async () => {
    const prefix = uniquePrefix();
    const db = await freshInstall(prefix);
    await withClient(db, async (c) => {
      await c.query('create table logs.someone_elses (id int); insert into logs.someone_elses values (7)');
      const err = await uninstall(c, { rolePrefix: prefix }).catch((e) => e);
      expect(err).toMatchObject({ code: 'PW215' });
      expect(err.detail).toContain('logs.someone_elses');
      expect((await readLedger(c)).length).toBe(defaultCatalog().files.length);
      expect(Number((await c.query('select count(*) as n from logs.someone_elses')).rows[0].n)).toBe(1);
    });
  });

  it('rolls back whole when a cascade would reach an object outside pgwarden (PW215)', async () => {
    const prefix = uniquePrefix();
    const db = await freshInstall(prefix);
    await withClient(db, async (c) => {
      // A user column generated from pgcrypto, which pgwarden installed in its own schema.
      await c.query(
        `create table public.docs (body text, sha bytea generated always as (pgwarden.digest(body, 'sha256')) stored)`,
      );
      await c.query(`insert into public.docs (body) values ('hello')`);
      const err = await uninstall(c, { rolePrefix: prefix }).catch((e) => e);
      expect(err).toMatchObject({ code: 'PW215' });
      expect(err.detail).toContain('would remove column public.docs.sha');
      expect((await c.query('select sha is not null as ok from public.docs')).rows[0].ok).toBe(true);
      expect((await readLedger(c)).length).toBe(defaultCatalog().files.length);
      expect(await rolesPresent(c, prefix)).toHaveLength(7);
    });
  });

  it('revokes grants made on a kept table while pgwarden was away when it adopts it again', async () => {
    const prefix = uniquePrefix();
    const db = await freshInstall(prefix);
    await withClient(db, async (c) => {
      await uninstall(c, { rolePrefix: prefix });
      await c.query('grant all on logs.notification_log to public');
      await install(c, { tier: 'advanced', rolePrefix: prefix });
      const acl = (
        await c.query(`select relacl::text[] as acl from pg_class where oid = 'logs.notification_log'::regclass`)
      ).rows[0].acl as string[];
      expect(acl.filter((a) => a.startsWith('='))).toEqual([]);
      await c.query('begin');
      await c.query(`set local role ${prefix}anon`);
      const denied = await c.query('delete from logs.notification_log').then(
        () => 'ok',
        (e: { code?: string }) => e.code,
      );
      await c.query('rollback');
      expect(denied).toBe('42501');
    });
  });
});

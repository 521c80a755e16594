import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionConfig } from '../../src/db/client.js';
import { copyIn } from '../rls/fixture.js';
import { inContext, registerContextKey, testIdentity } from '../helpers/context.js';
import { installedDatabase, serverMajor } from '../helpers/db.js';
import { captureWal, setupWalCapture } from '../../src/audit/capture/index.js';
import type { ContextKey } from '../../src/context/context-seal.js';

// The row-change audit module (sql/audit) against a fresh clone: completeness, rollback,
// privileges, append-only, fail-closed capture, shaping. Every case runs twice: with capture by
// trigger (in the writing transaction) and by WAL decoding (after commit; each read of the trail
// first applies what the log holds, as the capture service would).
for (const capture of ['trigger', 'wal'] as const)
  describe(`${capture} capture`, () => {
    let db: ConnectionConfig;
    let admin: pg.Client;
    let key: ContextKey;
    const sub = '00000000-0000-4000-8000-0000000000a1';

    beforeAll(async () => {
      db = await installedDatabase();
      admin = new pg.Client(db);
      await admin.connect();
      key = await registerContextKey(admin);
      if (capture === 'wal') await setupWalCapture(admin);
      await admin.query(`
    create schema shop;
    grant usage on schema shop to pgw_app_user;
    create table shop.items (id int primary key, name text, price int, secret text, note text);
    create table shop.parents (id int primary key);
    create table shop.children (id int primary key, parent_id int references shop.parents on delete cascade);
    create table shop.parted (id int, region text, v int, primary key (id, region)) partition by list (region);
    create table shop.parted_eu partition of shop.parted for values in ('eu');
    create table shop.parted_us partition of shop.parted for values in ('us');
    create table shop.nopk (a int);
    grant select, insert, update, delete on all tables in schema shop to pgw_app_user;
    select audit.enable('shop.items', '{note}', '{secret}');
    select audit.enable('shop.parents'); select audit.enable('shop.children'); select audit.enable('shop.parted');
  `);
    });
    afterAll(async () => {
      if (capture === 'wal') await admin?.query(`select pg_drop_replication_slot(slot_name) from audit.wal_state`);
      await admin?.end();
    });

    /** Applies what the log holds (WAL capture); nothing to do for trigger capture. */
    const caughtUp = async (): Promise<void> => {
      if (capture === 'wal') await captureWal(admin);
    };

    /** Runs `fn` as a tenant user of a verified request context, through the authenticator login. */
    const asTenant = <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> =>
      inContext(db, key, testIdentity({ sub, tenant: 'tenant-a' }), fn);

    const records = async (table: string, afterId = 0) => {
      await caughtUp();
      return (
        await admin.query(`select * from audit.row_changes where table_oid = $1::regclass and id > $2 order by id`, [
          table,
          afterId,
        ])
      ).rows as Record<string, unknown>[];
    };
    const lastId = async () => {
      await caughtUp();
      return Number((await admin.query('select coalesce(max(id), 0) m from audit.row_changes')).rows[0].m);
    };

    describe('row-change audit completeness [A-01]', () => {
      it('records every changed row with actor, tenant, db role, op, record id, old/new, txid and time', async () => {
        const start = await lastId();
        const txid = await asTenant(async (c) => {
          await c.query(
            `insert into shop.items (id, name, price, secret, note) values (1, 'a', 10, 's1', 'n'), (2, 'b', 20, 's2', 'n')`,
          );
          return (await c.query('select pg_current_xact_id()::text t')).rows[0].t as string;
        });
        const rows = await records('shop.items', start);
        expect(rows).toHaveLength(2);
        for (const r of rows) {
          expect(r).toMatchObject({ op: 'INSERT', actor_sub: sub, actor_tenant: 'tenant-a', db_role: 'pgw_app_user' });
          expect(r.schema_name).toBe('shop');
          expect(r.table_name).toBe('items');
          expect(r.source_txid).toBe(txid);
          expect(r.capture).toBe(capture);
          expect(r.recorded_at).toBeInstanceOf(Date);
          expect(r.session_user_name).toBe('pgw_authenticator');
          expect(r.old_data).toBeNull();
          expect(typeof r.record_id).toBe('string');
        }
        expect(rows[0]!.new_data).toEqual({ id: 1, name: 'a', price: 10, secret: '[redacted]' });
      });

      it('gives a row the same record id across its changes, and lists changed columns of an update', async () => {
        const start = await lastId();
        await asTenant((c) => c.query(`update shop.items set price = 11, secret = 'x' where id = 1`));
        const [u] = await records('shop.items', start);
        const [ins] = (
          await admin.query(`select record_id from audit.row_changes where op = 'INSERT' and new_data->>'id' = '1'
      and table_oid = 'shop.items'::regclass`)
        ).rows;
        expect(u).toMatchObject({ op: 'UPDATE', record_id: ins.record_id, changed_columns: ['price', 'secret'] });
        expect(u!.old_data).toMatchObject({ price: 10, secret: '[redacted]' });
        expect(u!.new_data).toMatchObject({ price: 11, secret: '[redacted]' });
        expect(u!.new_data).not.toHaveProperty('note');
      });

      it('records one row per change through a CTE, DO/EXECUTE, a prepared statement, COPY and ON CONFLICT', async () => {
        const start = await lastId();
        await admin.query(`with x as (insert into shop.items (id, name) values (10, 'cte') returning id)
      update shop.items set name = 'cte2' where id = 2`);
        await admin.query(`do $$ begin execute 'insert into shop.items (id, name) values (11, ''do'')'; end $$`);
        await admin.query({
          name: 'ins-item',
          text: 'insert into shop.items (id, name) values ($1, $2)',
          values: [12, 'prep'],
        });
        await copyIn(admin, 'copy shop.items (id, name) from stdin', '13\tcopy1\n14\tcopy2\n');
        await admin.query(`insert into shop.items (id, name) values (13, 'upsert'), (15, 'new')
      on conflict (id) do update set name = excluded.name`);
        const ops = (await records('shop.items', start)).map((r) => `${r.op}:${(r.new_data as { id: number }).id}`);
        expect(ops.sort()).toEqual(
          [
            'INSERT:10',
            'UPDATE:2',
            'INSERT:11',
            'INSERT:12',
            'INSERT:13',
            'INSERT:14',
            'INSERT:15',
            'UPDATE:13',
          ].sort(),
        );
      });

      it('records MERGE, partitioned tables and FK cascades', async () => {
        const start = await lastId();
        if (serverMajor() >= 15) {
          await admin.query(`merge into shop.items t using (values (12, 'm'), (16, 'm16')) s(id, name) on t.id = s.id
        when matched then update set name = s.name when not matched then insert (id, name) values (s.id, s.name)`);
          expect((await records('shop.items', start)).map((r) => r.op).sort()).toEqual(['INSERT', 'UPDATE']);
        }
        await admin.query(`insert into shop.parted values (1, 'eu', 1), (2, 'us', 2)`);
        expect((await records('shop.parted', start)).map((r) => r.op)).toEqual(['INSERT', 'INSERT']);
        await admin.query(`insert into shop.parents values (1); insert into shop.children values (1, 1), (2, 1)`);
        const before = await lastId();
        await admin.query('delete from shop.parents where id = 1');
        expect((await records('shop.children', before)).map((r) => r.op)).toEqual(['DELETE', 'DELETE']);
        expect(await records('shop.parents', before)).toHaveLength(1);
      });

      it("records tables whose columns share a name with the capture's row aliases (n, o, x)", async () => {
        await admin.query('create table shop.letters (id int primary key, n int, o text, x text)');
        await admin.query(`select audit.enable('shop.letters')`);
        const start = await lastId();
        await admin.query(
          `insert into shop.letters values (1, 2, 'o', 'x'); update shop.letters set n = 3; delete from shop.letters`,
        );
        const rows = await records('shop.letters', start);
        expect(rows.map((r) => [r.op, r.old_data, r.new_data])).toEqual([
          ['INSERT', null, { id: 1, n: 2, o: 'o', x: 'x' }],
          ['UPDATE', { id: 1, n: 2, o: 'o', x: 'x' }, { id: 1, n: 3, o: 'o', x: 'x' }],
          ['DELETE', { id: 1, n: 3, o: 'o', x: 'x' }, null],
        ]);
      });

      it('leaves actor and tenant empty outside a request context', async () => {
        const start = await lastId();
        await admin.query(`insert into shop.items (id) values (30)`);
        const [r] = await records('shop.items', start);
        expect(r).toMatchObject({ actor_sub: null, actor_tenant: null, db_role: db.user });
      });
    });

    describe('rolled-back changes [A-02]', () => {
      it('leaves no record of a rolled-back transaction', async () => {
        const start = await lastId();
        await admin.query('begin');
        await admin.query(`insert into shop.items (id) values (40)`);
        await admin.query('rollback');
        expect(await records('shop.items', start)).toHaveLength(0);
      });
    });

    describe('audit privileges and append-only [A-18]', () => {
      for (const role of ['pgw_app_user', 'pgw_anon', 'pgw_authenticator']) {
        it(`denies ${role} reading, writing and enabling`, async () => {
          for (const sql of [
            'select * from audit.row_changes',
            `insert into audit.row_changes (table_oid, schema_name, table_name, op, db_role) values (1, 'x', 'y', 'INSERT', 'z')`,
            `select audit.enable('shop.nopk')`,
            `select audit.disable('shop.items')`,
          ]) {
            await admin.query('begin');
            await admin.query(`set local role ${role}`);
            await expect(admin.query(sql)).rejects.toMatchObject({ code: '42501' });
            await admin.query('rollback');
          }
        });
      }

      it('allows the auditor to read the trail', async () => {
        await admin.query('begin');
        await admin.query('set local role pgw_auditor');
        await expect(admin.query('select count(*) from audit.row_changes')).resolves.toBeTruthy();
        await admin.query('rollback');
      });

      it('denies the owner role UPDATE, DELETE and TRUNCATE of audit rows, even with the grant back (PW421)', async () => {
        for (const sql of [
          'update audit.row_changes set op = op',
          'delete from audit.row_changes',
          'truncate audit.row_changes',
        ]) {
          await admin.query('begin');
          await admin.query('set local role pgw_owner');
          await expect(admin.query(sql)).rejects.toMatchObject({ code: '42501' });
          await admin.query('rollback');
        }
        for (const sql of [
          'update audit.row_changes set op = op',
          'delete from audit.row_changes',
          'truncate audit.row_changes',
          'truncate audit.row_changes_default',
        ]) {
          await expect(admin.query(sql)).rejects.toMatchObject({ code: 'PW421' });
        }
      });

      it('denies request roles disabling the capture triggers', async () => {
        await admin.query('begin');
        await admin.query('set local role pgw_app_user');
        await expect(admin.query('alter table shop.items disable trigger pgw_audit_insert')).rejects.toMatchObject({
          code: '42501',
        });
        await admin.query('rollback');
      });
    });

    describe.runIf(capture === 'trigger')('fail-closed capture [A-20]', () => {
      it('aborts the business transaction when the audit insert fails', async () => {
        await admin.query(`create function audit._fail() returns trigger language plpgsql as
      $$ begin raise exception 'forced audit failure'; end $$`);
        await admin.query(
          `create trigger zz_fail before insert on audit.row_changes for each row execute function audit._fail()`,
        );
        try {
          await expect(asTenant((c) => c.query(`insert into shop.items (id) values (50)`))).rejects.toThrow(
            'forced audit failure',
          );
          expect((await admin.query('select 1 from shop.items where id = 50')).rowCount).toBe(0);
        } finally {
          await admin.query('drop trigger zz_fail on audit.row_changes; drop function audit._fail()');
        }
      });
    });

    describe('audit.enable and audit.disable', () => {
      it('refuses a table without a primary key and pgwarden schemas (PW420)', async () => {
        await expect(admin.query(`select audit.enable('shop.nopk')`)).rejects.toMatchObject({ code: 'PW420' });
        await expect(admin.query(`select audit.enable('logs.notification_log')`)).rejects.toMatchObject({
          code: 'PW420',
        });
      });

      it('is idempotent, logs a security event, and stops capturing once disabled', async () => {
        await admin.query(`select audit.enable('shop.parents'); select audit.enable('shop.parents')`);
        expect(
          (
            await admin.query(
              `select 1 from pg_trigger where tgrelid = 'shop.parents'::regclass and tgname like 'pgw_audit%'`,
            )
          ).rowCount,
        ).toBe(4);
        await admin.query(`select audit.disable('shop.parents')`);
        const start = await lastId();
        await admin.query('insert into shop.parents values (99)');
        expect(await records('shop.parents', start)).toHaveLength(0);
        const events = await admin.query(
          `select event_type from logs.notification_log where event_type like 'audit.table_%' and subject = 'shop.parents'`,
        );
        expect(events.rows.map((r) => r.event_type)).toContain('audit.table_disabled');
        expect(events.rows.map((r) => r.event_type)).toContain('audit.table_enabled');
      });
    });
  });

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureWal, setupWalCapture, startWalCaptureService, walCaptureSlot } from '../../src/audit/capture/index.js';
import { initLedger, sealLedger, verifyLedger } from '../../src/audit/ledger/index.js';
import { generateMasterKey, parseMasterKey } from '../../src/auth/crypto/index.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import type { ContextKey } from '../../src/context/context-seal.js';
import { inContext, registerContextKey, testIdentity } from '../helpers/context.js';
import { installedDatabase } from '../helpers/db.js';
import { rejected } from '../helpers/errors.js';

// What is particular to WAL capture (sql/audit/0006, src/audit/capture): the context cannot be
// forged or silently dropped, each change is applied exactly once through failures, switching
// capture modes under load loses and doubles nothing, a lost slot is loud. The row-change cases
// both capture modes share run in row-audit.test.ts.
let db: ConnectionConfig;
let admin: pg.Client;
let key: ContextKey;
const sub = '00000000-0000-4000-8000-0000000000b2';

beforeAll(async () => {
  db = await installedDatabase();
  admin = new pg.Client(db);
  await admin.connect();
  key = await registerContextKey(admin);
  await setupWalCapture(admin);
  await admin.query(`
    create schema wal;
    grant usage on schema wal to pgw_app_user;
    create table wal.items (id int primary key, name text, secret text, note text);
    create table wal.load (id int primary key, v int);
    grant usage on schema wal to pgw_authenticator;
    grant select, insert, update, delete on all tables in schema wal to pgw_app_user, pgw_authenticator;
    select audit.enable('wal.items', '{note}', '{secret}');
    select audit.enable('wal.load');
  `);
});
afterAll(async () => {
  await admin?.query(`select pg_drop_replication_slot(slot_name) from audit.wal_state`).catch(() => undefined);
  await admin?.end();
});

const lastId = async (): Promise<number> => {
  await captureWal(admin);
  return Number((await admin.query('select coalesce(max(id), 0) m from audit.row_changes')).rows[0].m);
};
const recordsAfter = async (id: number, table = 'wal.items') => {
  await captureWal(admin);
  return (
    await admin.query(`select * from audit.row_changes where id > $1 and table_oid = $2::regclass order by id`, [
      id,
      table,
    ])
  ).rows as Record<string, unknown>[];
};
const eventsOf = async (type: string) =>
  (await admin.query(`select * from logs.notification_log where event_type = $1 order by id`, [type])).rows;

/** A client whose queries matching `pattern` fail once, as if the process died right there. */
function failingOn(client: pg.Client, pattern: RegExp): pg.Client {
  let armed = true;
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver);
      return (text: unknown, ...rest: unknown[]) => {
        const sql = typeof text === 'string' ? text : String((text as { text?: string }).text);
        if (armed && pattern.test(sql)) {
          armed = false;
          return Promise.reject(new Error('injected crash'));
        }
        return (target.query as (...a: unknown[]) => Promise<unknown>)(text, ...rest);
      };
    },
  });
}

describe('WAL capture setup', () => {
  it('uses WAL capture by default once set up, with REPLICA IDENTITY FULL and the table published', async () => {
    const { rows } = await admin.query(
      `select a.capture, c.relreplident, audit._wal_published(a.table_oid) as published
         from audit.audited_tables a join pg_class c on c.oid = a.table_oid where a.table_oid = 'wal.items'::regclass`,
    );
    expect(rows[0]).toEqual({ capture: 'wal', relreplident: 'f', published: true });
    expect((await setupWalCapture(admin)).created).toBe(false);
  });

  it('costs the writer one context row per transaction, not per statement', async () => {
    const c = new pg.Client(db);
    await c.connect();
    try {
      await c.query('begin');
      for (let i = 0; i < 5; i++) await c.query('insert into wal.load values ($1, 0)', [1000 + i]);
      await c.query(`update wal.load set v = 1 where id >= 1000`);
      const n = await c.query(`select count(*)::int n from audit.wal_context where txid = pg_current_xact_id()`);
      await c.query('commit');
      expect(n.rows[0].n).toBe(1);
    } finally {
      await c.end();
    }
  });
});

describe('WAL capture context [A-18]', () => {
  it('records the verified actor and tenant, and a new context row when the context changes mid-transaction', async () => {
    const start = await lastId();
    await inContext(db, key, testIdentity({ sub, tenant: 'tenant-w' }), async (c) => {
      await c.query(`insert into wal.items (id, name, secret) values (1, 'a', 's')`);
      await c.query(`reset role`);
      await c.query(`insert into wal.items (id, name) values (2, 'b')`);
    });
    const rows = await recordsAfter(start);
    expect(rows.map((r) => [r.actor_sub, r.actor_tenant, r.db_role, r.capture])).toEqual([
      [sub, 'tenant-w', 'pgw_app_user', 'wal'],
      [null, null, 'pgw_authenticator', 'wal'],
    ]);
    expect(rows[0]!.new_data).toEqual({ id: 1, name: 'a', secret: '[redacted]' });
    expect(rows[0]!.session_user_name).toBe('pgw_authenticator');
  });

  it('denies request roles writing a forged context row', async () => {
    await admin.query('begin');
    await admin.query('set local role pgw_app_user');
    await expect(
      admin.query(`insert into audit.wal_context (db_role, actor_sub) values ('pgw_security_admin', 'someone')`),
    ).rejects.toMatchObject({ code: '42501' });
    await admin.query('rollback');
  });

  it('cannot be made to skip or reuse a context row by a setting a user controls', async () => {
    const start = await lastId();
    const before = (await eventsOf('audit.wal_context_missing')).length;
    await inContext(db, key, testIdentity({ sub, tenant: 'tenant-w' }), async (c) => {
      // What an earlier design keyed its WHEN test on: setting it changes nothing now.
      await c.query(`select set_config('pgwarden.audit_wal', concat(pg_current_xact_id(), '/',
        current_setting('role'), '/', current_setting('pgwarden.context_mac', true)), true)`);
      await c.query(`insert into wal.items (id, name) values (3, 'seen')`);
      // Switching role mid-transaction (the login is a member of both) gets a row of its own.
      await c.query('reset role');
      await c.query(`insert into wal.items (id, name) values (4, 'as login')`);
    });
    const rows = await recordsAfter(start);
    expect(rows.map((r) => [r.db_role, r.actor_sub])).toEqual([
      ['pgw_app_user', sub],
      ['pgw_authenticator', null],
    ]);
    expect(await eventsOf('audit.wal_context_missing')).toHaveLength(before);
  });

  it('denies request roles writing the per-backend context memo', async () => {
    await admin.query('begin');
    await admin.query('set local role pgw_app_user');
    await expect(
      admin.query(`insert into audit.wal_context_seen values (pg_backend_pid(), 'x')`),
    ).rejects.toMatchObject({
      code: '42501',
    });
    await admin.query('rollback');
  });

  it("never runs a table owner's code in the capture login (domain CHECK, cast from text)", async () => {
    await admin.query(`
      create role wal_owner login password 'pw-owner' in role pgw_security_admin;
      grant create, usage on schema wal to wal_owner;
      create table wal.pwned (who text);
      grant insert on wal.pwned to public;`);
    const owner = new pg.Client({ ...db, user: 'wal_owner', password: 'pw-owner' });
    await owner.connect();
    try {
      await owner.query(`
        create function wal.pwn(text) returns boolean language plpgsql as
          $$ begin insert into wal.pwned values (current_user); return true; end $$;
        create domain wal.tag as text check (wal.pwn(value));
        create type wal.mood as (v text);
        create function wal.mood_in(text) returns wal.mood language plpgsql as
          $$ begin insert into wal.pwned values (current_user); return row($1)::wal.mood; end $$;
        create cast (text as wal.mood) with function wal.mood_in(text);
        create table wal.owned (id int primary key, t wal.tag, ts wal.tag[], m wal.mood);`);
      // The table's owner enables WAL capture: it needs to own the publication too.
      await admin.query('alter publication pgwarden_audit owner to wal_owner');
      await owner.query(`select audit.enable('wal.owned', '{}', '{}', 'wal')`);
      const start = await lastId();
      await admin.query('truncate wal.pwned');
      await owner.query(`insert into wal.owned values (1, 'x', '{a,b}', row('happy'))`);
      // The writer's own session ran the CHECK (as it must); the capture must not run it again.
      await admin.query('truncate wal.pwned');
      const [r] = await recordsAfter(start, 'wal.owned');
      expect((await admin.query('select * from wal.pwned')).rows).toEqual([]);
      expect(r!.new_data).toEqual({ id: 1, t: 'x', ts: ['a', 'b'], m: '(happy)' });
    } finally {
      await owner.end();
      await admin.query(`select audit.disable('wal.owned')`);
      await admin.query('alter publication pgwarden_audit owner to current_user');
    }
  });

  it('still records changes made with triggers off (session_replication_role = replica)', async () => {
    const start = await lastId();
    await admin.query(`begin; set local session_replication_role = replica;
      update wal.items set name = 'quiet' where id = 3; commit`);
    const rows = await recordsAfter(start);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ op: 'UPDATE', db_role: null, changed_columns: ['name'] });
  });
});

describe('WAL capture exactly once [A-01] [A-20]', () => {
  it('applies a change once when the capture dies after its commit but before the slot moved', async () => {
    const start = await lastId();
    await admin.query(`insert into wal.items (id, name) values (10, 'once')`);
    await expect(captureWal(failingOn(admin, /pg_replication_slot_advance/))).rejects.toThrow('injected crash');
    await captureWal(admin);
    await captureWal(admin);
    expect((await recordsAfter(start)).map((r) => (r.new_data as { id: number }).id)).toEqual([10]);
  });

  it('applies nothing from a capture that died before its commit, and everything on the next', async () => {
    const start = await lastId();
    await admin.query(`insert into wal.items (id, name) values (11, 'retry'), (12, 'retry')`);
    await expect(captureWal(failingOn(admin, /^commit$/))).rejects.toThrow('injected crash');
    await admin.query('rollback').catch(() => undefined);
    expect((await admin.query('select count(*)::int n from audit.row_changes where id > $1', [start])).rows[0].n).toBe(
      0,
    );
    expect((await recordsAfter(start)).map((r) => (r.new_data as { id: number }).id)).toEqual([11, 12]);
  });

  it('keeps the log while the trail refuses rows, and applies it once the fault is gone', async () => {
    const start = await lastId();
    await admin.query(`create function audit._fail() returns trigger language plpgsql as
      $$ begin raise exception 'forced audit failure'; end $$`);
    await admin.query(
      `create trigger zz_fail before insert on audit.row_changes for each row execute function audit._fail()`,
    );
    try {
      await admin.query(`insert into wal.items (id, name) values (13, 'kept')`);
      await expect(captureWal(admin)).rejects.toThrow('forced audit failure');
      // The writer's change committed; its record is in the log, held by the slot.
    } finally {
      await admin.query('drop trigger zz_fail on audit.row_changes; drop function audit._fail()');
    }
    expect((await recordsAfter(start)).map((r) => (r.new_data as { id: number }).id)).toEqual([13]);
  });

  it('refuses an apply that does not continue from the applied position (two services) (PW424)', async () => {
    await captureWal(admin);
    const slot = await walCaptureSlot(admin);
    await expect(
      admin.query(
        `select audit._wal_apply($1, '0/1', '0/2', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')`,
        [slot],
      ),
    ).rejects.toMatchObject({ code: 'PW424' });
  });

  it('denies the apply to a login that may not read the log', async () => {
    // session_user decides (a SET ROLE cannot borrow the attribute): a plain login is refused.
    const login = 'wal_plain_login';
    await admin.query(`create role ${login} login password 'pw-wal' in role pgw_security_admin`);
    const c = new pg.Client({ ...db, user: login, password: 'pw-wal' });
    await c.connect();
    try {
      await expect(
        c.query(
          `select audit._wal_apply('x', '0/1', '0/2', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}')`,
        ),
      ).rejects.toMatchObject({ code: 'PW424' });
      expect((await rejected(captureWal(c))).code).toBe('PW424');
    } finally {
      await c.end();
    }
  });

  it('captures a transaction larger than one fetch, and a TRUNCATE', async () => {
    const start = await lastId();
    await admin.query('insert into wal.load select g, g from generate_series(20001, 32000) g');
    await admin.query('truncate wal.load');
    const rows = await recordsAfter(start, 'wal.load');
    expect(rows).toHaveLength(12001);
    expect(rows.at(-1)).toMatchObject({ op: 'TRUNCATE', record_id: null });
    expect(new Set(rows.slice(0, -1).map((r) => (r.new_data as { id: number }).id)).size).toBe(12000);
  });
});

describe('switching capture modes', () => {
  it('loses and doubles no change while writers run through trigger → wal → trigger → wal', async () => {
    const start = await lastId();
    const writer = new pg.Client(db);
    await writer.connect();
    let stop = false;
    let next = 100_000;
    const written: number[] = [];
    const loop = (async () => {
      while (!stop) {
        await writer.query('insert into wal.load values ($1, 0)', [next]);
        written.push(next++);
      }
    })();
    try {
      for (const mode of ['trigger', 'wal', 'trigger', 'wal']) {
        await new Promise((r) => setTimeout(r, 60));
        await admin.query(`select audit.enable('wal.load', '{}', '{}', $1)`, [mode]);
      }
      await new Promise((r) => setTimeout(r, 60));
    } finally {
      stop = true;
      await loop;
      await writer.end();
    }
    const rows = await recordsAfter(start, 'wal.load');
    const ids = rows.filter((r) => r.op === 'INSERT').map((r) => (r.new_data as { id: number }).id);
    expect(ids.sort((a, b) => a - b)).toEqual(written);
    expect(new Set(rows.map((r) => r.capture))).toEqual(new Set(['trigger', 'wal']));
  });

  it('shapes changes decoded after audit.disable() by the lists in force before it', async () => {
    const start = await lastId();
    await admin.query(`insert into wal.items (id, name, secret, note) values (20, 'late', 's20', 'n20')`);
    await admin.query(`select audit.disable('wal.items')`);
    await admin.query(`insert into wal.items (id, name) values (21, 'after')`);
    const rows = await recordsAfter(start);
    expect(rows.map((r) => r.new_data)).toEqual([{ id: 20, name: 'late', secret: '[redacted]' }]);
    await admin.query(`select audit.enable('wal.items', '{note}', '{secret}')`);
  });
});

describe('the capture service (pgwarden up)', () => {
  it('applies the log on its own every interval, logs a failure once, and applies the rest at close', async () => {
    const start = await lastId();
    const logged: { kind: string }[] = [];
    const log = {
      info: (o: object) => logged.push(o as { kind: string }),
      warn: (o: object) => logged.push(o as { kind: string }),
    };
    const service = startWalCaptureService({ connection: db, intervalMs: 50, log });
    try {
      await admin.query(`insert into wal.items (id, name) values (50, 'by the service')`);
      for (let i = 0; i < 100 && (service.last?.rows ?? 0) === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(logged.some((l) => l.kind === 'wal-captured')).toBe(true);
      // The fault is switched by a row, not by DDL: dropping a trigger on the trail while the
      // service's pass holds its locks could deadlock with it.
      await admin.query(`create table wal.fault (on_ boolean not null);
        insert into wal.fault values (true);
        create function audit._fail() returns trigger language plpgsql security definer as
        $$ begin if (select on_ from wal.fault) then raise exception 'forced audit failure'; end if;
        return new; end $$;
        create trigger zz_fail before insert on audit.row_changes for each row execute function audit._fail()`);
      await admin.query(`insert into wal.items (id, name) values (51, 'after a failure')`);
      for (let i = 0; i < 100 && !logged.some((l) => l.kind === 'wal-capture-failed'); i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 200));
      expect(logged.filter((l) => l.kind === 'wal-capture-failed')).toHaveLength(1);
      await admin.query('update wal.fault set on_ = false');
      await admin.query(`insert into wal.items (id, name) values (52, 'at close')`);
    } finally {
      await service.close();
      await admin.query(
        'drop trigger if exists zz_fail on audit.row_changes; drop function if exists audit._fail(); drop table if exists wal.fault',
      );
    }
    expect(logged.some((l) => l.kind === 'wal-capture-recovered')).toBe(true);
    const { rows } = await admin.query(
      `select (new_data->>'id')::int as id from audit.row_changes where id > $1 and table_oid = 'wal.items'::regclass order by id`,
      [start],
    );
    expect(rows.map((r) => r.id)).toEqual([50, 51, 52]);
  });
});

describe('WAL capture taken apart [A-18]', () => {
  it('raises a critical event, once, when a table leaves the publication or loses its full identity', async () => {
    await admin.query(`create table wal.victim (id int primary key, v int); select audit.enable('wal.victim')`);
    await captureWal(admin);
    await admin.query('alter publication pgwarden_audit drop table wal.victim');
    await admin.query('alter table wal.victim replica identity default');
    await captureWal(admin);
    await captureWal(admin);
    const broken = (await eventsOf('audit.wal_capture_broken')).filter((e) => e.subject === 'wal.victim');
    expect(broken).toHaveLength(1);
    expect(broken[0]).toMatchObject({ severity: 'critical' });
    expect(broken[0]!.details.problems).toEqual(['not_published', 'replica_identity']);
    await admin.query(`select audit.enable('wal.victim', '{}', '{}', 'wal')`);
    await captureWal(admin);
    expect((await eventsOf('audit.wal_capture_repaired')).map((e) => e.subject)).toContain('wal.victim');
  });
});

describe('a lost or moved WAL capture slot', () => {
  it('stops capture with PW424, and setting up again creates the slot and reports the gap (critical)', async () => {
    const slot = await walCaptureSlot(admin);
    await admin.query('select pg_drop_replication_slot($1)', [slot]);
    await admin.query(`insert into wal.items (id, name) values (29, 'in the gap')`);
    const err = await rejected(captureWal(admin));
    expect(err.code).toBe('PW424');
    expect(err.message).toMatch(/missing/);
    expect(await admin.query(`select audit.wal_capture_ready() r`)).toMatchObject({ rows: [{ r: false }] });
    expect((await setupWalCapture(admin)).created).toBe(true);
    const gaps = await eventsOf('audit.wal_gap');
    expect(gaps.at(-1)).toMatchObject({ severity: 'critical' });
    expect(gaps.at(-1)!.details.tables).toContain('wal.items');
    const start = await lastId();
    await admin.query(`insert into wal.items (id, name) values (30, 'again')`);
    expect(await recordsAfter(start)).toHaveLength(1);
  });

  it('reports a slot moved past what was applied (pg_replication_slot_advance by hand) as a gap', async () => {
    await captureWal(admin);
    const before = (await eventsOf('audit.wal_gap')).length;
    await admin.query(`insert into wal.items (id, name) values (31, 'skipped')`);
    await admin.query(
      `begin; set local synchronous_commit = on; select pg_logical_emit_message(true, 'x', ''); commit`,
    );
    await admin.query('select pg_replication_slot_advance($1, pg_current_wal_flush_lsn())', [
      await walCaptureSlot(admin),
    ]);
    await captureWal(admin);
    expect(await eventsOf('audit.wal_gap')).toHaveLength(before + 1);
  });

  it('moves the slot on while only unaudited tables are written, so the server can recycle its log', async () => {
    await captureWal(admin);
    const slot = await walCaptureSlot(admin);
    const lsn = async () =>
      (await admin.query('select confirmed_flush_lsn::text l from pg_replication_slots where slot_name = $1', [slot]))
        .rows[0].l as string;
    const first = await lsn();
    await admin.query('create table wal.unaudited (v text)');
    await admin.query(`insert into wal.unaudited select repeat('u', 1000) from generate_series(1, 2000)`);
    await captureWal(admin);
    const moved = await admin.query('select $1::pg_lsn > $2::pg_lsn as moved', [await lsn(), first]);
    expect(moved.rows[0].moved).toBe(true);
  });
});

describe('values jsonb refuses', () => {
  it('records a json value jsonb cannot hold as unreadable text, with a critical event, and goes on', async () => {
    await admin.query('create table wal.docs (id int primary key, j json)');
    await admin.query(`select audit.enable('wal.docs')`);
    const start = await lastId();
    await admin.query(`insert into wal.docs values (1, '{"a": "\\u0000"}'), (2, '{"b": 1}')`);
    const rows = await recordsAfter(start, 'wal.docs');
    expect(rows.map((r) => r.new_data)).toEqual([
      { 'pgwarden.unreadable': '{"id": 1, "j": {"a": "\\u0000"}}' },
      { id: 2, j: { b: 1 } },
    ]);
    expect(await eventsOf('audit.wal_value_unreadable')).toEqual([
      expect.objectContaining({ severity: 'critical', details: expect.objectContaining({ tables: ['wal.docs'] }) }),
    ]);
  });
});

describe('partitions under WAL capture', () => {
  it('captures a statement addressed to a partition with its context, and reports a partition added later', async () => {
    await admin.query(`create table wal.parted (id int, region text, v int, primary key (id, region)) partition by list (region);
      create table wal.parted_eu partition of wal.parted for values in ('eu');
      select audit.enable('wal.parted')`);
    const start = await lastId();
    await admin.query(`insert into wal.parted_eu values (1, 'eu', 1); update wal.parted_eu set v = 2`);
    const rows = await recordsAfter(start, 'wal.parted');
    expect(rows.map((r) => [r.op, r.db_role !== null, r.old_data !== null])).toEqual([
      ['INSERT', true, false],
      ['UPDATE', true, true],
    ]);
    await admin.query(`create table wal.parted_us partition of wal.parted for values in ('us')`);
    await captureWal(admin);
    const broken = (await eventsOf('audit.wal_capture_broken')).filter((e) => e.subject === 'wal.parted');
    expect(broken.at(-1)!.details.problems).toEqual(['replica_identity', 'context_triggers']);
    await admin.query(`select audit.enable('wal.parted')`);
    await captureWal(admin);
    expect((await eventsOf('audit.wal_capture_repaired')).map((e) => e.subject)).toContain('wal.parted');
  });
});

describe('WAL-captured rows in the ledger [A-04]', () => {
  it('seals WAL-captured rows and names one a superuser edits afterwards', async () => {
    const masterKey = parseMasterKey(generateMasterKey());
    await initLedger(admin, { masterKey });
    await admin.query(`insert into wal.items (id, name) values (40, 'sealed')`);
    await captureWal(admin);
    for (;;) {
      const r = await sealLedger(admin, { masterKey });
      if (r.sealed === 0) break;
    }
    expect((await verifyLedger(admin, { masterKey })).status).toBe('ok');
    const { rows } = await admin.query(
      `select l.position from ledger.entries l join audit.row_changes r on l.source = 1 and r.id = l.source_id
        where r.new_data->>'id' = '40' and r.capture = 'wal'`,
    );
    await admin.query(`begin; set local session_replication_role = replica;
      update audit.row_changes set new_data = '{"id": 40, "name": "forged"}' where new_data->>'id' = '40'; commit`);
    const report = await verifyLedger(admin, { masterKey });
    expect(report.status).toBe('tampered');
    expect(report.findings[0]).toMatchObject({ kind: 'modified', position: Number(rows[0].position) });
  });
});

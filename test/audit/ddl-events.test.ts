import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, connect, quoteIdent, withClient } from '../../src/db/client.js';
import { type Catalog, defaultCatalog, getStatus, install } from '../../src/install/index.js';
import { catalogWithFixture } from '../helpers/catalog.js';
import { adminConnection, emptyDatabase, installedDatabase, uniquePrefix } from '../helpers/db.js';

// DDL and privilege changes as security events (sql/audit/0004_ddl_events.sql) against a fresh
// clone: what is recorded and how severe, that the installer's and pgwarden's own DDL is quiet,
// that nobody ordinary can silence it, and what PostgreSQL cannot show in-database.
interface DdlEvent {
  event_type: string;
  severity: string;
  subject: string | null;
  db_user: string;
  details: Record<string, unknown>;
}

let db: ConnectionConfig;
let admin: pg.Client;
let dev: pg.Client;
const devRole = `ddl_${uniquePrefix()}dev`;
const devPassword = `pw-${devRole}`;
/** The ddl.* events of the fresh clone, before this file changed anything. */
let installEvents: string[];

beforeAll(async () => {
  db = await installedDatabase();
  admin = await connect(db);
  installEvents = (
    await admin.query(`select event_type from logs.notification_log where event_type like 'ddl.%' order by id`)
  ).rows.map((r) => r.event_type as string);
  await admin.query(`create role ${quoteIdent(devRole)} login password '${devPassword}'`);
  await admin.query(`create schema app;
    grant usage, create on schema app to ${quoteIdent(devRole)};
    grant usage on schema app to pgw_app_user`);
  dev = await connect({ ...db, user: devRole, password: devPassword });
});
afterAll(async () => {
  await dev?.end();
  await admin?.end();
});

const lastId = async () =>
  Number((await admin.query('select coalesce(max(id), 0) as m from logs.notification_log')).rows[0].m);

/** The ddl.* and audit.* events written since event id `from`, oldest first. */
async function eventsSince(from: number): Promise<DdlEvent[]> {
  const { rows } = await admin.query<DdlEvent>(
    `select event_type, severity, subject, db_user, details from logs.notification_log
      where id > $1 and (event_type like 'ddl.%' or event_type like 'audit.%') order by id`,
    [from],
  );
  return rows;
}

/** Runs `fn` and resolves to the DDL events it left. */
async function eventsOf(fn: () => Promise<unknown>): Promise<DdlEvent[]> {
  const from = await lastId();
  await fn();
  return eventsSince(from);
}

const types = (events: DdlEvent[]) => events.map((e) => `${e.event_type}:${e.severity}`);
const sqlState = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: { code?: string }) => e.code,
  );

describe('DDL capture after a superuser install', () => {
  it('has its four event triggers and the commit-time check present and enabled ALWAYS, readable by the auditor', async () => {
    await admin.query('begin');
    try {
      await admin.query('set local role pgw_auditor');
      const { rows } = await admin.query('select trigger_name, enabled, ok from audit.ddl_capture_status()');
      expect(rows).toHaveLength(5);
      for (const r of rows) expect(r).toMatchObject({ enabled: 'always', ok: true });
    } finally {
      await admin.query('rollback');
    }
  });

  it('denies a request role audit.ddl_capture_status() and audit.ddl_capture_enable()', async () => {
    for (const fn of ['audit.ddl_capture_status()', 'audit.ddl_capture_enable()']) {
      await admin.query('begin');
      try {
        await admin.query('set local role pgw_app_user');
        expect(await sqlState(admin.query(`select ${fn}`))).toBe('42501');
      } finally {
        await admin.query('rollback');
      }
    }
  });

  it("records none of the installer's own DDL: a fresh install has no ddl.* event", () => {
    expect(installEvents).toEqual([]);
  });

  it("records none of an upgrade's DDL on pgwarden's schemas, only pgwarden.installed", async () => {
    const upgrade = catalogWithFixture([
      `create schema fixture;
       create table fixture.t (id int primary key);
       grant select on fixture.t to {{role:auditor}};
       create function fixture.f() returns int language sql security definer set search_path = pg_catalog as 'select 1';
       comment on table audit.audited_tables is 'pgwarden: tables whose row changes are captured; written by audit.enable()';
       revoke select on audit.audited_tables from {{role:auditor}};
       grant select on audit.audited_tables to {{role:auditor}};`,
    ]);
    const from = await lastId();
    await install(admin, { tier: 'advanced', rolePrefix: 'pgw_', catalog: upgrade });
    const { rows } = await admin.query(
      `select event_type from logs.notification_log where id > $1 and event_type not like 'audit.%' order by id`,
      [from],
    );
    expect(rows.map((r) => r.event_type)).toEqual(['pgwarden.installed']);
  });
});

describe('privileges [M-07]', () => {
  it('records GRANT and REVOKE as ddl.grant and ddl.revoke with the roles, the command and the statement', async () => {
    await dev.query('create table app.priv (id int primary key)');
    const granted = await eventsOf(() => dev.query('grant select on app.priv to public'));
    expect(granted).toHaveLength(1);
    expect(granted[0]).toMatchObject({
      event_type: 'ddl.grant',
      severity: 'notice',
      db_user: devRole,
      details: {
        command_tag: 'GRANT',
        object_type: 'TABLE',
        in_extension: false,
        session_user: devRole,
        current_user: devRole,
        query: 'grant select on app.priv to public',
      },
    });
    const revoked = await eventsOf(() => dev.query('revoke select on app.priv from public'));
    expect(types(revoked)).toEqual(['ddl.revoke:notice']);
  });

  it('writes the events of a role with no privilege on logs or audit', async () => {
    const { rows } = await admin.query(
      `select has_schema_privilege($1, 'logs', 'usage') as logs, has_schema_privilege($1, 'audit', 'usage') as audit,
              has_function_privilege($1, 'logs.log_event(text,text,text,text,text,jsonb,uuid)', 'execute') as log_event`,
      [devRole],
    );
    expect(rows[0]).toEqual({ logs: false, audit: false, log_event: false });
    const events = await eventsOf(() => dev.query('alter table app.priv enable row level security'));
    expect(events.map((e) => [e.event_type, e.details.current_user])).toEqual([['ddl.rls', devRole]]);
  });

  it("records a GRANT on pgwarden's own objects as critical, naming the ACL it changed", async () => {
    const granted = await eventsOf(() => admin.query(`grant select on audit.row_changes to ${quoteIdent(devRole)}`));
    expect(types(granted)).toEqual(['ddl.grant:notice', 'ddl.protected_object:critical']);
    const changed = granted[1]!.details.changed_acls as Array<{ object: string; before: string; after: string }>;
    expect(changed.map((c) => c.object)).toEqual(['relation audit.row_changes']);
    expect(changed[0]!.after).toContain(`${devRole}=r/`);
    expect(changed[0]!.before).not.toContain(devRole);
    const revoked = await eventsOf(() => admin.query(`revoke select on audit.row_changes from ${quoteIdent(devRole)}`));
    expect(types(revoked)).toEqual(['ddl.revoke:notice', 'ddl.protected_object:critical']);
    // The baseline follows: a later GRANT elsewhere reports no protected change.
    expect(types(await eventsOf(() => dev.query('grant select on app.priv to public')))).toEqual(['ddl.grant:notice']);
  });

  it('records ALTER DEFAULT PRIVILEGES as a warning [M-07]', async () => {
    const events = await eventsOf(() =>
      dev.query('alter default privileges in schema app grant select on tables to public'),
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      event_type: 'ddl.default_privileges',
      severity: 'warning',
      details: { command_tag: 'ALTER DEFAULT PRIVILEGES', object_type: 'TABLES' },
    });
  });
});

describe('row-level security and policies [M-07]', () => {
  beforeAll(async () => {
    await dev.query('create table app.docs (id int primary key, owner text)');
  });

  it('records ENABLE and FORCE ROW LEVEL SECURITY as notices', async () => {
    const enabled = await eventsOf(() => dev.query('alter table app.docs enable row level security'));
    expect(enabled).toHaveLength(1);
    expect(enabled[0]).toMatchObject({
      event_type: 'ddl.rls',
      severity: 'notice',
      subject: 'app.docs',
      details: {
        command_tag: 'ALTER TABLE',
        object_identity: 'app.docs',
        schema: 'app',
        row_security: { before: false, after: true },
        force_row_security: { before: false, after: false },
      },
    });
    const forced = await eventsOf(() => dev.query('alter table app.docs force row level security'));
    expect(forced.map((e) => [e.event_type, e.severity, e.details.force_row_security])).toEqual([
      ['ddl.rls', 'notice', { before: false, after: true }],
    ]);
  });

  it('records NO FORCE and DISABLE ROW LEVEL SECURITY as warnings [M-07]', async () => {
    const unforced = await eventsOf(() => dev.query('alter table app.docs no force row level security'));
    expect(unforced.map((e) => [e.event_type, e.severity, e.details.force_row_security])).toEqual([
      ['ddl.rls', 'warning', { before: true, after: false }],
    ]);
    const disabled = await eventsOf(() => dev.query('alter table app.docs disable row level security'));
    expect(disabled.map((e) => [e.event_type, e.severity, e.details.row_security])).toEqual([
      ['ddl.rls', 'warning', { before: true, after: false }],
    ]);
  });

  it('records nothing for an ALTER TABLE that changes neither RLS nor triggers', async () => {
    expect(await eventsOf(() => dev.query('alter table app.docs add column note text'))).toEqual([]);
  });

  it('records CREATE and ALTER POLICY as notices and DROP POLICY as a warning [M-07]', async () => {
    const created = await eventsOf(() => dev.query('create policy own on app.docs using (owner = current_user)'));
    expect(created.map((e) => [e.event_type, e.severity, e.subject, e.details.action])).toEqual([
      ['ddl.policy', 'notice', 'own on app.docs', 'create'],
    ]);
    const altered = await eventsOf(() => dev.query('alter policy own on app.docs using (true)'));
    expect(altered.map((e) => [e.event_type, e.severity, e.details.action])).toEqual([
      ['ddl.policy', 'notice', 'alter'],
    ]);
    const dropped = await eventsOf(() => dev.query('drop policy own on app.docs'));
    expect(dropped.map((e) => [e.event_type, e.severity, e.subject, e.details.action])).toEqual([
      ['ddl.policy', 'warning', 'own on app.docs', 'drop'],
    ]);
  });
});

describe('SECURITY DEFINER functions [M-07]', () => {
  it('records CREATE FUNCTION … SECURITY DEFINER as a warning, with its owner and whether search_path is fixed [M-07]', async () => {
    const events = await eventsOf(() =>
      dev.query(`create function app.sd() returns int language sql security definer as 'select 1'`),
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      event_type: 'ddl.security_definer',
      severity: 'warning',
      subject: 'app.sd()',
      details: { command_tag: 'CREATE FUNCTION', object_type: 'function', owner: devRole, search_path_set: false },
    });
  });

  it('records ALTER FUNCTION … SECURITY DEFINER, and nothing for a security invoker function', async () => {
    expect(
      await eventsOf(() =>
        dev.query(`create function app.inv() returns int language sql set search_path = pg_catalog as 'select 1'`),
      ),
    ).toEqual([]);
    const altered = await eventsOf(() => dev.query('alter function app.inv() security definer'));
    expect(altered.map((e) => [e.event_type, e.severity, e.details.command_tag, e.details.search_path_set])).toEqual([
      ['ddl.security_definer', 'warning', 'ALTER FUNCTION', true],
    ]);
  });
});

describe('triggers [A-18]', () => {
  beforeAll(async () => {
    await dev.query(`create table app.items (id int primary key, name text);
      create function app.noop() returns trigger language plpgsql as 'begin return null; end';
      create trigger touch after insert on app.items for each statement execute function app.noop();
      grant select, insert, update, delete on app.items to pgw_app_user`);
    await admin.query(`select audit.enable('app.items')`);
  });

  it('records DISABLE TRIGGER on an ordinary trigger as a warning, ENABLE REPLICA too, and ENABLE as a notice', async () => {
    const disabled = await eventsOf(() => dev.query('alter table app.items disable trigger touch'));
    expect(disabled.map((e) => [e.event_type, e.severity, e.details.triggers, e.details.states])).toEqual([
      ['ddl.trigger_disabled', 'warning', ['touch'], { touch: 'D' }],
    ]);
    const enabled = await eventsOf(() => dev.query('alter table app.items enable trigger touch'));
    expect(enabled.map((e) => [e.event_type, e.severity, e.details.triggers])).toEqual([
      ['ddl.trigger_enabled', 'notice', ['touch']],
    ]);
    const replica = await eventsOf(() => dev.query('alter table app.items enable replica trigger touch'));
    expect(replica.map((e) => [e.event_type, e.details.states])).toEqual([['ddl.trigger_disabled', { touch: 'R' }]]);
    expect(types(await eventsOf(() => dev.query('alter table app.items enable always trigger touch')))).toEqual([
      'ddl.trigger_enabled:notice',
    ]);
  });

  it('records ALTER TABLE … DISABLE TRIGGER on an audited table as critical [A-18]', async () => {
    const one = await eventsOf(() => dev.query('alter table app.items disable trigger pgw_audit_insert'));
    expect(one.map((e) => [e.event_type, e.severity, e.subject, e.details.triggers])).toEqual([
      ['ddl.trigger_disabled', 'critical', 'app.items', ['pgw_audit_insert']],
    ]);
    const user = await eventsOf(() => dev.query('alter table app.items disable trigger user'));
    expect(user.map((e) => [e.event_type, e.severity, e.details.triggers])).toEqual([
      ['ddl.trigger_disabled', 'critical', ['pgw_audit_delete', 'pgw_audit_truncate', 'pgw_audit_update', 'touch']],
    ]);
    const back = await eventsOf(() => dev.query('alter table app.items enable trigger user'));
    expect(back.map((e) => [e.event_type, e.details.triggers])).toEqual([
      [
        'ddl.trigger_enabled',
        ['pgw_audit_delete', 'pgw_audit_insert', 'pgw_audit_truncate', 'pgw_audit_update', 'touch'],
      ],
    ]);
  });

  it('tells an RLS change and a trigger change apart in one ALTER TABLE', async () => {
    const events = await eventsOf(() =>
      dev.query('alter table app.items enable row level security, disable trigger pgw_audit_update'),
    );
    expect(types(events)).toEqual(['ddl.rls:notice', 'ddl.trigger_disabled:critical']);
    await dev.query('alter table app.items disable row level security, enable trigger pgw_audit_update');
  });

  it('denies a request role DISABLE TRIGGER and DROP TRIGGER on an audited table, leaving no event [A-18]', async () => {
    const from = await lastId();
    for (const sql of [
      'alter table app.items disable trigger pgw_audit_insert',
      'drop trigger pgw_audit_insert on app.items',
    ]) {
      await admin.query('begin');
      try {
        await admin.query('set local role pgw_app_user');
        expect(await sqlState(admin.query(sql))).toBe('42501');
      } finally {
        await admin.query('rollback');
      }
    }
    expect(await eventsSince(from)).toEqual([]);
  });

  it('records DROP TRIGGER of an audit trigger outside audit.disable() as critical at commit [A-18]', async () => {
    const dropped = await eventsOf(() => dev.query('drop trigger pgw_audit_delete on app.items'));
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toMatchObject({
      event_type: 'ddl.trigger_dropped',
      severity: 'critical',
      subject: 'app.items',
      db_user: devRole,
      details: {
        command_tag: 'DROP TRIGGER',
        triggers: ['pgw_audit_delete'],
        missing_triggers: ['pgw_audit_delete'],
        current_user: devRole,
      },
    });
    // audit.enable() puts the triggers back; re-creating them is no drop to report.
    expect(types(await eventsOf(() => admin.query(`select audit.enable('app.items')`)))).toEqual([
      'audit.table_enabled:notice',
    ]);
  });

  it('records an audit trigger replaced by one running another function as critical [A-18]', async () => {
    const replaced = await eventsOf(() =>
      dev.query(`create or replace trigger pgw_audit_insert after insert on app.items
                   for each statement execute function app.noop()`),
    );
    expect(types(replaced)).toEqual(['ddl.trigger_replaced:critical']);
    const recreated = await eventsOf(async () => {
      await dev.query('begin');
      await dev.query('drop trigger pgw_audit_update on app.items');
      await dev.query(
        'create trigger pgw_audit_update after update on app.items for each statement execute function app.noop()',
      );
      await dev.query('commit');
    });
    expect(recreated.map((e) => [e.event_type, e.severity, e.details.missing_triggers])).toEqual([
      ['ddl.trigger_replaced', 'critical', undefined],
      ['ddl.trigger_dropped', 'critical', ['pgw_audit_insert', 'pgw_audit_update']],
    ]);
    await admin.query(`select audit.disable('app.items'); select audit.enable('app.items')`);
  });

  it('records nothing but audit.table_disabled when audit.disable() drops the audit triggers', async () => {
    expect(types(await eventsOf(() => admin.query(`select audit.disable('app.items')`)))).toEqual([
      'audit.table_disabled:notice',
    ]);
    await admin.query(`select audit.enable('app.items')`);
  });

  it('still records DDL under session_replication_role = replica [A-18]', async () => {
    const events = await eventsOf(async () => {
      await admin.query('begin');
      await admin.query('set local session_replication_role = replica');
      await admin.query('alter table app.items disable trigger pgw_audit_truncate');
      await admin.query('commit');
    });
    expect(types(events)).toEqual(['ddl.trigger_disabled:critical']);
    await admin.query('alter table app.items enable trigger pgw_audit_truncate');
  });

  it('records dropping an audited table as a warning, not as dropped triggers', async () => {
    await dev.query('create table app.gone (id int primary key)');
    await admin.query(`select audit.enable('app.gone')`);
    const events = await eventsOf(() => dev.query('drop table app.gone'));
    expect(events.map((e) => [e.event_type, e.severity, e.subject])).toEqual([
      ['ddl.audited_table_dropped', 'warning', 'app.gone'],
    ]);
  });
});

describe("pgwarden's own schemas", () => {
  it('records DDL on them outside the installer as critical, also when run as the owner role', async () => {
    const events = await eventsOf(async () => {
      await admin.query('set role pgw_owner');
      try {
        await admin.query(`comment on table audit.audited_tables is 'changed'`);
      } finally {
        await admin.query('reset role');
      }
    });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      event_type: 'ddl.protected_object',
      severity: 'critical',
      subject: 'audit.audited_tables',
      details: {
        command_tag: 'COMMENT',
        object_type: 'table',
        schema: 'audit',
        current_user: 'pgw_owner',
        session_user: db.user,
      },
    });
  });

  it('records creating and dropping an object in them as critical', async () => {
    const created = await eventsOf(() => admin.query('create table logs.planted (id int)'));
    expect(created.map((e) => [e.event_type, e.severity, e.subject])).toEqual([
      ['ddl.protected_object', 'critical', 'logs.planted'],
    ]);
    const dropped = await eventsOf(() => admin.query('drop table logs.planted'));
    expect(dropped.map((e) => [e.event_type, e.severity, e.subject, e.details.original])).toEqual([
      ['ddl.protected_object', 'critical', 'logs.planted', true],
    ]);
  });

  it('records dropping an archived audit partition as a notice, and an unlisted one as critical', async () => {
    await admin.query(`
      create table audit.row_changes_y2000m01 partition of audit.row_changes for values from ('2000-01-01') to ('2000-02-01');
      create table audit.row_changes_y2000m02 partition of audit.row_changes for values from ('2000-02-01') to ('2000-03-01');
      create table if not exists audit.archived_partitions (partition_name text primary key);
      alter table audit.archived_partitions owner to pgw_owner`);
    // The retention module owns the real table; fill whichever of its columns it has.
    const archived = {
      partition_name: 'audit.row_changes_y2000m01',
      range_from: '2000-01-01',
      range_to: '2000-02-01',
      row_count: '0',
      archive_name: 'test-archive',
      archive_sha256: '0'.repeat(64),
    };
    const { rows: columns } = await admin.query<{ name: keyof typeof archived }>(
      `select attname as name from pg_attribute where attrelid = 'audit.archived_partitions'::regclass
         and attnum > 0 and not attisdropped and attname = any($1::text[])`,
      [Object.keys(archived)],
    );
    await admin.query(
      `insert into audit.archived_partitions (${columns.map((c) => quoteIdent(c.name)).join(', ')})
       values (${columns.map((_, i) => `$${i + 1}`).join(', ')})`,
      columns.map((c) => archived[c.name]),
    );
    const listed = await eventsOf(() => admin.query('drop table audit.row_changes_y2000m01'));
    expect(listed.map((e) => [e.event_type, e.severity, e.subject])).toEqual([
      ['audit.partition_dropped', 'notice', 'audit.row_changes_y2000m01'],
    ]);
    const unlisted = await eventsOf(() => admin.query('drop table audit.row_changes_y2000m02'));
    expect(unlisted.map((e) => [e.event_type, e.severity, e.subject])).toEqual([
      ['ddl.protected_object', 'critical', 'audit.row_changes_y2000m02'],
    ]);
  });

  it("records nothing of pgwarden's own maintenance (audit.ensure_partitions)", async () => {
    const from = await lastId();
    const created = Number((await admin.query('select audit.ensure_partitions(1) as n')).rows[0].n);
    expect(created).toBeGreaterThan(0);
    expect(await eventsSince(from)).toEqual([]);
    // The new partitions' ACLs joined the baseline quietly.
    expect(types(await eventsOf(() => dev.query('revoke select on app.priv from public')))).toEqual([
      'ddl.revoke:notice',
    ]);
  });
});

describe('who ran it, and what cannot silence it', () => {
  it('names the SET ROLE role as current_user and the login as session_user', async () => {
    const events = await eventsOf(async () => {
      await admin.query('begin');
      await admin.query(`set local role ${quoteIdent(devRole)}`);
      await admin.query('grant select on app.docs to public');
      await admin.query('commit');
    });
    expect(events.map((e) => [e.event_type, e.details.session_user, e.details.current_user, e.db_user])).toEqual([
      ['ddl.grant', db.user, devRole, db.user],
    ]);
  });

  it('is not silenced by an ordinary user holding the install lock or setting pgwarden.ddl_actor', async () => {
    await dev.query(`select pg_advisory_lock(hashtextextended('pgwarden.install', 0))`);
    try {
      await dev.query(`set pgwarden.ddl_actor = 'pgw_owner'`);
      const events = await eventsOf(() => dev.query('revoke select on app.docs from public'));
      expect(events.map((e) => [e.event_type, e.details.current_user])).toEqual([['ddl.revoke', devRole]]);
    } finally {
      await dev.query(`select pg_advisory_unlock(hashtextextended('pgwarden.install', 0))`);
      await dev.query('reset pgwarden.ddl_actor');
    }
  });

  it('keeps the statement text, cut at 1000 characters', async () => {
    const long = `grant select on app.docs to public /* ${'x'.repeat(1500)} */`;
    const [event] = await eventsOf(() => dev.query(long));
    expect(event!.details.query).toBe(long.slice(0, 1000));
  });

  it('leaves no event for rolled-back DDL, in a transaction or a savepoint', async () => {
    const events = await eventsOf(async () => {
      await dev.query('begin');
      await dev.query('alter table app.docs enable row level security');
      await dev.query('revoke select on app.docs from public');
      await dev.query(`create function app.sd2() returns int language sql security definer as 'select 2'`);
      await dev.query('alter table app.items disable trigger pgw_audit_insert');
      await dev.query('drop trigger pgw_audit_delete on app.items');
      await dev.query('rollback');
      await dev.query('begin');
      await dev.query('savepoint s');
      await dev.query('drop policy if exists nothing on app.docs');
      await dev.query('alter table app.docs force row level security');
      await dev.query('rollback to savepoint s');
      await dev.query('commit');
    });
    expect(events).toEqual([]);
    // The state rolled back with it: enabling RLS now is reported as a change from off.
    const enabled = await eventsOf(() => dev.query('alter table app.docs enable row level security'));
    expect(enabled.map((e) => e.details.row_security)).toEqual([{ before: false, after: true }]);
  });
});

describe('what PostgreSQL does not show in-database', () => {
  it('leaves role changes (ALTER ROLE … BYPASSRLS, GRANT of a role) to the server log or pgaudit [M-07]', async () => {
    const role = `ddl_${uniquePrefix()}esc`;
    const events = await eventsOf(async () => {
      await admin.query(`create role ${quoteIdent(role)}`);
      await admin.query(`alter role ${quoteIdent(role)} bypassrls createrole`);
      await admin.query(`grant pgw_security_admin to ${quoteIdent(role)}`);
      await admin.query(`drop owned by ${quoteIdent(role)}; drop role ${quoteIdent(role)}`);
    });
    expect(events).toEqual([]);
  });

  it('does not see an event trigger disabled, but audit.ddl_capture_status() does, and ddl_capture_enable() repairs it', async () => {
    const disabled = await eventsOf(() => admin.query('alter event trigger pgwarden_ddl_end_1_record disable'));
    expect(disabled).toEqual([]);
    const status = await admin.query('select trigger_name, enabled, ok from audit.ddl_capture_status() where not ok');
    expect(status.rows).toEqual([{ trigger_name: 'pgwarden_ddl_end_1_record', enabled: 'disabled', ok: false }]);
    expect(await eventsOf(() => dev.query('alter table app.docs disable row level security'))).toEqual([]);

    expect(await sqlState(dev.query('select audit.ddl_capture_enable()'))).toBe('42501');
    const repaired = await eventsOf(() => admin.query('select audit.ddl_capture_enable()'));
    expect(types(repaired)).toEqual(['ddl.capture_enabled:notice']);
    const after = await admin.query('select bool_and(ok) as ok from audit.ddl_capture_status()');
    expect(after.rows[0].ok).toBe(true);
    expect(types(await eventsOf(() => dev.query('alter table app.docs enable row level security')))).toEqual([
      'ddl.rls:notice',
    ]);
  });
});

describe('install without a superuser', () => {
  const ownerLogin = async (target: ConnectionConfig, createrole: boolean) => {
    const login = `dbo_${uniquePrefix()}`;
    await withClient(adminConnection(), async (c) => {
      await c.query(`create role ${quoteIdent(login)} login ${createrole ? 'createrole' : ''} password 'pw-dbo'`);
      await c.query(`alter database ${quoteIdent(target.database!)} owner to ${quoteIdent(login)}`);
    });
    return { ...target, user: login, password: 'pw-dbo' };
  };
  const capture = async (c: pg.ClientBase) => ({
    events: (
      await c.query(`select event_type, severity from logs.notification_log where event_type like 'ddl.%' order by id`)
    ).rows,
    on: (await c.query(`select bool_or(ok) as on from audit.ddl_capture_status() where trigger_name like 'pgwarden%'`))
      .rows[0].on as boolean,
  });

  it('installs as a CREATEROLE database owner without event triggers, warning once, and says so in status', async () => {
    const target = await emptyDatabase();
    const prefix = uniquePrefix();
    await withClient(await ownerLogin(target, true), async (c) => {
      await install(c, { tier: 'advanced', rolePrefix: prefix });
      const status = await getStatus(c, { rolePrefix: prefix, tier: 'advanced' });
      expect(status.needsSuperuser.join('\n')).toContain('audit.ddl_capture_enable()');
      await c.query(`set role ${quoteIdent(`${prefix}owner`)}`);
      expect(await capture(c)).toEqual({
        events: [{ event_type: 'ddl.capture_unavailable', severity: 'warning' }],
        on: false,
      });
    });
    // A superuser turns it on later.
    await withClient(target, async (c) => {
      await c.query('select audit.ddl_capture_enable()');
      expect((await capture(c)).on).toBe(true);
      await c.query('create table public.t (id int); alter table public.t enable row level security');
      expect((await capture(c)).events.slice(-2)).toEqual([
        { event_type: 'ddl.capture_enabled', severity: 'notice' },
        { event_type: 'ddl.rls', severity: 'notice' },
      ]);
    });
  });

  it('upgrades as a database owner without CREATEROLE (a member of the owner role), skipping the event triggers', async () => {
    const catalog = defaultCatalog();
    // The release before the DDL capture: audit up to 0003, everything else as shipped.
    const previous: Catalog = {
      modules: catalog.modules,
      files: catalog.files.filter((f) => f.module !== 'audit' || f.version < 4),
    };
    const target = await emptyDatabase();
    const prefix = uniquePrefix();
    await withClient(target, (c) => install(c, { tier: 'advanced', rolePrefix: prefix, catalog: previous }));
    const dbo = await ownerLogin(target, false);
    await withClient(adminConnection(), (c) =>
      c.query(`grant ${quoteIdent(`${prefix}owner`)} to ${quoteIdent(dbo.user)}`),
    );
    await withClient(dbo, async (c) => {
      const result = await install(c, { tier: 'advanced', rolePrefix: prefix });
      expect(result.applied.map((f) => `${f.module}/${f.name}`)).toContain('audit/0004_ddl_events.sql');
      await c.query(`set role ${quoteIdent(`${prefix}owner`)}`);
      expect(await capture(c)).toEqual({
        events: [{ event_type: 'ddl.capture_unavailable', severity: 'warning' }],
        on: false,
      });
    });
  });
});

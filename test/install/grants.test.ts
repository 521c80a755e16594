import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, connect, quoteIdent } from '../../src/db/client.js';
import { roleNames } from '../../src/install/index.js';
import { testRolePrefix } from '../helpers/constants.js';
import { installedDatabase } from '../helpers/db.js';

const roles = roleNames(testRolePrefix);
type Persona = 'anon' | 'app_user' | 'auditor' | 'security_admin' | 'authenticator';
const personas: Persona[] = ['anon', 'app_user', 'auditor', 'security_admin', 'authenticator'];

// What each persona may do with core's objects. Anything not listed is denied.
const actions: Array<{ what: string; sql: string; allowed: Persona[] }> = [
  {
    what: 'read logs.notification_log',
    sql: 'select count(*) from logs.notification_log',
    allowed: ['auditor', 'security_admin'],
  },
  {
    what: 'insert into logs.notification_log directly',
    sql: `insert into logs.notification_log (event_type) values ('forged.event')`,
    allowed: [],
  },
  {
    what: 'update logs.notification_log',
    sql: `update logs.notification_log set severity = 'debug'`,
    allowed: [],
  },
  {
    what: 'delete from logs.notification_log',
    sql: 'delete from logs.notification_log',
    allowed: [],
  },
  {
    what: 'append an event through logs.log_event()',
    sql: `select logs.log_event('test.event')`,
    allowed: ['security_admin'],
  },
  {
    what: 'read pgwarden.migrations',
    sql: 'select count(*) from pgwarden.migrations',
    allowed: ['auditor', 'security_admin'],
  },
  { what: 'write pgwarden.migrations', sql: `delete from pgwarden.migrations`, allowed: [] },
  {
    what: 'change pgwarden.installation',
    sql: `update pgwarden.installation set tier = 'basic'`,
    allowed: [],
  },
  { what: 'create objects in schema logs', sql: 'create table logs.x (id int)', allowed: [] },
];

let client: pg.Client;
beforeAll(async () => {
  const db: ConnectionConfig = await installedDatabase();
  client = await connect(db);
  return () => client.end();
});

/** Runs sql as the persona inside a rolled-back transaction; resolves to the SQLSTATE or 'ok'. */
async function attempt(persona: Persona, sql: string): Promise<string> {
  await client.query('begin');
  try {
    await client.query(`set local role ${quoteIdent(roles[persona])}`);
    await client.query(sql);
    return 'ok';
  } catch (err) {
    return (err as { code?: string }).code ?? 'error';
  } finally {
    await client.query('rollback');
  }
}

describe('core grants', () => {
  for (const action of actions) {
    for (const persona of personas) {
      const allowed = action.allowed.includes(persona);
      it(`${allowed ? 'allows' : 'denies'} ${persona} to ${action.what}`, async () => {
        expect(await attempt(persona, action.sql)).toBe(allowed ? 'ok' : '42501');
      });
    }
  }

  it('records who really wrote an event: server time and the login role, whatever actor the caller claims', async () => {
    await client.query('begin');
    try {
      const login = (await client.query('select session_user as u')).rows[0].u;
      await client.query(`set local application_name = 'trusted-batch'`);
      await client.query(`set local role ${quoteIdent(roles.security_admin)}`);
      const id = (
        await client.query(`select logs.log_event('test.stamp', 'notice', 'ceo@example.com', 'subject-1') as id`)
      ).rows[0].id;
      await client.query('reset role');
      const row = (
        await client.query(
          `select actor, db_user, application_name, clock_timestamp() - occurred_at < interval '1 minute' as fresh
             from logs.notification_log where id = $1`,
          [id],
        )
      ).rows[0];
      // The claimed actor is kept as claimed; db_user is what the server saw, and cannot be claimed.
      expect(row).toEqual({ actor: 'ceo@example.com', db_user: login, application_name: 'trusted-batch', fresh: true });
      await client.query(`set local role ${quoteIdent(roles.security_admin)}`);
      const forged = await client
        .query(`insert into logs.notification_log (event_type, db_user) values ('forged.event', 'someone-else')`)
        .then(
          () => 'ok',
          (e: { code?: string }) => e.code,
        );
      expect(forged).toBe('42501');
    } finally {
      await client.query('rollback');
    }
  });

  it('gives no pgwarden role superuser, BYPASSRLS or CREATEROLE, and only authenticator can log in', async () => {
    const { rows } = await client.query(
      `select rolname, rolsuper, rolbypassrls, rolcreaterole, rolcanlogin, rolinherit from pg_roles where rolname = any($1::text[])`,
      [Object.values(roles)],
    );
    expect(rows).toHaveLength(7);
    for (const r of rows) {
      expect([r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole]).toEqual([r.rolname, false, false, false]);
      expect([r.rolname, r.rolcanlogin]).toEqual([r.rolname, r.rolname === roles.authenticator]);
    }
    expect(rows.find((r) => r.rolname === roles.authenticator)?.rolinherit).toBe(false);
  });

  it('lets authenticator switch only to the per-request roles', async () => {
    const { rows } = await client.query(
      `select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid join pg_roles g on g.oid = m.member
        where g.rolname = $1 order by 1`,
      [roles.authenticator],
    );
    expect(rows.map((r) => r.rolname)).toEqual([roles.anon, roles.app_user].sort());
  });

  it('owns every pgwarden schema and function by the owner role', async () => {
    const { rows } = await client.query(
      `select p.oid::regprocedure::text as obj, pg_get_userbyid(p.proowner) as owner from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname in ('logs') union all
       select nspname, pg_get_userbyid(nspowner) from pg_namespace where nspname in ('logs', 'pgwarden')`,
    );
    expect(rows.length).toBeGreaterThan(2);
    for (const r of rows) expect([r.obj, r.owner]).toEqual([r.obj, roles.owner]);
  });
});

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSearchPath } from '../../src/check/checks/privilege-search-path.js';
import { sensitiveTerm } from '../../src/check/checks/privilege-sensitive.js';
import { privilegeChecks } from '../../src/check/checks/privilege.js';
import { rlsChecks } from '../../src/check/checks/rls.js';
import { type ScanOptions, type ScanReport, scanDatabase } from '../../src/check/index.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { quoteIdent, withClient } from '../../src/db/client.js';
import { adminConnection, installedDatabase, uniquePrefix } from '../helpers/db.js';
import { finding, findingsOf } from './helpers/findings.js';

// The privilege and schema lints against planted misconfigurations, each with the correct form
// beside it. Each test works in a schema of its own and asserts on its own objects. Roles are
// cluster-wide: they carry this file's prefix, and SUPERUSER/BYPASSRLS ones live only inside
// their test.

let db: ConnectionConfig;
let admin: pg.Client;
const prefix = uniquePrefix();
const roles: string[] = [];

const sql = async (text: string) => (await admin.query(text)).rows as Array<Record<string, unknown>>;
const scan = (options: ScanOptions = {}) => scanDatabase(db, { checks: privilegeChecks, ...options });
const mine = (r: ScanReport, text: string) =>
  r.results.flatMap((x) => x.findings.filter((f) => f.object?.includes(text)).map((f) => `${f.checkId} ${f.object}`));
const cluster = (text: string) => withClient(adminConnection(), (c) => c.query(text));

async function role(name: string, attrs = 'nologin'): Promise<string> {
  const full = `${prefix}${name}`;
  await cluster(`create role ${quoteIdent(full)} ${attrs}`);
  roles.push(full);
  return full;
}

/** Runs `fn` with roles that must not outlive it (superusers, BYPASSRLS), dropping them after. */
async function withRoles(defs: Array<[string, string]>, fn: (names: string[]) => Promise<void>): Promise<void> {
  const names = defs.map(([n]) => `${prefix}${n}`);
  try {
    for (const [i, [, attrs]] of defs.entries()) await cluster(`create role ${quoteIdent(names[i]!)} ${attrs}`);
    await fn(names);
  } finally {
    for (const n of [...names].reverse()) await cluster(`drop role if exists ${quoteIdent(n)}`);
  }
}

beforeAll(async () => {
  db = await installedDatabase();
  admin = new pg.Client(db);
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  for (const r of roles.reverse()) {
    await withClient(db, (d) => d.query(`drop owned by ${quoteIdent(r)}`)).catch(() => undefined);
    await cluster(`drop role if exists ${quoteIdent(r)}`);
  }
});

describe('PRIV-001 security definer functions and search_path', () => {
  it('finds a mutable search_path [C-01] [R-07]', async () => {
    await sql(`create schema p1_bad; create schema p1_open; grant create on schema p1_open to public;
      create function p1_bad.nopath() returns int language sql security definer as 'select 1';
      create function p1_bad.pub(a integer, b text) returns int language sql security definer set search_path = public as 'select 1';
      create function p1_bad.usr() returns int language sql security definer set search_path = "$user", pg_catalog as 'select 1';
      create function p1_bad.tmp() returns int language sql security definer set search_path = pg_temp, pg_catalog as 'select 1';
      create function p1_bad.open() returns int language sql security definer set search_path = p1_open, pg_temp as 'select 1';
      create function p1_bad.gone() returns int language sql security definer set search_path = nowhere, pg_temp as 'select 1';`);
    const report = await scan();
    const f = finding(report, 'PRIV-001', 'function p1_bad.nopath()');
    expect(f).toMatchObject({ checkId: 'PRIV-001', severity: 'high' });
    expect(f?.message).toContain('no search_path');
    expect(f?.fix).toEqual([
      { sql: 'alter function p1_bad.nopath() set search_path = pg_catalog, pg_temp;', safety: 'manual' },
    ]);
    expect(finding(report, 'PRIV-001', 'function p1_bad.pub(integer, text)')?.message).toContain('public');
    expect(finding(report, 'PRIV-001', 'function p1_bad.usr()')?.message).toContain('$user');
    expect(finding(report, 'PRIV-001', 'function p1_bad.tmp()')?.message).toContain('pg_temp is searched before');
    expect(finding(report, 'PRIV-001', 'function p1_bad.open()')?.message).toContain('writable by PUBLIC');
    expect(finding(report, 'PRIV-001', 'function p1_bad.gone()')?.message).toContain('does not exist');
  });

  it('allows a fixed search_path ending in pg_temp, and invoker functions [R-07]', async () => {
    await sql(`create schema p1_good;
      create function p1_good.fixed() returns int language sql security definer set search_path = pg_catalog, pg_temp as 'select 1';
      create function p1_good.own() returns int language sql security definer set search_path = p1_good, pg_temp as 'select 1';
      create function p1_good.invoker() returns int language sql as 'select 1';
      revoke execute on all functions in schema p1_good from public;`);
    expect(mine(await scan(), 'p1_good.')).toEqual([]);
  });

  it('reports a path without pg_temp as medium: a temporary table shadows its unqualified tables [R-07]', async () => {
    await sql(`create schema p1_tmp; create table p1_tmp.secrets (v text); insert into p1_tmp.secrets values ('real');
      create function p1_tmp.read() returns text language sql security definer set search_path = p1_tmp
        as 'select v from secrets';
      create function p1_tmp.empty() returns int language sql security definer set search_path = '' as 'select 1';
      revoke execute on all functions in schema p1_tmp from public;`);
    const report = await scan();
    expect(finding(report, 'PRIV-001', 'function p1_tmp.read()')).toMatchObject({ severity: 'medium' });
    expect(finding(report, 'PRIV-001', 'function p1_tmp.empty()')).toMatchObject({ severity: 'medium' });
    // What the finding is about, on the server: the session's temporary table wins.
    const session = new pg.Client(db);
    await session.connect();
    try {
      await session.query(`create temp table secrets (v text); insert into secrets values ('planted')`);
      expect((await session.query('select p1_tmp.read() as v')).rows[0].v).toBe('planted');
    } finally {
      await session.end();
    }
  });

  it('reads search_path values as the server does', () => {
    expect(parseSearchPath('"$user", public')).toEqual(['$user', 'public']);
    expect(parseSearchPath('""')).toEqual([]);
    expect(parseSearchPath('App, "My ""x"", y", pg_temp')).toEqual(['app', 'My "x", y', 'pg_temp']);
  });
});

describe('PRIV-002 security definer functions anyone may run', () => {
  it('finds a SECURITY DEFINER function executable by anon or PUBLIC [C-01] [R-07]', async () => {
    await sql(`create schema p2_bad; grant usage on schema p2_bad to pgw_anon;
      create function p2_bad.by_default() returns int language sql security definer set search_path = pg_catalog, pg_temp as 'select 1';
      create function p2_bad.to_anon(uuid) returns int language sql security definer set search_path = pg_catalog, pg_temp as 'select 1';
      revoke execute on function p2_bad.to_anon(uuid) from public; grant execute on function p2_bad.to_anon(uuid) to pgw_anon;
      create schema p2_hidden;
      create function p2_hidden.f() returns int language sql security definer set search_path = pg_catalog, pg_temp as 'select 1';`);
    const report = await scan();
    const byDefault = finding(report, 'PRIV-002', 'function p2_bad.by_default()');
    expect(byDefault).toMatchObject({ checkId: 'PRIV-002', severity: 'high', evidence: { publicExecute: true } });
    expect(byDefault?.fix).toEqual([
      { sql: 'revoke execute on function p2_bad.by_default() from public;', safety: 'manual' },
    ]);
    expect(finding(report, 'PRIV-002', 'function p2_bad.to_anon(uuid)')).toMatchObject({
      severity: 'high',
      evidence: { publicExecute: false, anonGranted: true },
      fix: [{ sql: 'revoke execute on function p2_bad.to_anon(uuid) from pgw_anon;', safety: 'manual' }],
    });
    expect(finding(report, 'PRIV-002', 'function p2_hidden.f()')?.severity).toBe('medium');
  });

  it("allows definer functions granted only to the roles that need them, and pgwarden's deliberate ones", async () => {
    await sql(`create schema p2_good; grant usage on schema p2_good to pgw_anon, pgw_app_user;
      create function p2_good.f() returns int language sql security definer set search_path = pg_catalog, pg_temp as 'select 1';
      revoke execute on function p2_good.f() from public; grant execute on function p2_good.f() to pgw_app_user;`);
    const report = await scan();
    expect(mine(report, 'p2_good.')).toEqual([]);
    expect(mine(report, 'function auth.')).toEqual([]);
    // The same grant on one of pgwarden's other functions is reported.
    await sql(`grant execute on function auth.context_key_add(bytea) to public`);
    try {
      expect(finding(await scan(), 'PRIV-002', 'function auth.context_key_add(bytea)')).toMatchObject({
        severity: 'high',
      });
    } finally {
      await sql(`revoke execute on function auth.context_key_add(bytea) from public`);
    }
  });
});

describe('PRIV-003 roles that bypass row-level security', () => {
  it('finds a BYPASSRLS app role that can log in, and a NOLOGIN one [C-01] [R-05]', async () => {
    await withRoles(
      [
        ['bypass_app', 'login bypassrls'],
        ['bypass_group', 'nologin bypassrls'],
      ],
      async ([app, group]) => {
        const report = await scan();
        expect(finding(report, 'PRIV-003', `role ${app}`)).toMatchObject({
          checkId: 'PRIV-003',
          severity: 'critical',
          evidence: { bypassrls: true, canLogin: true },
          fix: [{ sql: `alter role ${app} nobypassrls;`, safety: 'manual' }],
        });
        expect(finding(report, 'PRIV-003', `role ${group}`)?.severity).toBe('high');
        // A DBA role listed in the settings is allowed.
        expect(finding(await scan({ dbaRoles: [app!] }), 'PRIV-003', `role ${app}`)).toBeUndefined();
      },
    );
  });

  it('finds a superuser or BYPASSRLS role the authenticator can reach, DBA or not [R-05]', async () => {
    // A request-role family of this file (rolePrefix), so the shared pgw_ roles never change.
    await withRoles(
      [
        ['authenticator', 'login noinherit'],
        ['anon', 'nologin'],
        ['su', 'nologin superuser'],
        ['member', 'nologin bypassrls'],
      ],
      async ([authenticator, anon, su, bypass]) => {
        await cluster(`grant ${su} to ${authenticator}; grant ${bypass} to ${anon}`);
        const report = await scan({ rolePrefix: prefix, dbaRoles: [su!] });
        expect(finding(report, 'PRIV-003', `role ${su}`)).toMatchObject({
          severity: 'critical',
          evidence: { superuser: true, reachedBy: [authenticator] },
        });
        expect(finding(report, 'PRIV-003', `role ${bypass}`)).toMatchObject({
          severity: 'critical',
          evidence: { reachedBy: [anon] },
        });
      },
    );
  });

  it('allows a superuser no request role reaches (CIS-4.3 is about those) [R-05]', async () => {
    await withRoles([['lone_su', 'nologin superuser']], async ([su]) => {
      expect(finding(await scan(), 'PRIV-003', `role ${su}`)).toBeUndefined();
    });
  });
});

describe('PRIV-004 PUBLIC privileges in exposed schemas', () => {
  it('finds tables and sequences granted to PUBLIC', async () => {
    await sql(`create schema p4_bad; grant usage on schema p4_bad to public;
      create table p4_bad.readable (id int); grant select on p4_bad.readable to public;
      create table p4_bad.writable (id int, note text); grant update (note) on p4_bad.writable to public;
      create sequence p4_bad.seq; grant usage on sequence p4_bad.seq to public;`);
    const report = await scan();
    expect(finding(report, 'PRIV-004', 'p4_bad.readable')).toMatchObject({
      severity: 'medium',
      evidence: { privileges: ['SELECT'] },
    });
    expect(finding(report, 'PRIV-004', 'p4_bad.writable')).toMatchObject({
      severity: 'high',
      evidence: { columnPrivileges: ['UPDATE (note)'] },
    });
    expect(finding(report, 'PRIV-004', 'p4_bad.seq')?.fix?.[0]?.sql).toBe(
      'revoke all on sequence p4_bad.seq from public;',
    );
  });

  it('allows grants to named roles, and functions with the default PUBLIC EXECUTE', async () => {
    await sql(`create schema p4_good; grant usage on schema p4_good to pgw_app_user;
      create table p4_good.t (id int); grant select on p4_good.t to pgw_app_user;
      create function p4_good.f() returns int language sql as 'select 1';`);
    expect(mine(await scan(), 'p4_good.')).toEqual([]);
  });
});

describe('PRIV-005 schemas where PUBLIC may create', () => {
  it('finds CREATE granted to PUBLIC on a schema other than public', async () => {
    await sql(`create schema p5_bad; grant create on schema p5_bad to public;`);
    expect(finding(await scan(), 'PRIV-005', 'schema p5_bad')).toMatchObject({
      severity: 'high',
      fix: [{ sql: 'revoke create on schema p5_bad from public;', safety: 'manual' }],
    });
  });

  it('leaves the public schema to CIS-4.10', async () => {
    await sql(`grant create on schema public to public`);
    try {
      expect(finding(await scan(), 'PRIV-005', 'schema public')).toBeUndefined();
    } finally {
      await sql(`revoke create on schema public from public`);
    }
  });
});

describe('PRIV-006 grant options', () => {
  it('finds privileges held WITH GRANT OPTION by a non-owner', async () => {
    await sql(`create schema p6_bad; create table p6_bad.t (id int);
      grant select, insert on p6_bad.t to pgw_app_user with grant option;
      create function p6_bad.f(text) returns int language sql as 'select 1';
      grant execute on function p6_bad.f(text) to pgw_auditor with grant option;`);
    const report = await scan();
    expect(finding(report, 'PRIV-006', 'p6_bad.t')).toMatchObject({
      severity: 'medium',
      evidence: { grants: [{ grantee: 'pgw_app_user', privileges: ['INSERT', 'SELECT'] }] },
      fix: [{ sql: 'revoke grant option for insert, select on table p6_bad.t from pgw_app_user;', safety: 'manual' }],
    });
    expect(finding(report, 'PRIV-006', 'function p6_bad.f(text)')).toBeDefined();
  });

  it('allows the same privileges without grant option', async () => {
    await sql(
      `create schema p6_good; create table p6_good.t (id int); grant select, insert on p6_good.t to pgw_app_user;`,
    );
    expect(mine(await scan(), 'p6_good.')).toEqual([]);
  });
});

describe('PRIV-007 extensions in public', () => {
  it('finds an extension installed in public, and not one in its own schema', async () => {
    await sql(`create extension if not exists citext schema public;
      create schema p7_ext; create extension if not exists pg_trgm schema p7_ext;`);
    const report = await scan();
    expect(finding(report, 'PRIV-007', 'extension citext')).toMatchObject({ severity: 'low' });
    expect(finding(report, 'PRIV-007', 'extension pg_trgm')).toBeUndefined();
  });
});

describe('PRIV-008 sensitive columns in clear', () => {
  it('finds sensitive-looking text and JSON columns in an exposed schema [C-01]', async () => {
    await sql(`create schema p8_bad; grant usage on schema p8_bad to pgw_app_user;
      create domain p8_bad.secret_text as text;
      create table p8_bad.users (id int, password text, "apiKey" varchar(64), ssn p8_bad.secret_text, date_of_birth text,
        card_number jsonb, password_hash text, token_id uuid, encrypted_ssn bytea, iban bytea, tokens_used int, email text);`);
    const report = await scan();
    const objects = findingsOf(report, 'PRIV-008')
      .filter((f) => f.object!.includes('p8_bad.'))
      .map((f) => f.object);
    expect(objects.sort()).toEqual(
      [
        'column p8_bad.users.password',
        'column p8_bad.users."apiKey"',
        'column p8_bad.users.ssn',
        'column p8_bad.users.date_of_birth',
        'column p8_bad.users.card_number',
      ].sort(),
    );
    expect(finding(report, 'PRIV-008', 'column p8_bad.users.password')).toMatchObject({
      checkId: 'PRIV-008',
      severity: 'medium',
      evidence: { type: 'text', matched: 'password' },
    });
  });

  it('allows encrypted (bytea), hashed and unexposed columns', async () => {
    await sql(`create schema p8_private; create table p8_private.users (password text);`);
    expect(mine(await scan(), 'p8_private.')).toEqual([]);
    expect(
      ['password_hash', 'hashed_password', 'token_type', 'secret_id', 'is_secret', 'stopwatch'].map(sensitiveTerm),
    ).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(['refresh_token', 'clientSecret', 'tax_id', 'DOB'].map(sensitiveTerm)).toEqual([
      'token',
      'secret',
      'tax_id',
      'dob',
    ]);
  });
});

describe('least privilege', () => {
  it('evaluates every catalog lint with only pg_monitor and pg_read_all_settings [C-02]', async () => {
    const scanner = await role('scanner', "login password 'pw-scan' in role pg_monitor, pg_read_all_settings");
    await sql(`create schema lp; grant usage on schema lp to pgw_app_user;
      create table lp.t (id int, tenant_id uuid, api_key text); grant select on lp.t to pgw_app_user;
      create table lp.r (tenant_id uuid); alter table lp.r enable row level security;
      create policy p on lp.r for update to pgw_app_user using (true);
      create function lp.f() returns int language sql security definer as 'select 1';`);
    const checks = [...rlsChecks, ...privilegeChecks];
    const low = await scanDatabase({ ...db, user: scanner, password: 'pw-scan' }, { checks });
    const high = await scanDatabase(db, { checks });
    for (const r of low.results) expect(r.verdict, `${r.id}: ${r.reason ?? ''}`).not.toBe('not_evaluated');
    const objects = (r: ScanReport) =>
      r.results.flatMap((x) => x.findings.map((f) => `${f.checkId} ${f.object}`)).filter((o) => o.includes('lp.'));
    expect(objects(low)).toEqual(objects(high));
    expect(objects(low)).toEqual(
      expect.arrayContaining([
        'RLS-001 lp.t',
        'RLS-004 policy p on lp.r',
        'PRIV-001 function lp.f()',
        'PRIV-002 function lp.f()',
        'PRIV-008 column lp.t.api_key',
      ]),
    );
  });
});

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allChecks } from '../../src/check/checks/index.js';
import { applyFix, formatFixPlan, type FixPlan, planFix } from '../../src/check/fix.js';
import { scanDatabase } from '../../src/check/run-scan.js';
import type { CheckDefinition, ScanReport } from '../../src/check/types.js';
import { type ConnectionConfig, quoteIdent, quoteLiteral, withClient } from '../../src/db/client.js';
import type { LocalCluster } from '../../src/db/embedded/index.js';
import { startThrowawayCluster, type ThrowawayCluster } from '../helpers/throwaway-cluster.js';
import { installedDatabase } from '../helpers/db.js';

// Its own cluster: the plants create hostile roles cluster-wide, the fixes run ALTER SYSTEM, and
// pg_hba.conf is edited. Every payload below would drop keep.canary if a name or value reached
// the SQL unquoted, ended a quoted identifier or literal early, or ended a comment of --dry-run.
let own: ThrowawayCluster | undefined;
let cluster: LocalCluster;
let conn: ConnectionConfig;

const drop = 'drop table keep.canary; --';
const hostile = {
  /** Ends a double-quoted identifier. */
  dq: `x"; ${drop}`,
  /** Ends a single-quoted literal. */
  sq: `y'); ${drop}`,
  /** Ends a `--` comment of the dry-run plan. */
  nl: `n\n${drop}`,
  /** Ends a `--` comment too (PostgreSQL's lexer and psql). */
  cr: `c\r${drop}`,
  /** A backslash before a quote: an escape when standard_conforming_strings is off. */
  bs: `b\\'); ${drop}`,
  /** Clears the reader's screen and sets the terminal title. */
  esc: 'e\u001b[2J\u001b]0;owned\u0007',
  /** Reverses what follows it on screen. */
  bidi: 'v\u202efdp.exe',
};
const q = quoteIdent;

const sql = (c: ConnectionConfig, text: string) => withClient(c, (client) => client.query(text));
/** A session that ignores the database's defaults: the test's own checks must not be hijacked. */
const pinned = (database: string): ConnectionConfig => ({
  ...conn,
  database,
  options: '-c search_path=pg_catalog,pg_temp -c role=none -c standard_conforming_strings=on',
});
const canaryExists = async (database: string) =>
  (
    await withClient(pinned(database), (c) =>
      c.query<{ t: string | null }>(`select pg_catalog.to_regclass('keep.canary')::text as t`),
    )
  ).rows[0]!.t === 'keep.canary';
const superuser = async (role: string) =>
  (await withClient(conn, (c) => c.query('select rolsuper from pg_catalog.pg_roles where rolname = $1', [role])))
    .rows[0]?.rolsuper as boolean | undefined;

beforeAll(async () => {
  own = await startThrowawayCluster('fix-injection');
  cluster = own.cluster;
  conn = { ...own.connection };
}, 120_000);
afterAll(async () => {
  await own?.remove();
});

/** A section heading of formatFixPlan: `-- Will apply (3):`. */
const heading = /^-- [A-Z][a-z][a-z ]*\(\d+\):$/;

/** Every statement of a plan, in order, with the item it belongs to. */
const statementsOf = (plan: FixPlan) => plan.items.flatMap((i) => i.statements.map((s) => ({ item: i, sql: s.sql })));

describe('fix statements built from hostile catalog names', () => {
  let report: ScanReport;
  const db = 'hostile';

  beforeAll(async () => {
    await sql(conn, `create database ${db}`);
    const h = pinned(db);
    await sql(
      conn,
      `create role ${q(hostile.dq)} nologin bypassrls; create role ${q(hostile.nl)} nologin superuser;
                     create role ${q(hostile.bs)} login`,
    );
    await sql(
      h,
      `create schema keep; create table keep.canary (id int);
       create schema ${q(hostile.dq)}; grant usage, create on schema ${q(hostile.dq)} to public;
       create table ${q(hostile.dq)}.${q(hostile.nl)} (id int primary key);
       grant insert on ${q(hostile.dq)}.${q(hostile.nl)} to public;
       grant select on ${q(hostile.dq)}.${q(hostile.nl)} to ${q(hostile.dq)} with grant option;
       create table public.${q(hostile.sq)} (${q(hostile.cr)} name, id int);
       alter table public.${q(hostile.sq)} enable row level security;
       create policy ${q(hostile.esc)} on public.${q(hostile.sq)} using (${q(hostile.cr)} = current_user);
       alter table public.${q(hostile.sq)} owner to ${q(hostile.bs)};
       create view public.${q(hostile.esc)} as select * from public.${q(hostile.sq)};
       create type public.${q(hostile.cr)} as (a int);
       create function ${q(hostile.dq)}.${q(hostile.bidi)}(public.${q(hostile.cr)}) returns int
         language sql security definer as 'select 1';`,
    );
    report = await scanDatabase(h, { only: ['rls', 'privilege', 'CIS-4.3'] });
  });

  it('gives each planted object a fix, and every statement quotes its names', () => {
    const plan = planFix(report);
    const ids = new Set(plan.items.map((i) => i.checkId));
    for (const id of [
      'CIS-4.3',
      'RLS-001',
      'RLS-009',
      'RLS-010',
      'RLS-011',
      'PRIV-001',
      'PRIV-002',
      'PRIV-003',
      'PRIV-004',
      'PRIV-005',
      'PRIV-006',
    ]) {
      expect(ids, id).toContain(id);
    }
    for (const { sql: text } of statementsOf(plan)) {
      // No raw control or formatting character: hostile names are Unicode-escaped identifiers.
      // eslint-disable-next-line no-control-regex
      expect(text).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069]/);
      // The payload never appears outside a quoted identifier.
      expect(text.replace(/U&"(?:[^"]|"")*"|"(?:[^"]|"")*"/g, '""')).not.toContain('drop table');
    }
    expect(statementsOf(plan).some((s) => s.sql.includes('U&"n\\000adrop table keep.canary; --"'))).toBe(true);
  });

  it('prints a dry run a person can paste: comments stay comments, no escape reaches the terminal', async () => {
    const plan = planFix(report);
    const text = formatFixPlan(plan);
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069]/);
    for (const line of text.split('\n')) {
      if (line === '' || heading.test(line) || line.startsWith('-- ')) continue;
      // Anything else is a statement of the plan, whole on its line.
      expect(statementsOf(plan).map((s) => `${s.sql.replace(/;$/, '')};`)).toContain(line);
    }
    // Pasted as a whole, headings aside (what psql does with it, short of CREATE INDEX
    // CONCURRENTLY, which needs a session of its own): everything runs, and nothing but the
    // printed statements does.
    const pasteable = formatFixPlan({ ...plan, items: plan.items.filter((i) => i.checkId !== 'RLS-011') })
      .split('\n')
      .filter((line) => !heading.test(line))
      .join('\n');
    await withClient(pinned(db), async (c) => {
      await c.query('begin');
      await c.query(pasteable);
      const inside = await c.query(`select pg_catalog.to_regclass('keep.canary')::text as t`);
      expect(inside.rows[0].t).toBe('keep.canary');
      await c.query('rollback');
    });
    expect(await canaryExists(db)).toBe(true);
  });

  it('runs each statement as valid SQL on exactly the planted object: the rescan no longer reports it', async () => {
    const plan = planFix(report);
    await withClient(pinned(db), async (c) => {
      for (const { sql: text } of statementsOf(plan)) {
        if (/concurrently/i.test(text)) await c.query(text);
        else {
          await c.query('begin');
          await c.query(text);
          await c.query('commit');
        }
      }
    });
    expect(await canaryExists(db)).toBe(true);
    const after = planFix(await scanDatabase(pinned(db), { only: ['rls', 'privilege', 'CIS-4.3'] }));
    const key = (i: { checkId: string; object?: string }) => `${i.checkId} ${i.object ?? ''}`;
    const fixed = new Set(plan.items.map(key));
    expect(after.items.map(key).filter((k) => fixed.has(k))).toEqual([]);
    expect(await superuser(hostile.nl)).toBe(false);
  });
});

describe("pgwarden's own fix statements", () => {
  it('gives audit.enable() a hostile table name as an escaped literal that names that table [PGW-002]', async () => {
    const db = await installedDatabase();
    const name = `o'${hostile.bs}\n`;
    await sql(
      db,
      `create schema keep; create table keep.canary (id int);
       create table public.${q(name)} (id int primary key); alter table public.${q(name)} enable row level security;`,
    );
    const plan = planFix(await scanDatabase(db, { only: ['PGW-002'] }));
    const item = plan.items.find((i) => i.object === `public.${q(name)}`)!;
    const statement = item.statements[0]!.sql;
    expect(statement).toMatch(/^select audit\.enable\(E'/);
    await sql(db, statement);
    const { rows } = await withClient(db, (c) =>
      c.query(`select 1 from audit.audited_tables where table_oid = $1::regclass`, [`public.${q(name)}`]),
    );
    expect(rows).toHaveLength(1);
    expect(
      (await withClient(db, (c) => c.query(`select pg_catalog.to_regclass('keep.canary') as t`))).rows[0].t,
    ).not.toBeNull();
    const again = planFix(await scanDatabase(db, { only: ['PGW-002'] }));
    expect(again.items.map((i) => i.object)).not.toContain(`public.${q(name)}`);
  });
});

describe('a scanned database whose owner is hostile', () => {
  const db = 'tenantdb';
  const tenant = 'tenant_owner';
  const logPrefix = `%m '); ${drop} \\' `;

  const probe: CheckDefinition = {
    id: 'PROBE-1',
    family: 'cis',
    section: 'probe',
    title: 'the session the scanner runs in',
    severity: 'info',
    source: 'sql',
    rationale: 'test',
    remediation: 'test',
    evaluate: async (ctx) => ({
      verdict: 'pass',
      evidence: (
        await ctx.query(
          'probe',
          `select current_user::text as "user", pg_catalog.current_setting('search_path') as search_path,
                  pg_catalog.current_setting('standard_conforming_strings') as scs,
                  pg_catalog.current_setting('transaction_read_only') as read_only,
                  pg_catalog.current_setting('statement_timeout') as statement_timeout`,
        )
      )[0],
    }),
  };

  beforeAll(async () => {
    await sql(conn, `create role ${tenant} login password 'pw-tenant'`);
    await sql(conn, `create database ${db} owner ${tenant}`);
    await sql(pinned(db), 'create schema keep; create table keep.canary (id int)');
    await sql(conn, `alter system set log_line_prefix = ${quoteLiteral(logPrefix)}`);
    await sql(conn, 'select pg_catalog.pg_reload_conf()');
    const asTenant = { ...conn, database: db, user: tenant, password: 'pw-tenant' };
    // Operators that hand the tenant superuser when a superuser session runs them (and make any
    // read-only session that runs them fail loudly, so a scan that did would say so).
    await sql(
      asTenant,
      `create schema evil;
       create function evil.seize() returns void language plpgsql set search_path = pg_catalog as $$
       begin
         if current_setting('transaction_read_only') = 'on' then
           raise exception 'hijacked by the database owner';
         end if;
         execute 'alter role ${tenant} superuser';
       end $$;
       create function evil.eq(a name, b name) returns boolean language plpgsql set search_path = pg_catalog as
         'begin perform evil.seize(); return a = b; end';
       create operator evil.= (leftarg = name, rightarg = name, function = evil.eq);
       create function evil.gt(a timestamptz, b timestamptz) returns boolean language plpgsql set search_path = pg_catalog as
         'begin perform evil.seize(); return a > b; end';
       create operator evil.> (leftarg = timestamptz, rightarg = timestamptz, function = evil.gt);
       grant create on schema public to public;
       alter database ${db} set search_path = evil, pg_catalog;
       alter database ${db} set standard_conforming_strings = off;`,
    );
    await sql(conn, `create database ${db}_role owner ${tenant}`);
    await sql({ ...asTenant, database: `${db}_role` }, `alter database ${db}_role set role = ${tenant}`);
  });

  afterAll(async () => {
    for (const name of ['log_line_prefix', 'log_connections']) await sql(conn, `alter system reset ${name}`);
    await sql(conn, 'select pg_catalog.pg_reload_conf()');
  });

  it('scans as the login, on pg_catalog, read-only and bounded, whatever the database and the URL say', async () => {
    const c = conn as { user: string; password: string; port: number };
    const url =
      `postgresql://${c.user}:${encodeURIComponent(c.password)}@127.0.0.1:${c.port}/${db}` +
      `?options=${encodeURIComponent('-c default_transaction_read_only=off -c statement_timeout=0')}`;
    // statement_timeout as a connection setting is what `database.statementTimeoutMs` sets in the CLI.
    for (const target of [
      { connectionString: url, statement_timeout: 600_000 },
      { ...conn, database: `${db}_role` },
    ]) {
      const report = await scanDatabase(target, { checks: [...allChecks, probe], only: ['PROBE-1', 'CIS-4.3'] });
      expect(JSON.stringify(report)).not.toContain('hijacked');
      expect(report.results.find((r) => r.id === 'PROBE-1')!.evidence).toEqual({
        user: c.user,
        search_path: 'pg_catalog, pg_temp',
        scs: 'on',
        read_only: 'on',
        statement_timeout: '10s',
      });
      expect(report.target.user).toBe(c.user);
    }
  });

  it("applies safe fixes without running the owner's operators, and writes hostile setting values exactly", async () => {
    const target = { ...conn, database: db };
    const only = ['CIS-4.10', 'CIS-3.1.20', 'CIS-3.1.24'];
    const before = await scanDatabase(target, { only });
    expect(JSON.stringify(before)).not.toContain('hijacked');
    const plan = planFix(before);
    expect(plan.items.map((i) => [i.checkId, i.action])).toEqual([
      ['CIS-3.1.20', 'apply'],
      ['CIS-3.1.24', 'apply'],
      ['CIS-4.10', 'apply'],
    ]);
    const prefixFix = plan.items.find((i) => i.checkId === 'CIS-3.1.24')!.statements[0]!.sql;
    expect(prefixFix).toMatch(/^alter system set log_line_prefix = E'/);

    const result = await applyFix(target, plan);
    expect(result.failed).toBeUndefined();
    expect(result.applied.map((a) => a.checkId)).toEqual(['CIS-3.1.20', 'CIS-3.1.24', 'CIS-4.10']);
    // The reload compared load times with `>`: on the owner's search_path that was their operator.
    expect(await superuser(tenant)).toBe(false);
    expect(await canaryExists(db)).toBe(true);
    const prefix = await withClient(conn, async (c) => (await c.query('show log_line_prefix')).rows[0].log_line_prefix);
    expect(prefix.startsWith(logPrefix.trimEnd())).toBe(true);

    const after = await scanDatabase(target, { only });
    expect(after.results.map((r) => [r.id, r.verdict])).toEqual([
      ['CIS-3.1.20', 'pass'],
      ['CIS-3.1.24', 'pass'],
      ['CIS-4.10', 'pass'],
    ]);
  });
});

describe('pg_hba.conf lines the server rejected', () => {
  it('reports the line without the bind password or secret the error repeats', async () => {
    const file = join(cluster.dataDir, 'pg_hba.conf');
    const original = await readFile(file, 'utf8');
    const secret = 'Hunter2pw';
    try {
      await writeFile(
        file,
        `${original}
host all all 10.9.9.1/32 ldap ldapserver=ldap.example ldapbasedn="dc=x" ldapbinddn="cn=scan" ldapbindpasswd=${secret} ${secret}tail
host all all 10.9.9.2/32 ldap ldapurl="ldap://scan:${secret}@ldap.example/dc=x?uid?sub"
host all all 10.9.9.3/32 radius radiusservers=radius.example radiussecrets=${secret}
`,
      );
      await sql(conn, 'select pg_catalog.pg_reload_conf()');
      const report = await scanDatabase(conn, { only: ['CIS-5.4'] });
      const lines = report.results[0]!.findings.filter((f) => /invalid line/.test(f.message));
      expect(lines.length).toBeGreaterThan(0);
      expect(JSON.stringify(report)).not.toContain(secret);
    } finally {
      await writeFile(file, original);
      await sql(conn, 'select pg_catalog.pg_reload_conf()');
    }
  });
});

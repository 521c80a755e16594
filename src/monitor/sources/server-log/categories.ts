/**
 * Tags a server-log record with the attack category a detection rule looks for
 * (`fields.category`). The checks are plain substring and word searches over the lower-cased
 * statement and the message: linear, no regular expression over a whole line.
 */

/**
 * The categories `fields.category` may carry.
 *
 * @example
 * const c: LogCategory = 'set_role_denied';
 */
export type LogCategory =
  | 'rls_violation'
  | 'set_role_denied'
  | 'row_security_off'
  | 'catalog_probe'
  | 'jwt_claims_tampering'
  | 'copy_program'
  | 'syntax_probe'
  | 'privilege_change'
  | 'security_ddl'
  | 'audit_tampering'
  | 'logging_change';

/**
 * What the category checks look at.
 *
 * @example
 * logCategory({ sqlstate: '42601', message: 'syntax error at or near "OR"', statement: '' }); // 'syntax_probe'
 */
export interface CategoryInput {
  sqlstate: string | undefined;
  message: string;
  /** The statement, lower-cased; '' when the record has none. */
  statement: string;
  /** pgaudit's class (ROLE, DDL …) for pg.audit records. */
  auditClass?: string | undefined;
  /** The parameter of a pg.config_changed record. */
  parameter?: string | undefined;
}

/** SQLSTATEs an injection probe produces: syntax error, undefined column/function, bad input. */
const PROBE_STATES: ReadonlySet<string> = new Set(['42601', '42703', '42883', '22P02']);
const CATALOGS = ['pg_authid', 'pg_shadow', 'pg_policy'];
/** Settings whose change can blind the audit trail or the server log. */
const AUDIT_SETTINGS: ReadonlySet<string> = new Set([
  'log_statement',
  'log_connections',
  'log_disconnections',
  'logging_collector',
  'log_destination',
  'log_directory',
  'log_filename',
  'log_line_prefix',
  'log_min_messages',
  'log_min_error_statement',
  'shared_preload_libraries',
]);

const isWordChar = (c: number) => (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 95 || (c >= 65 && c <= 90);

/** Index after `word` at its first occurrence at or after `from` with word boundaries, or -1. */
function wordEnd(text: string, word: string, from = 0): number {
  for (let at = text.indexOf(word, from); at !== -1; at = text.indexOf(word, at + 1)) {
    const end = at + word.length;
    if ((at === 0 || !isWordChar(text.charCodeAt(at - 1))) && !isWordChar(text.charCodeAt(end))) return end;
  }
  return -1;
}

/** Whether `text` contains `word` as a whole word. */
export function hasWord(text: string, word: string): boolean {
  return wordEnd(text, word) !== -1;
}

/** Whether `text` contains the words of `phrase` in a row, separated by any whitespace. */
export function hasPhrase(text: string, phrase: readonly string[]): boolean {
  const [first, ...rest] = phrase;
  if (first === undefined) return false;
  for (let end = wordEnd(text, first); end !== -1; end = wordEnd(text, first, end)) {
    let at = end;
    let matched = true;
    for (const word of rest) {
      const start = at;
      while (at < text.length && text.charCodeAt(at) <= 32) at++;
      if (at === start || !text.startsWith(word, at) || isWordChar(text.charCodeAt(at + word.length))) {
        matched = false;
        break;
      }
      at += word.length;
    }
    if (matched) return true;
  }
  return false;
}

const setsSomething = (s: string) => hasWord(s, 'set') || s.includes('set_config') || hasWord(s, 'reset');

/** Audit capture switched off: triggers disabled, replication role, event triggers, pgaudit dropped. */
function isAuditTampering(input: CategoryInput): boolean {
  const s = input.statement;
  if (s === '') return false;
  if (hasPhrase(s, ['disable', 'trigger']) || hasWord(s, 'session_replication_role')) return true;
  if (hasPhrase(s, ['event', 'trigger']) && (hasWord(s, 'drop') || hasWord(s, 'disable'))) return true;
  return s.includes('pgaudit') && hasPhrase(s, ['drop', 'extension']);
}

/** A pgaudit.* or log_* setting changed (reported by the server, or set by a statement). */
function isLoggingChange(input: CategoryInput): boolean {
  const p = input.parameter;
  if (p !== undefined && (AUDIT_SETTINGS.has(p) || p.startsWith('pgaudit.'))) return true;
  const s = input.statement;
  if (s === '') return false;
  if (s.includes('pgaudit') && setsSomething(s)) return true;
  if (!s.includes('log') && !s.includes('shared_preload')) return false;
  if (!setsSomething(s) && !hasPhrase(s, ['alter', 'system'])) return false;
  for (const setting of AUDIT_SETTINGS) if (hasWord(s, setting)) return true;
  return false;
}

/** Roles whose grant hands out superuser-like power: server files, programs, all data, signals. */
const POWERFUL_ROLES = [
  'pg_read_server_files',
  'pg_write_server_files',
  'pg_execute_server_program',
  'pg_read_all_data',
  'pg_write_all_data',
  'pg_signal_backend',
];

/**
 * A change that raises privileges: a role given SUPERUSER, BYPASSRLS, CREATEROLE or REPLICATION, a
 * grant of a powerful predefined role, of an owner or admin role, or WITH ADMIN OPTION, and the
 * DDL that loosens row-level security. An ordinary GRANT (SELECT to the app role, a plain role
 * membership) and a de-escalation (NOBYPASSRLS, REVOKE) are not one, whether the statement comes
 * from log_statement or from a pgaudit ROLE line.
 */
/** A role given superuser-like attributes, a powerful role, or admin rights over a role. */
function isPrivilegeChange(input: CategoryInput): boolean {
  const s = input.statement;
  if (s === '') return false;
  if (hasWord(s, 'grant') && !hasWord(s, 'revoke')) {
    if (POWERFUL_ROLES.some((r) => hasWord(s, r))) return true;
    if (/\b\w*(?:_owner|_admin|auth_service)\b|\badmin\b/.test(s)) return true;
    if (hasPhrase(s, ['with', 'admin', 'option']) || hasPhrase(s, ['with', 'admin', 'true'])) return true;
  }
  const roleDdl = (hasWord(s, 'role') || hasWord(s, 'user')) && (hasWord(s, 'alter') || hasWord(s, 'create'));
  return roleDdl && ['superuser', 'bypassrls', 'createrole', 'replication'].some((a) => hasWord(s, a));
}

/**
 * DDL that weakens access control without touching a role: default privileges, SECURITY DEFINER,
 * row-level security switched off, a policy dropped or changed. Each has its own rule; kept apart
 * from privilege_change so one DROP POLICY is one alert, not also a role escalation.
 */
function isSecurityDdl(input: CategoryInput): boolean {
  const s = input.statement;
  if (s === '') return false;
  return (
    hasPhrase(s, ['alter', 'default', 'privileges']) ||
    hasPhrase(s, ['security', 'definer']) ||
    hasPhrase(s, ['disable', 'row', 'level', 'security']) ||
    hasPhrase(s, ['no', 'force', 'row', 'level', 'security']) ||
    hasPhrase(s, ['drop', 'policy']) ||
    hasPhrase(s, ['alter', 'policy'])
  );
}

/**
 * The category of a record, most specific first; undefined when none applies.
 *
 * @example
 * logCategory({ sqlstate: '42501', message: 'permission denied to set role "admin"', statement: 'set role admin' });
 * // 'set_role_denied'
 */
export function logCategory(input: CategoryInput): LogCategory | undefined {
  const { sqlstate, message: m, statement: s } = input;
  if (
    m.includes('violates row-level security policy') ||
    m.includes('would be affected by row-level security policy')
  ) {
    return 'rls_violation';
  }
  if (
    sqlstate === '42501' &&
    (m.startsWith('permission denied to set role') || m.startsWith('permission denied to set session authorization'))
  ) {
    return 'set_role_denied';
  }
  if ((hasWord(s, 'copy') && hasWord(s, 'program')) || m.includes('external program')) return 'copy_program';
  if (CATALOGS.some((c) => hasWord(s, c) || (sqlstate === '42501' && hasWord(m, c)))) return 'catalog_probe';
  if (s.includes('request.jwt') && (s.includes('set_config') || hasWord(s, 'set'))) return 'jwt_claims_tampering';
  if (hasWord(s, 'row_security') || m.includes('"row_security"')) return 'row_security_off';
  if (isAuditTampering(input)) return 'audit_tampering';
  if (isLoggingChange(input)) return 'logging_change';
  if (isPrivilegeChange(input)) return 'privilege_change';
  if (isSecurityDdl(input)) return 'security_ddl';
  if (sqlstate !== undefined && PROBE_STATES.has(sqlstate)) return 'syntax_probe';
  return undefined;
}

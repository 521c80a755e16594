/**
 * The parts of a pgaudit log line the monitor uses.
 *
 * @example
 * const e: PgauditEntry | undefined = parsePgauditMessage(record.message);
 */
export interface PgauditEntry {
  /** SESSION or OBJECT. */
  auditType: string;
  /** READ, WRITE, FUNCTION, ROLE, DDL, MISC, MISC_SET. */
  auditClass: string;
  /** The command tag, e.g. `ALTER ROLE`. */
  command: string;
  objectType: string;
  objectName: string;
  /** The statement as pgaudit logged it (unmasked: mask before use). */
  statement: string;
  /** `AUDIT: <type>,<id>,<sub id>,<class>,<command>,<object type>,<object name>,` for rebuilding the message. */
  head: string;
}

/** Splits pgaudit's CSV (quoted fields with doubled quotes) from `at`; at most `max` fields. */
function splitCsv(text: string, at: number, max: number): string[] {
  const out: string[] = [];
  let i = at;
  while (out.length < max && i <= text.length) {
    if (text.charCodeAt(i) === 34) {
      let close = text.indexOf('"', i + 1);
      while (close !== -1 && text.charCodeAt(close + 1) === 34) close = text.indexOf('"', close + 2);
      if (close === -1) close = text.length;
      out.push(text.slice(i + 1, close).replaceAll('""', '"'));
      i = close + 2;
    } else {
      let comma = text.indexOf(',', i);
      if (comma === -1) comma = text.length;
      out.push(text.slice(i, comma));
      i = comma + 1;
    }
  }
  return out;
}

/**
 * Parses the message of a pgaudit line:
 * `AUDIT: SESSION,1,1,ROLE,ALTER ROLE,,,ALTER ROLE x BYPASSRLS,<not logged>`
 * (audit type, statement id, substatement id, class, command, object type, object name,
 * statement, parameter). The parameter is dropped: it may carry bound secrets.
 *
 * @example
 * parsePgauditMessage('AUDIT: SESSION,1,1,ROLE,ALTER ROLE,,,ALTER ROLE x BYPASSRLS,<not logged>')?.auditClass; // 'ROLE'
 */
export function parsePgauditMessage(message: string): PgauditEntry | undefined {
  if (!message.startsWith('AUDIT: ')) return undefined;
  const f = splitCsv(message, 7, 8);
  if (f.length < 8) return undefined;
  const [auditType = '', id = '', subId = '', auditClass = '', command = '', objectType = '', objectName = ''] = f;
  if (auditType !== 'SESSION' && auditType !== 'OBJECT') return undefined;
  return {
    auditType,
    auditClass,
    command,
    objectType,
    objectName,
    statement: f[7] ?? '',
    head: `AUDIT: ${[auditType, id, subId, auditClass, command, objectType, objectName].join(',')},`,
  };
}

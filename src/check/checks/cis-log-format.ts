/**
 * Pure readers of logging settings, shared by the CIS logging checks and their tests.
 */

/**
 * The escape letters a log_line_prefix uses. Handles `%%` (a literal percent) and the padding
 * PostgreSQL allows between `%` and the letter (`%-10u`, `%5p`).
 *
 * @example
 * prefixEscapes('%m [%p] %q%-10u@%d %%x'); // Set { 'm', 'p', 'q', 'u', 'd' }
 */
export function prefixEscapes(prefix: string): Set<string> {
  const found = new Set<string>();
  for (let i = 0; i < prefix.length; i++) {
    if (prefix[i] !== '%') continue;
    let j = i + 1;
    if (prefix[j] === '-') j++;
    while (j < prefix.length && /[0-9]/.test(prefix[j]!)) j++;
    const letter = prefix[j];
    if (letter === undefined) break;
    if (letter !== '%') found.add(letter);
    i = j;
  }
  return found;
}

/**
 * What a log line must say to attribute an event, and the escapes that say it.
 *
 * @example
 * prefixElements.client; // ['h', 'r']
 */
export const prefixElements = {
  time: ['t', 'm', 'n'],
  process: ['p', 'c'],
  database: ['d'],
  user: ['u'],
  application: ['a'],
  client: ['h', 'r'],
} as const;

/**
 * One attribution element of a log line.
 *
 * @example
 * const el: PrefixElement = 'client';
 */
export type PrefixElement = keyof typeof prefixElements;

/**
 * The elements a log_line_prefix lacks. With `syslogOnly`, time and process are not required:
 * syslog stamps every message with both.
 *
 * @example
 * missingPrefixElements('%m [%p] '); // ['database', 'user', 'application', 'client']
 */
export function missingPrefixElements(prefix: string, syslogOnly = false): PrefixElement[] {
  const used = prefixEscapes(prefix);
  return (Object.keys(prefixElements) as PrefixElement[]).filter(
    (el) =>
      !(syslogOnly && (el === 'time' || el === 'process')) && !prefixElements[el].some((letter) => used.has(letter)),
  );
}

/**
 * What `log_connections = on` logs; PostgreSQL 18 made the setting a list of these.
 *
 * @example
 * missingConnectionAspects('off'); // every one of connectionAspects
 */
export const connectionAspects = ['receipt', 'authentication', 'authorization'] as const;

const TRUE_WORDS = new Set(['on', 'true', 'yes', '1', 'all']);
const FALSE_WORDS = new Set(['off', 'false', 'no', '0', '']);

/**
 * The connection-logging aspects a log_connections value leaves out: none for `on` (15–17) or
 * `all` / a full list (18+), all three for `off` or an empty list.
 *
 * @example
 * missingConnectionAspects('receipt,authorization'); // ['authentication']
 */
export function missingConnectionAspects(value: string): string[] {
  const v = value.trim().toLowerCase();
  if (TRUE_WORDS.has(v)) return [];
  if (FALSE_WORDS.has(v)) return [...connectionAspects];
  const items = new Set(v.split(',').map((s) => s.trim()));
  if (items.has('all') || items.has('on')) return [];
  return connectionAspects.filter((a) => !items.has(a));
}

/**
 * pgAudit's statement classes (`all` is every one of them).
 *
 * @example
 * auditedClasses('all').size === pgauditClasses.length; // true
 */
export const pgauditClasses = ['read', 'write', 'function', 'role', 'ddl', 'misc', 'misc_set'] as const;

/**
 * The classes a pgaudit.log value audits, applying items in order as pgAudit does
 * (`all,-misc` audits everything but misc; `none` adds nothing).
 *
 * @example
 * auditedClasses('all, -write'); // Set { 'read', 'function', 'role', 'ddl', 'misc', 'misc_set' }
 */
export function auditedClasses(value: string): Set<string> {
  const classes = new Set<string>();
  for (const raw of value.split(',')) {
    const item = raw.trim().toLowerCase();
    if (item === '') continue;
    const remove = item.startsWith('-');
    const name = remove ? item.slice(1).trim() : item;
    const members =
      name === 'all' ? pgauditClasses : (pgauditClasses as readonly string[]).includes(name) ? [name] : [];
    for (const m of members) {
      if (remove) classes.delete(m);
      else classes.add(m);
    }
  }
  return classes;
}

/**
 * Server message levels from most to least verbose (log_min_messages, log_min_error_statement).
 *
 * @example
 * messageLevels.indexOf('warning') < messageLevels.indexOf('error'); // true
 */
export const messageLevels = [
  'debug5',
  'debug4',
  'debug3',
  'debug2',
  'debug1',
  'info',
  'notice',
  'warning',
  'error',
  'log',
  'fatal',
  'panic',
] as const;

/**
 * Whether a level is within [most, least] verbose bounds, or too verbose / too quiet.
 *
 * @example
 * levelWithin('debug2', 'info', 'warning'); // 'too_verbose'
 */
export function levelWithin(
  level: string,
  mostVerbose: string,
  leastVerbose: string,
): 'ok' | 'too_verbose' | 'too_quiet' {
  const rank = (l: string) => (messageLevels as readonly string[]).indexOf(l.toLowerCase());
  const r = rank(level);
  if (r < rank(mostVerbose)) return 'too_verbose';
  if (r > rank(leastVerbose)) return 'too_quiet';
  return 'ok';
}

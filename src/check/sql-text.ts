import { quoteIdent } from '../db/index.js';

// Remediation statements are run by `pgwarden fix --apply`, printed by --dry-run for a person to
// paste into psql, and embedded in every report format. They quote names read from the catalog,
// which the owner of any object chose: control characters, escape sequences and bidirectional
// overrides included. These helpers keep such statements valid, equivalent SQL whose text shows
// no character a terminal or a reader could be fooled by.

/**
 * Characters a statement never carries raw: C0 and C1 controls (newline and tab included: inside
 * a name they are part of the name, not layout), DEL, line and paragraph separators, zero-width
 * and bidirectional formatting characters, and non-characters.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const hidden = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufffe\uffff]/;
const hiddenAll = new RegExp(hidden.source, 'g');

const hex = (c: string, width: number) => c.codePointAt(0)!.toString(16).padStart(width, '0');

/**
 * An SQL string literal: `'it''s'`, or an escape string (`E'a\\b\x1b'`) when the value holds a
 * backslash or a hidden character, so it reads the same under any standard_conforming_strings
 * and prints no control character. NUL cannot be stored in PostgreSQL text and throws.
 *
 * @example
 * sqlLiteral("%m 'x'"); // "'%m ''x'''"
 * sqlLiteral('C:\\logs'); // "E'C:\\\\logs'"
 */
export function sqlLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('NUL byte in SQL literal');
  if (!value.includes('\\') && !hidden.test(value)) return `'${value.replaceAll("'", "''")}'`;
  const body = value
    .replaceAll('\\', '\\\\')
    .replaceAll("'", "''")
    .replace(hiddenAll, (c) => (c.charCodeAt(0) < 0x80 ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`));
  return `E'${body}'`;
}

const plainSettingName = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)*$/;

/**
 * A configuration parameter's name for ALTER SYSTEM: as is when it is made of plain words
 * (`pgaudit.log`), quoted otherwise, so no name can extend the statement.
 *
 * @example
 * settingName('log_connections'); // 'log_connections'
 * settingName('x; drop'); // '"x; drop"'
 */
export function settingName(name: string): string {
  return plainSettingName.test(name) ? name : printableSql(quoteIdent(name));
}

/** A quoted identifier's content in U&"…" form: hidden characters as a backslash and 4 hex digits, or \+ and 6. */
function unicodeIdent(name: string): string {
  const body = [...name]
    .map((c) => {
      if (c === '\\') return '\\\\';
      if (c === '"') return '""';
      if (!hidden.test(c)) return c;
      const cp = c.codePointAt(0)!;
      return cp > 0xffff ? `\\+${hex(c, 6)}` : `\\${hex(c, 4)}`;
    })
    .join('');
  return `U&"${body}"`;
}

/** End of a quoted run starting at `start` (the opening quote): the index after the closing one. */
function quotedEnd(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    const c = sql[i]!;
    if (backslashEscapes && c === '\\') i += 2;
    else if (c === quote && sql[i + 1] === quote) i += 2;
    else if (c === quote) return i + 1;
    else i++;
  }
  return sql.length;
}

const identChar = /[A-Za-z0-9_$\u0080-\uffff]/;

/** Where a `--` comment ends: PostgreSQL ends it at a carriage return as well as a newline. */
function lineEnd(sql: string, start: number): number {
  const m = /[\n\r]/.exec(sql.slice(start));
  return m ? start + m.index : sql.length;
}

/**
 * The statement with every quoted identifier that holds a hidden character rewritten as a
 * Unicode-escaped identifier (`"a<ESC>b"` → `U&"a\001bb"`, the same name to the server). Literals,
 * comments and dollar-quoted bodies are left as they are (literals come from sqlLiteral, which
 * escapes them itself). Applying it twice changes nothing.
 *
 * @example
 * printableSql('alter table "s"."t\u001b[2J" enable row level security'); // 'alter table "s".U&"t\\001b[2J" enable …'
 */
export function printableSql(sql: string): string {
  if (!hidden.test(sql)) return sql;
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const prev = sql[i - 1] ?? ' ';
    let end = i + 1;
    if (c === '"') {
      end = quotedEnd(sql, i, '"', false);
      const raw = sql.slice(i, end);
      const unicode = sql.slice(Math.max(0, i - 2), i).toUpperCase() === 'U&';
      const closed = raw.length >= 2 && raw.endsWith('"');
      out += closed && !unicode && hidden.test(raw) ? unicodeIdent(raw.slice(1, -1).replaceAll('""', '"')) : raw;
      i = end;
      continue;
    }
    if (c === "'") end = quotedEnd(sql, i, "'", /[Ee]/.test(prev) && !identChar.test(sql[i - 2] ?? ' '));
    else if (c === '-' && sql[i + 1] === '-') end = lineEnd(sql, i);
    else if (c === '/' && sql[i + 1] === '*')
      end = sql.indexOf('*/', i + 2) < 0 ? sql.length : sql.indexOf('*/', i + 2) + 2;
    else if (c === '$' && !identChar.test(prev)) {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i))?.[0];
      if (tag) {
        const close = sql.indexOf(tag, i + tag.length);
        end = close < 0 ? sql.length : close + tag.length;
      }
    }
    out += sql.slice(i, end);
    i = end;
  }
  return out;
}

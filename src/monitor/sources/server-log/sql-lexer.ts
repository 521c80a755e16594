/**
 * The pieces of a SQL lexer the server-log source shares: where a string literal, a dollar quote
 * and a (nested) block comment end, and a copy of a statement with its comments blanked for the
 * detection checks. Linear scans with indexOf, no regular expression over the text.
 */

/**
 * Whether the character code may start an unquoted SQL identifier or keyword.
 *
 * @example
 * isWordStart('_'.charCodeAt(0)); // true
 */
export const isWordStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128;

/**
 * Whether the character code may continue an unquoted identifier (digits and `$` too).
 *
 * @example
 * isWordChar('$'.charCodeAt(0)); // true
 */
export const isWordChar = (c: number) => isWordStart(c) || (c >= 48 && c <= 57) || c === 36;

/**
 * End (exclusive) of the quoted string whose opening quote is at `q`; `backslashEscapes` for
 * `E'…'` strings.
 *
 * @example
 * stringEnd("'it''s' x", 0, false); // 7
 */
export function stringEnd(sql: string, q: number, backslashEscapes: boolean): number {
  let i = q + 1;
  for (;;) {
    const close = sql.indexOf("'", i);
    if (close === -1) return sql.length;
    if (backslashEscapes) {
      let backslashes = 0;
      for (let b = close - 1; b > q && sql.charCodeAt(b) === 92; b--) backslashes++;
      if (backslashes % 2 === 1) {
        i = close + 1;
        continue;
      }
    }
    if (sql.charCodeAt(close + 1) === 39) {
      i = close + 2;
      continue;
    }
    return close + 1;
  }
}

/**
 * Length of a `$tag$` opening at `i`, or 0 when `$` starts something else (`$1`).
 *
 * @example
 * dollarTagLength('$fn$ body $fn$', 0); // 4
 */
export function dollarTagLength(sql: string, i: number): number {
  let j = i + 1;
  if (j < sql.length && sql.charCodeAt(j) >= 48 && sql.charCodeAt(j) <= 57) return 0;
  while (j < sql.length && sql.charCodeAt(j) !== 36) {
    if (!isWordChar(sql.charCodeAt(j))) return 0;
    j++;
  }
  return j < sql.length ? j - i + 1 : 0;
}

/**
 * End (exclusive) of the block comment opening at `i`; PostgreSQL nests them. An unclosed one
 * runs to the end of the text, as it does for the server.
 *
 * @example
 * commentEnd('/* a /* b *\/ c *\/ x', 0); // 17
 */
export function commentEnd(sql: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < sql.length) {
    if (sql.charCodeAt(j) === 47 && sql.charCodeAt(j + 1) === 42) {
      depth++;
      j += 2;
    } else if (sql.charCodeAt(j) === 42 && sql.charCodeAt(j + 1) === 47) {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else {
      j++;
    }
  }
  return j;
}

/** End (exclusive) of the quoted identifier opening at `i` (`""` inside is a quote). */
function identifierEnd(sql: string, i: number): number {
  let j = i + 1;
  for (;;) {
    const close = sql.indexOf('"', j);
    if (close === -1) return sql.length;
    if (sql.charCodeAt(close + 1) !== 34) return close + 1;
    j = close + 2;
  }
}

/** Dollar-quoted bodies nested deeper than this (`$a$ … $b$ … $b$ … $a$`) are left as they are. */
const MAX_BODY_DEPTH = 3;

/**
 * `sql` with every comment (`-- …` to the end of the line, `/* … *\/` nested) replaced by one
 * space, so `drop/*x*\/policy` reads `drop policy` to a keyword check. String literals and quoted
 * identifiers are kept as they are; dollar-quoted bodies (`DO $$ … $$`, function bodies) are code
 * and are blanked the same way. Only the detection checks read this copy: events keep the
 * statement as logged.
 *
 * @example
 * withoutSqlComments("alter table t disable/*x*\/row level security -- bye"); // 'alter table t disable row level security  '
 */
export function withoutSqlComments(sql: string): string {
  if (!sql.includes('/*') && !sql.includes('--')) return sql;
  return blank(sql, 0);
}

function blank(sql: string, depth: number): string {
  const parts: string[] = [];
  let copied = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql.charCodeAt(i);
    const next = sql.charCodeAt(i + 1);
    if ((c === 45 && next === 45) || (c === 47 && next === 42)) {
      let end: number;
      if (c === 45) {
        const eol = sql.indexOf('\n', i);
        end = eol === -1 ? n : eol;
      } else end = commentEnd(sql, i);
      parts.push(sql.slice(copied, i), ' ');
      copied = end;
      i = end;
    } else if (c === 39 || ((c === 69 || c === 101) && next === 39)) {
      const q = c === 39 ? i : i + 1;
      i = stringEnd(sql, q, q !== i);
    } else if (c === 34) {
      i = identifierEnd(sql, i);
    } else if (c === 36 && dollarTagLength(sql, i) > 0) {
      const tagLength = dollarTagLength(sql, i);
      const tag = sql.slice(i, i + tagLength);
      const bodyAt = i + tagLength;
      const close = sql.indexOf(tag, bodyAt);
      const bodyEnd = close === -1 ? n : close;
      const body = sql.slice(bodyAt, bodyEnd);
      if (depth < MAX_BODY_DEPTH && (body.includes('/*') || body.includes('--'))) {
        parts.push(sql.slice(copied, bodyAt), blank(body, depth + 1));
        copied = bodyEnd;
      }
      i = close === -1 ? n : close + tagLength;
    } else if (isWordStart(c)) {
      i++;
      while (i < n && isWordChar(sql.charCodeAt(i))) i++;
    } else {
      i++;
    }
  }
  if (parts.length === 0) return sql;
  parts.push(sql.slice(copied));
  return parts.join('');
}

/**
 * Masks literals that look like secrets in SQL text read from the server log, before any of it
 * reaches an event: `PASSWORD '…'`, `SET app.secret = '…'`, `set_config('…key…', '…')`, the
 * arguments of password, token, key and crypto functions (pgcrypto, pgwarden's auth API), and
 * connection strings with a password. One linear pass of a small SQL lexer, run only when the
 * text mentions one of the trigger words.
 */

import { commentEnd, dollarTagLength, isWordChar, isWordStart, stringEnd } from './sql-lexer.js';

/** A quick, linear pre-check: most statements mention none of these. */
const TRIGGER = /passw|secret|token|crypt|hmac|pgp_|key|login|session|mfa|otp|credential|private|auth|register|:\/\//i;
/** A word or literal containing one of these makes the next literals secret. */
const SENSITIVE = ['passw', 'secret', 'token', 'crypt', 'hmac', 'pgp_', 'key', 'credential', 'private', 'otp', 'mfa'];
/** Functions whose string arguments are all treated as secret. */
const SENSITIVE_CALL = [...SENSITIVE, 'login', 'session', 'register', 'authenticate', 'sign_in', 'signin'];
/** Tokens after a sensitive word during which a literal is masked (`password` `=` `'x'`). */
const WINDOW = 3;
/** Shorter secrets are masked in the statement but not searched for in other text. */
const MIN_SCRUB_LENGTH = 4;
const REDACTED = "'[redacted]'";

/**
 * Masked text and the secret values found in it (to scrub from the record's other texts).
 *
 * @example
 * const { text, secrets } = maskSecrets("alter role a password 'hunter2'"); // secrets: ['hunter2']
 */
export interface MaskedText {
  text: string;
  secrets: readonly string[];
}

const NONE: readonly string[] = [];
const includesAny = (lower: string, words: readonly string[]) => words.some((w) => lower.includes(w));
const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 12;

/** A URI with credentials (`postgres://user:secret@host`), found without backtracking. */
function hasUriPassword(text: string): boolean {
  const scheme = text.indexOf('://');
  if (scheme === -1) return false;
  const at = text.indexOf('@', scheme + 3);
  const colon = text.indexOf(':', scheme + 3);
  const slash = text.indexOf('/', scheme + 3);
  return at !== -1 && colon !== -1 && colon < at && (slash === -1 || at < slash);
}

/**
 * Replaces secret-looking literals in `sql` with `'[redacted]'`.
 *
 * @example
 * maskSecrets("alter role alice password 'hunter2'").text; // "alter role alice password '[redacted]'"
 */
export function maskSecrets(sql: string): MaskedText {
  if (!TRIGGER.test(sql)) return { text: sql, secrets: NONE };
  const parts: string[] = [];
  const secrets: string[] = [];
  let copied = 0;
  let window = 0;
  let afterPassword = false;
  let lastWord = '';
  let qualifier = '';
  let previousWasDot = false;
  let wordIndex = 0;
  let roleStatement = false;
  const calls: boolean[] = [];
  let sensitiveCalls = 0;
  const redact = (from: number, to: number, secret: string) => {
    parts.push(sql.slice(copied, from), REDACTED);
    copied = to;
    if (secret.length >= MIN_SCRUB_LENGTH) secrets.push(secret);
  };
  const literal = (from: number, to: number, content: string) => {
    const secret = sensitiveCalls > 0 || window > 0 || afterPassword;
    const lower = content.toLowerCase();
    if (secret || /password\s*=/.test(lower) || hasUriPassword(lower)) redact(from, to, content);
    else if (includesAny(lower, SENSITIVE)) window = WINDOW + 1;
  };
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    const next = sql.charCodeAt(i + 1);
    if (c === 45 && next === 45) {
      const eol = sql.indexOf('\n', i);
      i = eol === -1 ? n : eol + 1;
      continue;
    }
    if (c === 47 && next === 42) {
      i = commentEnd(sql, i);
      continue;
    }
    const wasDot = previousWasDot;
    previousWasDot = false;
    if (c === 39 || ((c === 69 || c === 101) && next === 39)) {
      const q = c === 39 ? i : i + 1;
      const end = stringEnd(sql, q, q !== i);
      literal(i, end, sql.slice(q + 1, end - 1).replaceAll("''", "'"));
      i = end;
    } else if (c === 36 && dollarTagLength(sql, i) > 0) {
      const tag = sql.slice(i, i + dollarTagLength(sql, i));
      const close = sql.indexOf(tag, i + tag.length);
      const end = close === -1 ? n : close + tag.length;
      literal(i, end, sql.slice(i + tag.length, close === -1 ? n : close));
      i = end;
    } else if (isWordStart(c) || c === 34 || (c >= 48 && c <= 57)) {
      const start = i;
      let word: string;
      if (c === 34) {
        const close = sql.indexOf('"', i + 1);
        i = close === -1 ? n : close + 1;
        word = sql.slice(start + 1, i - 1).toLowerCase();
      } else {
        while (i < n && isWordChar(sql.charCodeAt(i))) i++;
        word = sql.slice(start, i).toLowerCase();
      }
      // `alter role x password hunter2` (a typo) still logs the secret, unquoted.
      if (afterPassword && roleStatement && word !== 'null') redact(start, i, sql.slice(start, i));
      afterPassword = word === 'password';
      if (wordIndex === 0) roleStatement = word === 'create' || word === 'alter';
      else if (wordIndex === 1) roleStatement &&= word === 'role' || word === 'user' || word === 'group';
      wordIndex++;
      qualifier = wasDot ? lastWord : '';
      lastWord = word;
      if (includesAny(word, SENSITIVE)) window = WINDOW + 1;
      window = Math.max(0, window - 1);
      continue;
    } else if (c === 40) {
      const sensitive = qualifier === 'auth' || includesAny(lastWord, SENSITIVE_CALL);
      calls.push(sensitive);
      if (sensitive) sensitiveCalls++;
      i++;
    } else if (c === 41) {
      if (calls.pop()) sensitiveCalls--;
      i++;
    } else if (c === 59) {
      calls.length = 0;
      sensitiveCalls = 0;
      window = 0;
      wordIndex = 0;
      roleStatement = false;
      i++;
    } else {
      previousWasDot = c === 46;
      i++;
    }
    afterPassword = false;
    if (!previousWasDot) lastWord = '';
    window = Math.max(0, window - 1);
  }
  if (parts.length === 0) return { text: sql, secrets: NONE };
  parts.push(sql.slice(copied));
  return { text: parts.join(''), secrets };
}

const scramVerifier = /SCRAM-SHA-256\$[^\s"']+/g;
const md5Verifier = /\bmd5[0-9a-f]{32}\b/g;

/**
 * Masks stored password verifiers (SCRAM-SHA-256 and md5) quoted in a message: an injection that
 * casts `rolpassword` to a number makes the server print the hash in a 22P02 error. The scheme
 * stays visible, so a rule can still see what leaked.
 *
 * @example
 * maskVerifiers('invalid input syntax for type integer: "md5' + 'a'.repeat(32) + '"'); // '… "md5[redacted]"'
 */
export function maskVerifiers(text: string): string {
  if (!text.includes('SCRAM-SHA-256$') && !text.includes('md5')) return text;
  return text.replace(scramVerifier, 'SCRAM-SHA-256$[redacted]').replace(md5Verifier, 'md5[redacted]');
}

/**
 * Replaces each of `secrets` in `text` with `[redacted]` (an error message quoting the value of
 * a masked literal, `invalid input syntax … "hunter2"`).
 *
 * @example
 * scrubSecrets('near "hunter2"', ['hunter2']); // 'near "[redacted]"'
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (out.includes(secret)) out = out.replaceAll(secret, '[redacted]');
  return out;
}

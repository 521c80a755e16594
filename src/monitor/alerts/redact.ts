// Alerts leave the database for mail boxes, chat channels and third-party services (M-12: they
// carry no passwords, tokens or decrypted data). Rules and sources already avoid secrets, but a
// summary or a group value can quote what an attacker typed (a password in a user name field, a
// token in a statement), so every string an alert carries is masked here once more.
//
// The text is attacker-controlled, so every pattern runs in linear time: no unbounded run is
// followed by something that can fail and make the engine retry the run from each of its
// positions (`a-a-a-…` against `\b[a-z0-9_-]*password` took seconds per 64 KiB). Where a pattern
// used to match a word prefix only to keep it, the prefix is left outside the match instead
// (same output); where a run must be scanned (a JWT's header), it is scanned once in code.

const PEM = /-----BEGIN [A-Z0-9 ]{1,40}-----[\s\S]*?(?:-----END [A-Z0-9 ]{1,40}-----|$)/g;
// Up to the last @ of the authority: libpq takes an unencoded @ in a password as part of it. The
// scheme is bounded (RFC 3986 schemes are short) and not anchored, so a longer run before `://`
// just starts the match later, still masking the password.
const URI_PASSWORD = /([a-z][a-z0-9+.-]{0,31}:\/\/[^\s/:@]*):[^\s/?#]*@/gi;
// Only credential-shaped values: `basic authentication failed` is prose, `Basic dXNlcjpwdw==` is not.
const AUTH_SCHEME = /\b(bearer|basic)(\s+)([A-Za-z0-9._~+/=-]{8,})/gi;
const credentialShaped = (s: string) => /[0-9=+/_.~-]/.test(s) || s.length >= 20;
// The keyword ends the key (`pgpassword`, `client_secret`, `X-Api-Key`): whatever precedes it is
// kept as it is, so it need not be part of the match.
const KEYWORD =
  /(password|passwd|passwort|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|authorization|cookie|session[_-]?id|credentials?)(["']?\s*[=:]\s*)('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|(?:(?:bearer|basic|digest)\s+)?[^\s&,;'"}\]]+)/gi;
// SQL's `PASSWORD 'x'` (CREATE/ALTER ROLE), with no = or : between keyword and value.
const SQL_PASSWORD = /\b(password)(\s+)(E?'(?:[^'\\]|''|\\.)*'?)/gi;
const LONG_HEX = /\b[0-9a-f]{32,}\b/gi;
// base64 / base64url runs of 32+ characters that mix cases and digits (an identifier like
// `customer_payment_transactions_2024` does not).
const LONG_B64 = /(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/_-])/g;
const mixed = (s: string) => /[a-z]/.test(s) && /[A-Z]/.test(s) && /[0-9]/.test(s);

/**
 * Masks JWTs: `eyJ` (a JSON header, '{"') and 4+ base64url characters, then one to four
 * `.<base64url>` parts (a JWS has three parts, a JWE five). A failed candidate skips the rest of
 * its run: every later `eyJ` in it ends at the same place and fails the same way.
 */
function redactJwts(text: string): string {
  const start = /\beyJ/g;
  const run = /[A-Za-z0-9_-]*/y;
  const runEnd = (at: number) => {
    run.lastIndex = at;
    run.exec(text);
    return run.lastIndex;
  };
  let out = '';
  let copied = 0;
  for (let m = start.exec(text); m !== null; m = start.exec(text)) {
    const header = runEnd(m.index + 3);
    if (header - m.index - 3 >= 4 && text[header] === '.') {
      let end = header;
      for (let parts = 0; parts < 4 && text[end] === '.'; parts++) end = runEnd(end + 1);
      out += `${text.slice(copied, m.index)}[redacted JWT]`;
      copied = end;
      start.lastIndex = end;
    } else start.lastIndex = header;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** Keys whose values are masked whole in `redactValue`. */
const SECRET_KEY =
  /(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|authorization|cookie)/i;

/** Options of {@link redactText}. */
export interface RedactOptions {
  /**
   * Also mask long opaque runs (32+ hex digits, 32+ base64 characters of mixed case and digits)
   * that look like keys. Default true; false for values pgwarden generated itself (event ids).
   */
  opaque?: boolean;
}

/**
 * The text with anything that looks like a secret masked: PEM blocks, JWTs, the password of a
 * URI (`postgresql://app:***@db/app`), bearer/basic credentials, the value of a `password=`,
 * `secret:`, `token=`, `api_key=` … keyword, and long hex or base64 keys. Idempotent.
 *
 * @example
 * redactText('login as app password=hunter2 via postgresql://app:s3cret@db/app');
 * // 'login as app password=*** via postgresql://app:***@db/app'
 */
export function redactText(text: string, options: RedactOptions = {}): string {
  let out = redactJwts(text.replace(PEM, '[redacted PEM block]'))
    .replace(URI_PASSWORD, '$1:***@')
    .replace(SQL_PASSWORD, (m, key: string, sp: string, value: string) => (value === "'***'" ? m : `${key}${sp}'***'`))
    .replace(AUTH_SCHEME, (m, scheme: string, sp: string, value: string) =>
      credentialShaped(value) ? `${scheme}${sp}***` : m,
    )
    .replace(KEYWORD, (_m, key: string, sep: string, value: string) => (value === '***' ? _m : `${key}${sep}***`));
  if (options.opaque !== false) {
    out = out.replace(LONG_HEX, '[redacted key]').replace(LONG_B64, (m) => (mixed(m) ? '[redacted key]' : m));
  }
  return out;
}

/**
 * A deep copy of a JSON-safe value with every string run through {@link redactText} and the value
 * of every secret-looking key (`password`, `token`, `secret`, `api_key`, `authorization`, `cookie`
 * …) replaced by `***`.
 *
 * @example
 * redactValue({ user: 'alice', token: 'abc', note: 'password=x' }); // { user: 'alice', token: '***', note: 'password=***' }
 */
export function redactValue<T>(value: T, options: RedactOptions = {}): T {
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return redactText(v, options);
    if (depth > 20 || v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [
        redactText(k, options),
        SECRET_KEY.test(k) && x !== null && typeof x !== 'object' ? '***' : walk(x, depth + 1),
      ]),
    );
  };
  return walk(value, 0) as T;
}

/**
 * A URL safe to show: scheme, host and port only. Sink URLs carry their credential in the path
 * (Slack's `/services/T…/B…/<token>`) or the query as often as in the user info.
 *
 * @example
 * maskSinkUrl('https://hooks.slack.com/services/T0/B0/XYZ'); // 'https://hooks.slack.com/…'
 */
export function maskSinkUrl(url: string): string {
  try {
    const u = new URL(url);
    const rest = u.pathname.length > 1 || u.search || u.hash ? '/…' : '';
    return `${u.protocol}//${u.host}${rest}`;
  } catch {
    return '[url]';
  }
}

/**
 * `text` with each of `secrets` (the resolved values a sink holds) replaced by `***`: the last
 * guard before an error message reaches the queue's last_error or a log line.
 *
 * @example
 * scrubSecrets('denied for key R0UT1NG', ['R0UT1NG']); // 'denied for key ***'
 */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('***');
  return out;
}

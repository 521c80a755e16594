import { describe, expect, it } from 'vitest';
import { maskSinkUrl, redactText, redactValue, scrubSecrets } from '../../../src/monitor/alerts/index.js';

// The redactor every alert string passes (M-12): what it masks, and the ordinary text it leaves
// alone so alerts stay readable.

describe('redactText [M-12]', () => {
  it.each([
    ['a JWT', 'token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl seen', 'token [redacted JWT] seen'],
    ['a URI password', 'postgresql://app:s3cr@t@db:5432/app', 'postgresql://app:***@db:5432/app'],
    ['a password= keyword', 'host=db password=hunter2 user=app', 'host=db password=*** user=app'],
    ['a quoted keyword value', `pgpassword: 'a b c'`, 'pgpassword: ***'],
    ['a JSON secret field', '{"client_secret":"abc123"}', '{"client_secret":***}'],
    ['an SQL password', "ALTER ROLE app PASSWORD 'hunter2'", "ALTER ROLE app PASSWORD '***'"],
    ['a bearer token', 'Authorization: Bearer abc.def-123', 'Authorization: ***'],
    ['a bearer token in prose', 'sent Bearer abcDEF123456 twice', 'sent Bearer *** twice'],
    [
      'a PEM block',
      'key -----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY----- end',
      'key [redacted PEM block] end',
    ],
    ['a long hex key', 'key a3f1c9e07b5d4e2f8a6c1b3d5e7f9a0b used', 'key [redacted key] used'],
    [
      'a long base64 key',
      'secret-ish dGhpcyBpcyBhIHNlY3JldCBrZXkgMTIzNDU2Nzg5MA== here',
      'secret-ish [redacted key] here',
    ],
  ])('masks %s', (_what, input, expected) => {
    expect(redactText(input)).toBe(expected);
  });

  it.each([
    "a search for O'Brien",
    '10 failed logins for alice@example.com from 203.0.113.9 within 5 min (reason: password)',
    'basic authentication failed for 00000000-0000-4000-8000-0000000000e1',
    'read 5000 rows of customer_payment_transactions_archive_2024',
    'auth.token_invalid: 3 in 1 min',
  ])('leaves ordinary text alone: %s', (text) => {
    expect(redactText(text)).toBe(text);
  });

  it('is idempotent', () => {
    const once = redactText('password=x postgresql://u:p@h/d eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln');
    expect(redactText(once)).toBe(once);
  });

  it('keeps long hex in event ids when told they are pgwarden ids', () => {
    const id = 'log:a3f1c9e07b5d4e2f8a6c1b3d5e7f9a0b:1024';
    expect(redactText(id, { opaque: false })).toBe(id);
  });
});

describe('redactText on hostile input [M-12]', () => {
  // An alert quotes what an attacker typed; a pattern that backtracks over a long line would
  // block the monitor's event loop for seconds (3.7 s per 64 KiB of `a-a-…` before the fix).
  const KiB64 = 64 * 1024;
  const fill = (unit: string) => unit.repeat(Math.ceil(KiB64 / unit.length)).slice(0, KiB64);
  it.each([
    ['a keyword prefix run (a-a-…)', fill('a-')],
    ['a URI scheme run (a.a.…)', fill('a.')],
    ['a URI scheme run of + and digits', fill('aB3+')],
    ['URI authorities without @', fill('a://b:')],
    ['a URI user part without end', `a://${fill('x')}`],
    ['JWT headers inside one run (-eyJ…)', fill('-eyJ')],
    ['JWT headers after a dot', `x.${fill('eyJ-')}`],
    ['JWT-like dotted parts', fill('eyJaaaa.')],
    ['keywords without a value', fill('password ')],
    ['keyword runs', fill('password_token_secret_')],
    ['unterminated quoted values', fill("password='\\")],
    ['SQL passwords', fill("password E'")],
    ['bearer words', fill('bearer ')],
    ['PEM headers without an end', fill('-----BEGIN A-----')],
    ['a hex run ending in a letter', `${fill('0123456789abcdef')}g`],
    ['a base64 run ending in =a', `${fill('aB3/')}=a`],
  ])('finishes quickly on 64 KiB of %s', (_what, input) => {
    expect(input.length).toBeGreaterThanOrEqual(KiB64);
    const started = performance.now();
    redactText(input);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it.each([
    ['a keyword after a long word prefix', `${'x'.repeat(100)}_password=hunter2`, `${'x'.repeat(100)}_password=***`],
    ['a URI after a long run', `${'x'.repeat(40)}postgresql://app:pw@db`, `${'x'.repeat(40)}postgresql://app:***@db`],
    ['a JWT after a dash', 'id-eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln', 'id-[redacted JWT]'],
    ['the second JWT-like start of a run', 'eyJ-eyJabcd.e30.sig rest', '[redacted JWT] rest'],
  ])('still masks %s', (_what, input, expected) => {
    expect(redactText(input)).toBe(expected);
  });
});

describe('redactValue', () => {
  it('masks secret-looking keys and every nested string', () => {
    expect(
      redactValue({ user: 'alice', token: 'abc', nested: { password: 'x', list: ['password=y', 1] }, count: 3 }),
    ).toEqual({ user: 'alice', token: '***', nested: { password: '***', list: ['password=***', 1] }, count: 3 });
  });
});

describe('maskSinkUrl and scrubSecrets', () => {
  it('shows the scheme and host of a URL only', () => {
    expect(maskSinkUrl('https://hooks.slack.com/services/T0/B0/XYZ')).toBe('https://hooks.slack.com/…');
    expect(maskSinkUrl('http://u:p@127.0.0.1:8080/?token=x')).toBe('http://127.0.0.1:8080/…');
    expect(maskSinkUrl('not a url')).toBe('[url]');
  });

  it('replaces known secret values', () => {
    expect(scrubSecrets('denied for R0UT1NGKEY (R0UT1NGKEY)', ['R0UT1NGKEY'])).toBe('denied for *** (***)');
  });
});

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

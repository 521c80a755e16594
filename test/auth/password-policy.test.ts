import { beforeAll, describe, expect, it } from 'vitest';
import {
  assertPasswordAcceptable,
  Blocklist,
  checkPassword,
  DEFAULT_PASSWORD_MAX_LENGTH,
  DEFAULT_PASSWORD_MIN_LENGTH,
  defaultPasswordPolicy,
  loadDefaultBlocklist,
  normalizePassword,
  type PasswordContext,
  type PasswordPolicyOptions,
} from '../../src/auth/password/index.js';
import { ErrorCodes, PgwardenError } from '../../src/errors/index.js';

const noList: PasswordPolicyOptions = { blocklist: Blocklist.fromEntries([]) };
const noContext: PasswordContext = {};

/** Returns what `fn` threw, failing the test when it did not throw. */
function thrown(fn: () => unknown): PgwardenError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PgwardenError);
    return err as PgwardenError;
  }
  throw new Error('expected an error');
}

describe('normalizePassword', () => {
  it('applies NFKC and nothing else', () => {
    expect(normalizePassword('pa\u0301ss')).toBe('p\u00e1ss');
    expect(normalizePassword('\ufb01ne')).toBe('fine'); // the "fi" ligature
    expect(normalizePassword(' Pass Word ')).toBe(' Pass Word ');
  });
});

describe('defaultPasswordPolicy', () => {
  it('has min 8, max 256 and the product word pgwarden', () => {
    expect(defaultPasswordPolicy).toEqual({ minLength: 8, maxLength: 256, productWords: ['pgwarden'] });
    expect(DEFAULT_PASSWORD_MIN_LENGTH).toBe(8);
    expect(DEFAULT_PASSWORD_MAX_LENGTH).toBe(256);
    expect(Object.isFrozen(defaultPasswordPolicy)).toBe(true);
  });
});

describe('checkPassword with the default blocklist', () => {
  let policy: PasswordPolicyOptions;
  beforeAll(async () => {
    policy = { ...defaultPasswordPolicy, blocklist: await loadDefaultBlocklist() };
  });

  it('accepts a passphrase with no composition rule [P-05]', () => {
    expect(checkPassword('correct horse battery staple', noContext, policy)).toEqual({ ok: true });
  });

  it('denies Password1! as blocklisted and for nothing else [P-05]', () => {
    expect(checkPassword('Password1!', noContext, policy)).toEqual({ ok: false, violations: ['blocklisted'] });
  });

  it('denies qwertyuiop and password1234 [P-06]', () => {
    expect(checkPassword('qwertyuiop', noContext, policy)).toEqual({ ok: false, violations: ['blocklisted'] });
    expect(checkPassword('password1234', noContext, policy)).toEqual({ ok: false, violations: ['blocklisted'] });
  });
});

describe('checkPassword length', () => {
  it('denies 7 characters and allows 8 [P-04]', () => {
    expect(checkPassword('tqv8zmr', noContext, noList)).toEqual({ ok: false, violations: ['too_short'] });
    expect(checkPassword('tqv8zmrk', noContext, noList)).toEqual({ ok: true });
  });

  it('allows 64, 128 and 256 characters and denies 257 [P-04]', () => {
    for (const n of [64, 128, 256]) expect(checkPassword('k'.repeat(n), noContext, noList)).toEqual({ ok: true });
    expect(checkPassword('k'.repeat(257), noContext, noList)).toEqual({ ok: false, violations: ['too_long'] });
  });

  it('counts code points after NFKC, not UTF-16 units', () => {
    // Eight emoji are 16 UTF-16 units but 8 characters.
    expect(checkPassword('🔒'.repeat(8), noContext, noList)).toEqual({ ok: true });
    expect(checkPassword('🔒'.repeat(7), noContext, noList)).toEqual({ ok: false, violations: ['too_short'] });
    // e + combining acute, 4 times: 8 code points typed, 4 after normalisation.
    expect(checkPassword('e\u0301'.repeat(4), noContext, noList)).toEqual({ ok: false, violations: ['too_short'] });
  });

  it('denies an absurdly long input as too long without normalising or looking it up', () => {
    let lookups = 0;
    const counting = { has: () => (lookups += 1) < 0 } as unknown as Blocklist;
    expect(checkPassword('k'.repeat(1_000_000), noContext, { blocklist: counting })).toEqual({
      ok: false,
      violations: ['too_long'],
    });
    expect(lookups).toBe(0);
    checkPassword('k'.repeat(300), noContext, { blocklist: counting });
    expect(lookups).toBe(1);
  });

  it('honours a custom minimum and maximum', () => {
    const strict = { ...noList, minLength: 15, maxLength: 64 };
    expect(checkPassword('fourteen chars', noContext, strict)).toEqual({ ok: false, violations: ['too_short'] });
    expect(checkPassword('fifteen chars!!', noContext, strict)).toEqual({ ok: true });
    expect(checkPassword('k'.repeat(65), noContext, strict)).toEqual({ ok: false, violations: ['too_long'] });
  });

  it('refuses a policy whose maximum is below 64 or below the minimum', () => {
    expect(thrown(() => checkPassword('whatever1', noContext, { ...noList, maxLength: 32 })).code).toBe(
      ErrorCodes.CONFIG_INVALID,
    );
    expect(thrown(() => checkPassword('whatever1', noContext, { ...noList, minLength: 100, maxLength: 80 })).code).toBe(
      ErrorCodes.CONFIG_INVALID,
    );
    expect(thrown(() => checkPassword('whatever1', noContext, { ...noList, minLength: 0 })).code).toBe(
      ErrorCodes.CONFIG_INVALID,
    );
  });
});

describe('checkPassword context words', () => {
  const context: PasswordContext = { email: 'Marguerite.Dupont@Example.org', displayName: 'Marguerite du Pont' };

  it('denies the email local part [P-07]', () => {
    expect(checkPassword('my marguerite.dupont key', { email: context.email }, noList)).toEqual({
      ok: false,
      violations: ['context_word'],
    });
  });

  it('denies the whole email, even when its local part is too short to count [P-07]', () => {
    expect(checkPassword('write to al@example.org', { email: 'al@example.org' }, noList)).toEqual({
      ok: false,
      violations: ['context_word'],
    });
    expect(checkPassword('always alert at night', { email: 'al@example.org' }, noList)).toEqual({ ok: true });
  });

  it('denies the product word pgwarden in any case [P-07]', () => {
    expect(checkPassword('my PGWarden vault 2024', noContext, noList)).toEqual({
      ok: false,
      violations: ['context_word'],
    });
  });

  it('denies a display-name token of 3 or more characters', () => {
    expect(checkPassword('pont over the river', context, noList)).toEqual({ ok: false, violations: ['context_word'] });
    expect(checkPassword('the MARGUERITE garden', { displayName: 'Marguerite du Pont' }, noList)).toEqual({
      ok: false,
      violations: ['context_word'],
    });
  });

  it('allows display-name tokens shorter than 3 characters', () => {
    expect(checkPassword('dual duty durable door', { displayName: 'du Al' }, noList)).toEqual({ ok: true });
  });

  it('denies extra words and custom product words', () => {
    expect(checkPassword('acme rocket skates', { extraWords: ['ACME'] }, noList)).toEqual({
      ok: false,
      violations: ['context_word'],
    });
    const custom = { ...noList, productWords: ['globex'] };
    expect(checkPassword('globex corporation', noContext, custom)).toEqual({ ok: false, violations: ['context_word'] });
    expect(checkPassword('pgwarden is fine here', noContext, custom)).toEqual({ ok: true });
  });

  it('denies the part of a sub-addressed email before the plus', () => {
    expect(checkPassword('annabelle sings loudly', { email: 'annabelle+shop@example.org' }, noList)).toEqual({
      ok: false,
      violations: ['context_word'],
    });
  });

  it('allows a password that shares no context word', () => {
    expect(checkPassword('correct horse battery staple', context, noList)).toEqual({ ok: true });
  });

  it('reports every broken rule together', () => {
    const list = { blocklist: Blocklist.fromEntries(['pgwarden']) };
    expect(checkPassword('pgwarden', noContext, { ...list, minLength: 9 })).toEqual({
      ok: false,
      violations: ['too_short', 'blocklisted', 'context_word'],
    });
  });
});

describe('assertPasswordAcceptable', () => {
  it('returns quietly for an acceptable password', () => {
    expect(() => assertPasswordAcceptable('correct horse battery staple', noContext, noList)).not.toThrow();
  });

  it('throws PW301 naming the rules in detail', () => {
    const err = thrown(() =>
      assertPasswordAcceptable('abc12', noContext, { blocklist: Blocklist.fromEntries(['abc12']) }),
    );
    expect(err.code).toBe(ErrorCodes.AUTH_PASSWORD_REJECTED);
    expect(err.detail).toBe('rules: too_short, blocklisted');
    expect(err.hint).toMatch(/at least 8 characters/);
  });

  it('never puts the password in message, detail or hint', () => {
    const cases: [string, PasswordContext, PasswordPolicyOptions][] = [
      ['Zq7', noContext, noList],
      ['Qwertyuiop-Secret-Marker', noContext, { blocklist: Blocklist.fromEntries(['qwertyuiop-secret-marker']) }],
      ['s3cret marker pgwarden', noContext, noList],
      ['marker-' + 'y'.repeat(300), noContext, noList],
      ['mail me at ann@example.org', { email: 'ann@example.org' }, noList],
    ];
    for (const [password, context, policy] of cases) {
      const err = thrown(() => assertPasswordAcceptable(password, context, policy));
      const text = [err.message, err.detail, err.hint, JSON.stringify(err)].join('\n').toLowerCase();
      expect(text).not.toContain(password.toLowerCase());
      expect(text).not.toContain(normalizePassword(password).toLowerCase().slice(0, 6));
    }
  });
});

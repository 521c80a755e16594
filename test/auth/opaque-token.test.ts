import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newOpaqueToken, type OpaqueTokenKind, parseOpaqueToken, tokenDigest } from '../../src/auth/crypto/index.js';

const kinds: [OpaqueTokenKind, string][] = [
  ['session', 'pgws_'],
  ['refresh', 'pgwr_'],
  ['mfa', 'pgwm_'],
];

describe('newOpaqueToken', () => {
  it('makes 10^6 tokens without a duplicate [S-01]', { timeout: 120_000 }, () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1_000_000; i++) seen.add(newOpaqueToken('session').token);
    expect(seen.size).toBe(1_000_000);
  });

  it('carries 256 random bits after the prefix, at least 128 [S-01]', () => {
    for (const [kind, prefix] of kinds) {
      const { token } = newOpaqueToken(kind);
      expect(token.startsWith(prefix)).toBe(true);
      const random = Buffer.from(token.slice(prefix.length), 'base64url');
      expect(random.length * 8).toBe(256);
      expect(random.length * 8).toBeGreaterThanOrEqual(128);
      expect(token).toMatch(/^pgw[srm]_[A-Za-z0-9_-]{43}$/);
    }
  });

  it('varies every bit position across tokens (no fixed or counter bytes)', () => {
    const tokens = Array.from({ length: 256 }, () =>
      Buffer.from(newOpaqueToken('refresh').token.slice(5), 'base64url'),
    );
    const ones = new Array<number>(256).fill(0);
    for (const bytes of tokens) for (let bit = 0; bit < 256; bit++) ones[bit]! += (bytes[bit >> 3]! >> (bit & 7)) & 1;
    // Each bit is set in about half the tokens; 256 draws keep a fair bit within 60..196 by a wide margin.
    for (const count of ones) expect(count).toBeGreaterThan(60);
    for (const count of ones) expect(count).toBeLessThan(196);
  });

  it('stores the SHA-256 of the whole token, which is not the token [S-01]', () => {
    const { token, digest } = newOpaqueToken('session');
    expect(digest).toHaveLength(32);
    expect(digest.equals(createHash('sha256').update(token).digest())).toBe(true);
    expect(digest.equals(tokenDigest(token))).toBe(true);
    expect(digest.toString('base64url')).not.toBe(token.slice(5));
    expect(digest.equals(Buffer.from(token.slice(5), 'base64url'))).toBe(false);
  });
});

describe('parseOpaqueToken', () => {
  it('allows a token of its own kind and returns its digest', () => {
    for (const [kind] of kinds) {
      const { token, digest } = newOpaqueToken(kind);
      expect(parseOpaqueToken(token, kind)?.equals(digest)).toBe(true);
    }
  });

  it('denies a token of another kind', () => {
    const { token } = newOpaqueToken('refresh');
    expect(parseOpaqueToken(token, 'session')).toBeNull();
    expect(parseOpaqueToken(token, 'mfa')).toBeNull();
  });

  it('denies malformed input without throwing', () => {
    const { token } = newOpaqueToken('session');
    const body = token.slice(5);
    const garbage: unknown[] = [
      '',
      'pgws_',
      token.slice(0, -1),
      `${token}A`,
      `pgws_${body.slice(0, 42)}+`,
      `pgws_${body.slice(0, 42)}=`,
      `pgws_${body.slice(0, 20)}.${body.slice(21)}`,
      `PGWS_${body}`,
      `pgws_${body.slice(0, 42)}B`, // non-canonical last character: never issued
      ` ${token}`,
      'x'.repeat(10_000_000),
      undefined,
      null,
      42,
      { toString: () => token },
      [token],
    ];
    for (const value of garbage) expect(parseOpaqueToken(value, 'session')).toBeNull();
  });

  it('rejects oversized input without hashing or scanning it', () => {
    const huge = `pgws_${'A'.repeat(50_000_000)}`;
    const started = performance.now();
    for (let i = 0; i < 1000; i++) parseOpaqueToken(huge, 'session');
    expect(performance.now() - started).toBeLessThan(100);
  });
});

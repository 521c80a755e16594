import { describe, expect, it } from 'vitest';
import { parseBearer, wwwAuthenticate } from '../../src/context/verify/index.js';
import { ErrorCodes, PgwardenError } from '../../src/errors/index.js';

function rejection(header: string): PgwardenError {
  try {
    parseBearer(header);
  } catch (err) {
    if (err instanceof PgwardenError) return err;
    throw err;
  }
  throw new Error('expected parseBearer to throw');
}

describe('parseBearer', () => {
  it('allows the Bearer scheme in any case [J-22]', () => {
    expect(parseBearer('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(parseBearer('bearer x')).toBe('x');
    expect(parseBearer('BEARER a-b_c~d+e/f==')).toBe('a-b_c~d+e/f==');
  });

  it('denies an empty bearer token [J-22]', () => {
    for (const header of ['Bearer', 'Bearer ', 'bearer    ']) {
      const err = rejection(header);
      expect(err.code).toBe(ErrorCodes.JWT_INVALID);
      expect(err.detail).toBe('bearer-empty');
    }
  });

  it('denies more than one token, stray whitespace and characters outside b64token [J-22]', () => {
    for (const header of [
      'Bearer a b',
      'Bearer  abc',
      'Bearer abc ',
      'Bearer a\tb',
      'Bearer a,b',
      'Bearer "abc"',
      'Bearer a=b',
    ]) {
      const err = rejection(header);
      expect(err.code).toBe(ErrorCodes.JWT_INVALID);
      expect(err.detail).toBe('bearer-malformed');
      expect(err.message).not.toContain('abc');
    }
  });

  it('does not treat Basic or other schemes as a bearer token [J-22]', () => {
    expect(parseBearer('Basic dXNlcjpwYXNz')).toBeNull();
    expect(parseBearer('Bearerabc')).toBeNull();
    expect(parseBearer('Token abc')).toBeNull();
    expect(parseBearer(undefined)).toBeNull();
  });

  it('denies a 64 KB header before looking at it [J-23]', () => {
    const started = performance.now();
    expect(rejection(`Bearer ${'a'.repeat(64 * 1024)}`).detail).toBe('size');
    expect(performance.now() - started).toBeLessThan(50);
  });
});

describe('wwwAuthenticate', () => {
  it('names only the RFC 6750 error code [J-22]', () => {
    expect(wwwAuthenticate('invalid_token')).toBe('Bearer error="invalid_token"');
    expect(wwwAuthenticate('invalid_request')).toBe('Bearer error="invalid_request"');
    expect(wwwAuthenticate('insufficient_scope')).toBe('Bearer error="insufficient_scope"');
    expect(wwwAuthenticate()).toBe('Bearer');
    expect(wwwAuthenticate('x", realm="leak' as never)).toBe('Bearer error="invalid_token"');
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  base32Decode,
  base32Encode,
  newRecoveryCodes,
  newTotpSecret,
  normaliseRecoveryCode,
  otpauthUri,
  recoveryCodeDigest,
  type TotpAlgorithm,
  totpCode,
  totpStep,
  verifyTotp,
} from '../../src/auth/crypto/index.js';
import { ErrorCodes, PgwardenError } from '../../src/errors/index.js';

/** RFC 6238 Appendix B: the seed per algorithm is "1234567890" repeated to the HMAC's key size. */
const seeds: Record<TotpAlgorithm, Buffer> = {
  SHA1: Buffer.from('12345678901234567890', 'ascii'),
  SHA256: Buffer.from('12345678901234567890123456789012', 'ascii'),
  SHA512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234', 'ascii'),
};
const rfc6238: [seconds: number, code: string, algorithm: TotpAlgorithm][] = [
  [59, '94287082', 'SHA1'],
  [59, '46119246', 'SHA256'],
  [59, '90693936', 'SHA512'],
  [1111111109, '07081804', 'SHA1'],
  [1111111109, '68084774', 'SHA256'],
  [1111111109, '25091201', 'SHA512'],
  [1111111111, '14050471', 'SHA1'],
  [1111111111, '67062674', 'SHA256'],
  [1111111111, '99943326', 'SHA512'],
  [1234567890, '89005924', 'SHA1'],
  [1234567890, '91819424', 'SHA256'],
  [1234567890, '93441116', 'SHA512'],
  [2000000000, '69279037', 'SHA1'],
  [2000000000, '90698825', 'SHA256'],
  [2000000000, '38618901', 'SHA512'],
  [20000000000, '65353130', 'SHA1'],
  [20000000000, '77737706', 'SHA256'],
  [20000000000, '47863826', 'SHA512'],
];

const secret = seeds.SHA1;
/** 10:00:00 UTC on some day, exactly on a 30 s boundary. */
const t = Date.UTC(2024, 4, 1, 10, 0, 0);
const step = t / 30_000;

describe('totpCode', () => {
  it.each(rfc6238)('matches RFC 6238 at %i s: %s (%s)', (seconds, code, algorithm) => {
    expect(totpCode(seeds[algorithm], seconds * 1000, { algorithm, digits: 8 })).toBe(code);
  });

  it('gives 6 digits with SHA1 and 30 s steps by default', () => {
    expect(totpCode(secret, 59_000)).toBe('287082');
    expect(totpCode(secret, 59_000)).toBe(totpCode(secret, 30_000));
    expect(totpCode(secret, 59_000)).not.toBe(totpCode(secret, 60_000));
    expect(totpStep(59_999)).toBe(1);
    expect(totpStep(60_000)).toBe(2);
  });

  it('makes 20-byte random secrets', () => {
    const a = newTotpSecret();
    expect(a).toHaveLength(20);
    expect(newTotpSecret().equals(a)).toBe(false);
  });
});

describe('verifyTotp', () => {
  const at = (s: number) => totpCode(secret, s * 30_000);

  it('allows the current code and returns its step', () => {
    expect(verifyTotp(secret, at(step), t)).toBe(step);
    expect(verifyTotp(secret, at(step), t + 29_999)).toBe(step);
  });

  it('allows one step either side by default and denies two', () => {
    expect(verifyTotp(secret, at(step - 1), t)).toBe(step - 1);
    expect(verifyTotp(secret, at(step + 1), t)).toBe(step + 1);
    expect(verifyTotp(secret, at(step - 2), t)).toBeNull();
    expect(verifyTotp(secret, at(step + 2), t)).toBeNull();
  });

  it('uses the window option at its edges', () => {
    expect(verifyTotp(secret, at(step - 1), t, { window: 0 })).toBeNull();
    expect(verifyTotp(secret, at(step + 1), t, { window: 0 })).toBeNull();
    expect(verifyTotp(secret, at(step - 2), t, { window: 2 })).toBe(step - 2);
    expect(verifyTotp(secret, at(step + 2), t, { window: 2 })).toBe(step + 2);
    expect(verifyTotp(secret, at(step + 3), t, { window: 2 })).toBeNull();
    // Steps are counted from the clock's step: the last millisecond of a step is still in it.
    expect(verifyTotp(secret, at(step - 1), t + 29_999)).toBe(step - 1);
    expect(verifyTotp(secret, at(step - 1), t + 30_000)).toBeNull();
    expect(verifyTotp(secret, at(step + 1), t - 1)).toBeNull();
  });

  it('denies a wrong code and a code for another secret', () => {
    const code = at(step);
    const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
    expect(verifyTotp(secret, wrong, t, { window: 0 })).toBeNull();
    expect(verifyTotp(seeds.SHA256, code, t, { window: 0 })).toBeNull();
  });

  it('denies anything but exactly six ASCII digits', () => {
    const code = at(step);
    const variants: unknown[] = [
      `${code.slice(0, 5)}a`,
      ` ${code}`,
      `${code}\n`,
      `${code.slice(0, 3)} ${code.slice(3)}`,
      code.slice(0, 5),
      `${code}0`,
      `0${code}`,
      code.replace(/[0-9]/, (d) => String.fromCharCode(0x0660 + Number(d))), // Arabic-Indic digit
      // Same low byte as the digit: equal to the code once squeezed into ASCII bytes.
      code.replace(/[0-9]/, (d) => String.fromCharCode(0x0100 + d.charCodeAt(0))),
      `+${code.slice(1)}`,
      Number(code),
      null,
      undefined,
    ];
    for (const variant of variants) expect(verifyTotp(secret, variant, t)).toBeNull();
  });

  it('checks codes of the algorithm and length it is told', () => {
    const code = totpCode(seeds.SHA256, t, { algorithm: 'SHA256', digits: 8 });
    expect(verifyTotp(seeds.SHA256, code, t, { algorithm: 'SHA256', digits: 8 })).toBe(step);
    expect(verifyTotp(seeds.SHA256, code, t, { algorithm: 'SHA1', digits: 8 })).toBeNull();
    // The 6-digit code is the 8-digit one's last six digits; it is still refused when 8 are expected.
    expect(verifyTotp(seeds.SHA256, code.slice(2), t, { algorithm: 'SHA256', digits: 8 })).toBeNull();
    expect(verifyTotp(seeds.SHA256, code.slice(2), t, { algorithm: 'SHA256' })).toBe(step);
  });

  it('refuses a window outside 0–10', () => {
    expect(() => verifyTotp(secret, at(step), t, { window: 11 })).toThrow(PgwardenError);
    expect(() => verifyTotp(secret, at(step), t, { window: -1 })).toThrow(PgwardenError);
  });
});

describe('base32', () => {
  const vectors: [string, string][] = [
    ['', ''],
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ];

  it.each(vectors)('encodes and decodes the RFC 4648 vector %j', (text, encoded) => {
    expect(base32Encode(Buffer.from(text))).toBe(encoded);
    expect(base32Decode(encoded).toString()).toBe(text);
    expect(base32Decode(`${encoded.toLowerCase()}====`).toString()).toBe(text);
  });

  it('round-trips random secrets and denies bad input', () => {
    const bytes = newTotpSecret();
    expect(base32Decode(base32Encode(bytes)).equals(bytes)).toBe(true);
    expect(base32Encode(bytes)).toMatch(/^[A-Z2-7]{32}$/);
    for (const bad of ['MZXW1', 'M', 'MZX', 'MZXW6Y']) {
      expect(() => base32Decode(bad)).toThrow(PgwardenError);
    }
  });
});

describe('otpauthUri', () => {
  it('builds the Key URI with base32 secret and encoded label', () => {
    const uri = otpauthUri({
      secret: Buffer.from('foobar'),
      account: 'ada lovelace+1@example.com',
      issuer: 'Acme & Co',
    });
    expect(uri).toBe(
      'otpauth://totp/Acme%20%26%20Co:ada%20lovelace%2B1%40example.com' +
        '?secret=MZXW6YTBOI&issuer=Acme%20%26%20Co&algorithm=SHA1&digits=6&period=30',
    );
    const parsed = new URL(uri);
    expect(parsed.searchParams.get('issuer')).toBe('Acme & Co');
    expect(parsed.searchParams.get('secret')).toBe('MZXW6YTBOI');
  });

  it("denies an issuer or account with ':' or empty", () => {
    for (const input of [
      { account: 'a:b', issuer: 'Acme' },
      { account: 'ada', issuer: 'Ac:me' },
      { account: '', issuer: 'Acme' },
    ]) {
      let code: string | undefined;
      try {
        otpauthUri({ secret, ...input });
      } catch (err) {
        code = (err as PgwardenError).code;
      }
      expect(code).toBe(ErrorCodes.AUTH_INVALID_INPUT);
    }
  });
});

describe('newRecoveryCodes', () => {
  it('makes 10 distinct xxxx-xxxx-xxxx codes from the 32-character alphabet', () => {
    const set = newRecoveryCodes();
    const codes = set.map((c) => c.code);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[2-9a-km-np-z]{4}-[2-9a-km-np-z]{4}-[2-9a-km-np-z]{4}$/);
    for (const { code, digest } of set) expect(digest.equals(recoveryCodeDigest(code))).toBe(true);
  });

  it('uses all 32 characters (5 bits each, 60 bits per code)', () => {
    const seen = new Set(
      newRecoveryCodes(100)
        .map((c) => c.code.replaceAll('-', ''))
        .join(''),
    );
    expect(seen.size).toBe(32);
  });

  it('hashes the normalised code, so case, spaces and dashes do not matter', () => {
    const code = newRecoveryCodes(1)[0]?.code ?? '';
    expect(code).toHaveLength(14);
    const digest = createHash('sha256').update(code.replaceAll('-', '')).digest();
    expect(recoveryCodeDigest(code).equals(digest)).toBe(true);
    expect(recoveryCodeDigest(` ${code.toUpperCase().replaceAll('-', ' ')} `).equals(digest)).toBe(true);
    expect(normaliseRecoveryCode('AB2C-DE3F\u2013GH4J')).toBe('ab2cde3fgh4j');
    expect(recoveryCodeDigest(code.replace(/.$/, (c) => (c === 'z' ? 'y' : 'z'))).equals(digest)).toBe(false);
  });
});

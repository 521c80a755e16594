import { createHmac, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, type JWTPayload, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type AccessTokenInput,
  type AccessTokenSigningKey,
  generateSigningKey,
  MasterKey,
  openPrivateKey,
  publicKeyFromJwk,
  sealPrivateKey,
  SecretBox,
  signAccessToken,
  type SigningKey,
  toJwks,
  verifyAccessToken,
  type VerifyAccessTokenOptions,
} from '../../src/auth/crypto/index.js';
import { ErrorCodes, PgwardenError } from '../../src/errors/index.js';

const issuer = 'https://auth.example.test';
const audience = 'pgwarden-api';
const claims: AccessTokenInput = {
  iss: issuer,
  aud: audience,
  sub: '5b0c8f1e-0000-4000-8000-000000000001',
  sid: '5b0c8f1e-0000-4000-8000-0000000000aa',
  tenant: 'tenant-a',
  roles: ['member', 'billing'],
  aal: 'aal2',
};
/** A fixed instant, so expiry is decided by the injected clock alone. */
const t0 = Date.UTC(2030, 0, 1, 12, 0, 0);
const at = (ms: number) => () => ms;

let ed: SigningKey;
let ec: SigningKey;
let edSigner: AccessTokenSigningKey;
let ecSigner: AccessTokenSigningKey;
let publicKeys: Map<string, KeyObject>;

beforeAll(async () => {
  ed = await generateSigningKey('EdDSA');
  ec = await generateSigningKey('ES256');
  const signer = (k: SigningKey) => ({
    kid: k.kid,
    alg: k.alg,
    privateKey: createPrivateKey({ key: k.privatePkcs8, format: 'der', type: 'pkcs8' }),
  });
  edSigner = signer(ed);
  ecSigner = signer(ec);
  publicKeys = new Map([ed, ec].map((k) => [k.kid, publicKeyFromJwk(k.publicJwk)]));
});

function options(overrides: Partial<VerifyAccessTokenOptions> = {}): VerifyAccessTokenOptions {
  return { keys: (kid: string) => publicKeys.get(kid), issuer, audience, now: at(t0), ...overrides };
}

/** Verifies and returns the PgwardenError's detail; fails the test when the token is accepted. */
async function rejection(token: string, opts: VerifyAccessTokenOptions = options()): Promise<string | undefined> {
  try {
    await verifyAccessToken(token, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(PgwardenError);
    const e = err as PgwardenError;
    expect(e.code).toBe(ErrorCodes.AUTH_ACCESS_TOKEN_INVALID);
    expect(e.message).toBe('the access token is not valid');
    const signature = token.split('.')[2] ?? '';
    if (signature.length >= 16) expect(JSON.stringify(e.toJSON())).not.toContain(signature);
    return e.detail;
  }
  throw new Error('expected the token to be rejected');
}

/** A token signed by jose directly, for shapes signAccessToken refuses to make. */
async function forge(
  payload: JWTPayload,
  header: Record<string, unknown> = {},
  signer: AccessTokenSigningKey = edSigner,
): Promise<string> {
  const iat = Math.floor(t0 / 1000);
  return new SignJWT({ ...claims, iat, exp: iat + 900, jti: 'forged-jti', ...payload })
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'at+jwt', ...header })
    .sign(signer.privateKey);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('generateSigningKey', () => {
  it('names an EdDSA key by its RFC 7638 thumbprint and publishes no private member', async () => {
    expect(ed.kid).toBe(await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: ed.publicJwk.x }));
    expect(ed.publicJwk).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: expect.any(String),
      kid: ed.kid,
      alg: 'EdDSA',
      use: 'sig',
    });
    const fromPrivate = createPublicKey(createPrivateKey({ key: ed.privatePkcs8, format: 'der', type: 'pkcs8' }));
    expect(fromPrivate.export({ format: 'jwk' }).x).toBe(ed.publicJwk.x);
  });

  it('makes P-256 keys for ES256', async () => {
    expect(ec.publicJwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: ec.kid });
    expect(ec.publicJwk.y).toEqual(expect.any(String));
    expect(ec.kid).toBe(
      await calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: ec.publicJwk.x, y: ec.publicJwk.y }),
    );
    expect(ec.kid).not.toBe(ed.kid);
  });

  it('seals the private key bound to its kid', () => {
    const box = new SecretBox(new MasterKey(Buffer.alloc(32, 3)), 'jwt-signing-key');
    const sealed = sealPrivateKey(box, ed);
    expect(sealed.includes(ed.privatePkcs8.subarray(-32))).toBe(false);
    expect(openPrivateKey(box, sealed, ed.kid).equals(ed.privatePkcs8)).toBe(true);
    expect(() => openPrivateKey(box, sealed, ec.kid)).toThrow(PgwardenError);
  });

  it('publishes only public members in the JWKS', () => {
    const leaky = { ...ed.publicJwk, d: 'private-part', p: 'x' };
    const jwks = toJwks([ec, leaky]);
    expect(jwks.keys).toEqual([ec.publicJwk, ed.publicJwk]);
    expect(JSON.stringify(jwks)).not.toContain('private-part');
    expect(() => publicKeyFromJwk(leaky)).toThrow(PgwardenError);
  });
});

describe('verifyAccessToken', () => {
  it('allows a valid EdDSA token and returns its claims', async () => {
    const token = await signAccessToken({ key: edSigner, claims, now: at(t0) });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'EdDSA', kid: ed.kid, typ: 'at+jwt' });
    const verified = await verifyAccessToken(token, options());
    const iat = Math.floor(t0 / 1000);
    expect(verified).toEqual({ ...claims, iat, exp: iat + 900, jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/) });
    const again = await verifyAccessToken(await signAccessToken({ key: edSigner, claims, now: at(t0) }), options());
    expect(again.jti).not.toBe(verified.jti);
  });

  it('allows an ES256 token, also through a jose JWKS', async () => {
    const token = await signAccessToken({ key: ecSigner, claims, now: at(t0), ttlSeconds: 60 });
    expect(decodeProtectedHeader(token).alg).toBe('ES256');
    expect((await verifyAccessToken(token, options())).sub).toBe(claims.sub);
    const jwks = createLocalJWKSet(toJwks([ed, ec]));
    expect((await verifyAccessToken(token, options({ keys: jwks }))).exp).toBe(Math.floor(t0 / 1000) + 60);
  });

  it('denies an expired token by the injected clock, with the tolerance it is given [J-11]', async () => {
    const token = await signAccessToken({ key: edSigner, claims, now: at(t0) });
    await expect(verifyAccessToken(token, options({ now: at(t0 + 899_999) }))).resolves.toBeTruthy();
    expect(await rejection(token, options({ now: at(t0 + 900_000) }))).toBe('ERR_JWT_EXPIRED');
    const tolerant = { now: at(t0 + 929_000), clockToleranceSeconds: 30 };
    await expect(verifyAccessToken(token, options(tolerant))).resolves.toBeTruthy();
    expect(await rejection(token, options({ ...tolerant, now: at(t0 + 930_000) }))).toBe('ERR_JWT_EXPIRED');
  });

  it('refuses a clock tolerance above 60 seconds [J-11]', async () => {
    const token = await signAccessToken({ key: edSigner, claims, now: at(t0) });
    await expect(verifyAccessToken(token, options({ clockToleranceSeconds: 61 }))).rejects.toMatchObject({
      code: ErrorCodes.INTERNAL,
    });
  });

  it('denies a token with alg "none" [J-01]', async () => {
    const iat = Math.floor(t0 / 1000);
    const payload = { ...claims, iat, exp: iat + 900, jti: 'x' };
    const unsigned = `${b64({ alg: 'none', kid: ed.kid, typ: 'at+jwt' })}.${b64(payload)}.`;
    expect(await rejection(unsigned)).toMatch(/^ERR_/);
    const noneUpper = `${b64({ alg: 'NONE', kid: ed.kid, typ: 'at+jwt' })}.${b64(payload)}.`;
    expect(await rejection(noneUpper)).toMatch(/^ERR_/);
  });

  it('denies an HS256 token keyed with the public key (algorithm confusion)', async () => {
    const iat = Math.floor(t0 / 1000);
    const input = `${b64({ alg: 'HS256', kid: ed.kid, typ: 'at+jwt' })}.${b64({ ...claims, iat, exp: iat + 900, jti: 'x' })}`;
    const secret = publicKeyFromJwk(ed.publicJwk).export({ format: 'pem', type: 'spki' });
    const mac = createHmac('sha256', secret).update(input).digest('base64url');
    expect(await rejection(`${input}.${mac}`)).toBe('ERR_JOSE_ALG_NOT_ALLOWED');
  });

  it('denies a token of another type [J-16]', async () => {
    expect(await rejection(await forge({}, { typ: 'JWT' }))).toBe('ERR_JWT_CLAIM_VALIDATION_FAILED: typ');
    expect(await rejection(await forge({}, { typ: undefined }))).toBe('ERR_JWT_CLAIM_VALIDATION_FAILED: typ');
  });

  it('denies the wrong audience or issuer [J-14] [J-15]', async () => {
    const token = await signAccessToken({ key: edSigner, claims, now: at(t0) });
    expect(await rejection(token, options({ audience: 'other-api' }))).toBe('ERR_JWT_CLAIM_VALIDATION_FAILED: aud');
    expect(await rejection(token, options({ issuer: 'https://evil.test' }))).toBe(
      'ERR_JWT_CLAIM_VALIDATION_FAILED: iss',
    );
  });

  it('denies a token signed by another key, under a known or an unknown kid', async () => {
    const stranger = await generateSigningKey('EdDSA');
    const privateKey = createPrivateKey({ key: stranger.privatePkcs8, format: 'der', type: 'pkcs8' });
    const spoofed = await signAccessToken({ key: { kid: ed.kid, alg: 'EdDSA', privateKey }, claims, now: at(t0) });
    expect(await rejection(spoofed)).toBe('ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
    const unknown = await signAccessToken({
      key: { kid: stranger.kid, alg: 'EdDSA', privateKey },
      claims,
      now: at(t0),
    });
    expect(await rejection(unknown)).toBe('ERR_JWKS_NO_MATCHING_KEY');
    expect(await rejection(await forge({}, { kid: undefined }))).toBe('ERR_JWKS_NO_MATCHING_KEY');
  });

  it('denies an EdDSA header over the ES256 key', async () => {
    const token = await forge({}, { kid: ec.kid }, edSigner);
    expect(await rejection(token)).toMatch(/^ERR_/);
  });

  it('denies a tampered payload', async () => {
    const token = await signAccessToken({ key: edSigner, claims, now: at(t0) });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString()) as JWTPayload;
    const elevated = b64({ ...decoded, roles: ['admin'], tenant: 'tenant-b' });
    expect(await rejection(`${header}.${elevated}.${signature}`)).toBe('ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
    const flipped = `${signature.slice(0, -2)}${signature.at(-2) === 'A' ? 'B' : 'A'}${signature.at(-1)}`;
    expect(await rejection(`${header}.${payload}.${flipped}`)).toBe('ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  });

  it('denies properly signed tokens whose pgwarden claims are missing or malformed [J-19]', async () => {
    const cases: [JWTPayload, string][] = [
      [{ sid: undefined }, 'sid'],
      [{ tenant: '' }, 'tenant'],
      [{ sub: 42 as unknown as string }, 'sub'],
      [{ roles: 'admin' }, 'roles'],
      [{ roles: ['member', 7] }, 'roles'],
      [{ aal: 'aal3' }, 'aal'],
      [{ aud: [audience, 'other'] }, 'aud'],
      [{ jti: undefined }, 'jti'],
      [{ exp: undefined }, 'exp'],
    ];
    for (const [payload, claim] of cases) {
      expect(await rejection(await forge(payload))).toMatch(new RegExp(`^ERR_JWT_CLAIM_VALIDATION_FAILED: ${claim}$`));
    }
    // The same helper produces an acceptable token when nothing is broken.
    await expect(verifyAccessToken(await forge({}), options())).resolves.toBeTruthy();
  });

  it('denies junk and oversized input', async () => {
    for (const junk of ['', 'a.b.c', 'not a token', `${'a'.repeat(20_000)}.b.c`]) {
      expect(await rejection(junk)).toMatch(/^ERR_/);
    }
  });
});

describe('signAccessToken', () => {
  it('refuses malformed claims and lifetimes instead of signing them', async () => {
    const bad: Partial<AccessTokenInput>[] = [{ sub: '' }, { roles: [''] }, { aal: 'aal3' as 'aal1' }];
    for (const override of bad) {
      await expect(signAccessToken({ key: edSigner, claims: { ...claims, ...override }, now: at(t0) })).rejects.toThrow(
        PgwardenError,
      );
    }
    await expect(signAccessToken({ key: edSigner, claims, now: at(t0), ttlSeconds: 0 })).rejects.toThrow(PgwardenError);
  });
});

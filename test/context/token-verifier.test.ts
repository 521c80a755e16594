import { createHmac, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import type { JSONWebKeySet, JWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { createTokenVerifier, type TokenVerifierOptions, VerifiedTokenCache } from '../../src/context/verify/index.js';
import { ErrorCodes, PgwardenError } from '../../src/errors/index.js';

const issuer = 'https://auth.example.test';
const audience = 'api';
/** Frozen clock T, in seconds. */
const T = Date.UTC(2030, 0, 1, 12, 0, 0) / 1000;
const at = (sec: number) => () => sec * 1000;

type Alg = 'EdDSA' | 'ES256' | 'HS256';
type Json = Record<string, unknown>;

const ed = generateKeyPairSync('ed25519');
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const attacker = generateKeyPairSync('ed25519');
const hmacSecret = randomBytes(48);

function publicJwk(key: KeyObject, kid: string, alg: string): JWK {
  return { ...(key.export({ format: 'jwk' }) as JWK), kid, alg, use: 'sig' };
}
const jwks: JSONWebKeySet = { keys: [publicJwk(ed.publicKey, 'k1', 'EdDSA'), publicJwk(ec.publicKey, 'e1', 'ES256')] };

const b64 = (value: string | Uint8Array) => Buffer.from(value).toString('base64url');

/** Signs exactly the given header and payload text, so tests can craft what jose would refuse to build. */
function signRaw(alg: Alg, header: Json | string, payload: Json | string, key: KeyObject | Uint8Array): string {
  const text = (v: Json | string) => (typeof v === 'string' ? v : JSON.stringify(v));
  const input = `${b64(text(header))}.${b64(text(payload))}`;
  const data = Buffer.from(input);
  let signature: Buffer;
  if (alg === 'HS256')
    signature = createHmac('sha256', key as Uint8Array)
      .update(data)
      .digest();
  else if (alg === 'ES256') signature = sign('sha256', data, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
  else signature = sign(null, data, key as KeyObject);
  return `${input}.${b64(signature)}`;
}

function goodClaims(extra: Json = {}): Json {
  return {
    iss: issuer,
    aud: audience,
    sub: 'user-1',
    iat: T - 10,
    exp: T + 600,
    tenant: 'tenant-a',
    roles: ['member'],
    ...extra,
  };
}

/** An EdDSA token from the trusted key, with claims or header fields overridden (undefined removes one). */
function token(claims: Json = {}, header: Json = {}, key: KeyObject = ed.privateKey): string {
  return signRaw('EdDSA', { alg: 'EdDSA', kid: 'k1', typ: 'at+jwt', ...header }, goodClaims(claims), key);
}

function hsToken(claims: Json = {}, header: Json = {}, secret: Uint8Array = hmacSecret): string {
  return signRaw('HS256', { alg: 'HS256', typ: 'at+jwt', ...header }, goodClaims(claims), secret);
}

function verifier(options: Partial<TokenVerifierOptions> = {}) {
  return createTokenVerifier({ keys: { jwks }, issuer, audience, now: at(T), ...options });
}

function hsVerifier(options: Partial<TokenVerifierOptions> = {}) {
  return verifier({ keys: { hmacSecret }, ...options });
}

async function failure(promise: Promise<unknown>): Promise<PgwardenError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof PgwardenError)) throw new Error('expected a PgwardenError');
  return err;
}

/** Asserts a PW320 with the given reason and a message that echoes nothing from the token. */
async function expectRejected(promise: Promise<unknown>, detail: string | string[]): Promise<PgwardenError> {
  const err = await failure(promise);
  expect(err.code).toBe(ErrorCodes.JWT_INVALID);
  expect(err.message).toBe('the token is not valid');
  if (Array.isArray(detail)) expect(detail).toContain(err.detail);
  else expect(err.detail).toBe(detail);
  return err;
}

function expectConfigError(options: Partial<TokenVerifierOptions>): void {
  try {
    verifier(options);
  } catch (err) {
    expect(err).toBeInstanceOf(PgwardenError);
    expect((err as PgwardenError).code).toBe(ErrorCodes.JWT_CONFIG_INVALID);
    return;
  }
  throw new Error('expected the configuration to be refused');
}

describe('createTokenVerifier', () => {
  it('allows a valid EdDSA token and returns claims, header and expiry', async () => {
    const result = await verifier().verify(token());
    expect(result.claims.sub).toBe('user-1');
    expect(result.header).toEqual({ alg: 'EdDSA', kid: 'k1', typ: 'at+jwt' });
    expect(result.expiresAt).toBe((T + 600) * 1000);
  });

  it('allows a valid ES256 and a valid HS256 token', async () => {
    const es = signRaw('ES256', { alg: 'ES256', kid: 'e1', typ: 'at+jwt' }, goodClaims(), ec.privateKey);
    await expect(verifier().verify(es)).resolves.toMatchObject({ header: { alg: 'ES256' } });
    await expect(hsVerifier().verify(hsToken())).resolves.toMatchObject({ header: { alg: 'HS256' } });
  });

  it('rejects alg=none in every spelling, and a missing, empty or null alg [J-01]', async () => {
    const v = verifier();
    const payload = b64(JSON.stringify(goodClaims({ sub: 'victim', role: 'authenticated' })));
    for (const alg of ['none', 'None', 'NONE', 'nOnE', '', null, undefined]) {
      const header = b64(JSON.stringify({ alg, typ: 'JWT' }));
      await expectRejected(v.verify(`${header}.${payload}.`), 'algorithm');
      await expectRejected(v.verify(`${header}.${payload}.${b64(randomBytes(64))}`), 'algorithm');
    }
    expect(v.stats().rejectedBy.algorithm).toBe(14);
  });

  it('refuses a configuration that allows none [J-01]', () => {
    expectConfigError({ algorithms: ['none' as never] });
    expectConfigError({ algorithms: ['NONE' as never] });
    expectConfigError({ algorithms: [] });
  });

  it('rejects a real token with its signature removed [J-03]', async () => {
    const [h, p] = token().split('.');
    await expectRejected(verifier().verify(`${h}.${p}.`), 'signature');
    const [hh, hp] = hsToken().split('.');
    await expectRejected(hsVerifier().verify(`${hh}.${hp}.`), 'signature');
  });

  it('rejects signatures cut short or extended [J-04]', async () => {
    const v = verifier();
    const good = token();
    await expectRejected(v.verify(good.slice(0, -3)), ['signature', 'encoding']);
    await expectRejected(v.verify(`${good}AA`), 'signature');
    const hs = hsToken();
    // 43 + 2 characters is not a whole number of bytes: refused as a non-canonical encoding.
    await expectRejected(hsVerifier().verify(`${hs}AA`), 'encoding');
    await expectRejected(hsVerifier().verify(`${hs}AAAA`), 'signature');
  });

  it('rejects an ES256 token whose signature is 64 zero bytes [J-05]', async () => {
    const [h, p] = signRaw('ES256', { alg: 'ES256', kid: 'e1', typ: 'at+jwt' }, goodClaims(), ec.privateKey).split('.');
    const err = await expectRejected(verifier().verify(`${h}.${p}.${b64(new Uint8Array(64))}`), 'signature');
    expect(err.cause).toBeUndefined(); // refused by the explicit check, before the crypto library
  });

  it('never uses a key carried in the jwk or x5c header [J-06]', async () => {
    const v = verifier();
    const jwk = publicJwk(attacker.publicKey, 'k1', 'EdDSA');
    await expectRejected(v.verify(token({}, { jwk }, attacker.privateKey)), 'header-key');
    const x5c = [b64(attacker.publicKey.export({ format: 'der', type: 'spki' }))];
    await expectRejected(v.verify(token({}, { x5c }, attacker.privateKey)), 'header-key');
    await expectRejected(v.verify(token({}, { x5u: 'https://evil.example/cert.pem' })), 'header-key');
  });

  it('treats a path-traversal kid as an unknown key id [J-08]', async () => {
    const traversal = '../../../../../../dev/null';
    await expectRejected(verifier().verify(token({}, { kid: traversal }, attacker.privateKey)), 'key-unknown');
    // HS256 tokens signed with an empty key or with "2": the configured secret decides, never a file.
    const v = hsVerifier();
    await expectRejected(v.verify(hsToken({}, { kid: traversal }, new Uint8Array(0))), 'signature');
    const proc = hsToken({}, { kid: '/proc/sys/kernel/randomize_va_space' }, Buffer.from('2'));
    await expectRejected(v.verify(proc), 'signature');
  });

  it('rejects kid injection, control characters and overlong kids without echoing them [J-09]', async () => {
    const v = verifier();
    const sqlKid = "x' UNION SELECT 'secret' -- ";
    const sql = await expectRejected(
      hsVerifier().verify(hsToken({}, { kid: sqlKid }, Buffer.from('secret'))),
      'signature',
    );
    expect(JSON.stringify(sql.toJSON())).not.toMatch(/UNION|secret'/);
    await expectRejected(v.verify(token({}, { kid: sqlKid }, attacker.privateKey)), 'key-unknown');
    for (const kid of ['k1\u0000', 'k1\r\nX-Injected: 1', 'k1\n', 'x'.repeat(257), '', 42]) {
      await expectRejected(v.verify(token({}, { kid })), 'kid');
    }
    await expectRejected(v.verify(token({}, { kid: 'x'.repeat(1024 * 1024) })), 'size');
  });

  it('rejects exp at and before now, and honours a configured tolerance only [J-11]', async () => {
    await expectRejected(verifier().verify(token({ exp: T })), 'expired');
    await expectRejected(verifier().verify(token({ exp: T - 1 })), 'expired');
    await expectRejected(verifier().verify(token({ exp: T - 20, iat: T - 100 })), 'expired');
    const lenient = verifier({ clockToleranceSec: 30 });
    await expect(lenient.verify(token({ exp: T - 20, iat: T - 100 }))).resolves.toBeDefined();
    expectConfigError({ clockToleranceSec: 61 });
    expectConfigError({ clockToleranceSec: -1 });
    expectConfigError({ clockToleranceSec: 1.5 });
  });

  it('rejects nbf in the future, iat in the future, old iat, missing exp and long lifetimes [J-12]', async () => {
    const v = verifier();
    await expectRejected(v.verify(token({ nbf: T + 1 })), 'not-yet-valid');
    await expectRejected(v.verify(token({ iat: T + 120 })), 'issued-in-future');
    await expect(verifier({ clockToleranceSec: 30 }).verify(token({ iat: T + 20 }))).resolves.toBeDefined();
    await expectRejected(verifier({ maxTokenAgeSec: 30 }).verify(token({ iat: T - 31 })), 'too-old');
    await expect(verifier({ maxTokenAgeSec: 30 }).verify(token({ iat: T - 29 }))).resolves.toBeDefined();
    await expectRejected(v.verify(token({ exp: undefined })), 'missing-claim');
    await expectRejected(v.verify(token({ iat: undefined })), 'missing-claim');
    const lifetime = verifier({ maxLifetimeSec: 3600 });
    await expectRejected(lifetime.verify(token({ iat: T - 10, exp: T - 10 + 3601 })), 'lifetime');
    await expect(lifetime.verify(token({ iat: T - 10, exp: T - 10 + 3600 }))).resolves.toBeDefined();
  });

  it('rejects numeric dates that are not finite numbers [J-13]', async () => {
    const v = verifier();
    for (const exp of ['9999999999', null, true, {}]) await expectRejected(v.verify(token({ exp })), 'claim-type');
    await expectRejected(v.verify(token({ nbf: 'invalid' })), 'claim-type');
    await expectRejected(v.verify(token({ iat: 'invalid' })), 'claim-type');
    // JSON has no Infinity, but 1e400 parses to it: spliced in as raw text.
    const raw = JSON.stringify(goodClaims({ exp: 0 })).replace('"exp":0', '"exp":1e400');
    await expectRejected(
      v.verify(signRaw('EdDSA', { alg: 'EdDSA', kid: 'k1', typ: 'at+jwt' }, raw, ed.privateKey)),
      'claim-type',
    );
    const nbf = JSON.stringify(goodClaims({ nbf: 0 })).replace('"nbf":0', '"nbf":-1e400');
    await expectRejected(
      v.verify(signRaw('EdDSA', { alg: 'EdDSA', kid: 'k1', typ: 'at+jwt' }, nbf, ed.privateKey)),
      'claim-type',
    );
  });

  it('allows aud "api" or an array holding it and denies every other shape [J-14]', async () => {
    const v = verifier();
    await expect(v.verify(token({ aud: ['other', 'api'] }))).resolves.toBeDefined();
    await expectRejected(v.verify(token({ aud: undefined })), 'missing-claim');
    await expectRejected(v.verify(token({ aud: 'other' })), 'audience');
    await expectRejected(v.verify(token({ aud: { invalid: 'value' } })), 'audience');
    await expectRejected(v.verify(token({ aud: [{ x: 1 }, 'api'] })), 'claim-type');
    await expectRejected(v.verify(token({ aud: '' })), 'audience');
    expectConfigError({ audience: '' });
    expectConfigError({ audience: undefined as never });
  });

  it('rejects a wrong issuer, an issuer array and a staging issuer signed with the same key [J-15]', async () => {
    const v = verifier();
    await expectRejected(v.verify(token({ iss: 'https://evil.example' })), 'issuer');
    await expectRejected(v.verify(token({ iss: [issuer] })), 'issuer');
    await expectRejected(v.verify(token({ iss: 'https://staging.auth.example.test' })), 'issuer');
    expectConfigError({ issuer: '' });
  });

  it('rejects refresh, reset, email and ID tokens presented as access tokens [J-16]', async () => {
    const v = verifier();
    for (const typ of ['refresh+jwt', 'JWT', 'id_token+jwt', 'password-reset+jwt', undefined]) {
      await expectRejected(v.verify(token({}, { typ })), 'type');
    }
    await expect(v.verify(token({}, { typ: 'application/at+jwt' }))).resolves.toBeDefined();
  });

  it('rejects payloads that are not a JSON object [J-17]', async () => {
    const v = verifier();
    for (const payload of ['0', '1', '-1', 'true', 'false', 'null', '[]', '""', '{']) {
      const t = signRaw('EdDSA', { alg: 'EdDSA', kid: 'k1', typ: 'at+jwt' }, payload, ed.privateKey);
      await expectRejected(v.verify(t), 'payload');
    }
  });

  it('rejects authorisation claims of the wrong type [J-19]', async () => {
    const v = verifier();
    const wrong: Json[] = [
      { role: ['authenticated', 'service_role'] },
      { role: { $ne: null } },
      { roles: 'admin' },
      { roles: ['member', 7] },
      { sub: 42 },
      { sub: '' },
      { tenant: { id: 'tenant-b' } },
      { tenant_id: { $gt: '' } },
      { aal: 2 },
    ];
    for (const claims of wrong) await expectRejected(v.verify(token(claims)), 'claim-type');
    const proto = JSON.stringify(goodClaims()).replace(/}$/, ',"__proto__":{"role":"service_role"}}');
    const t = signRaw('EdDSA', { alg: 'EdDSA', kid: 'k1', typ: 'at+jwt' }, proto, ed.privateKey);
    await expectRejected(v.verify(t), 'claim-name');
  });

  it('keeps claim values out of the error and its cause [J-19]', async () => {
    const v = verifier();
    for (const t of [token({ aud: 'secret-aud-value' }), token({ exp: T - 5, marker: 'secret-marker' })]) {
      const err = await failure(v.verify(t));
      expect(err.cause).toBeUndefined();
      expect(JSON.stringify(err.toJSON())).not.toContain('secret-');
    }
  });

  it('checks extra claim types given in claimTypes [J-19]', async () => {
    const v = verifier({ claimTypes: { org_admin: 'boolean', level: 'number' } });
    await expectRejected(v.verify(token({ org_admin: 'yes' })), 'claim-type');
    await expectRejected(v.verify(token({ level: '3' })), 'claim-type');
    await expect(v.verify(token({ org_admin: true, level: 3 }))).resolves.toBeDefined();
    expectConfigError({ claimTypes: { x: 'object' as never } });
  });

  it('rejects crit headers and unencoded payloads [J-20]', async () => {
    const v = verifier();
    await expectRejected(v.verify(token({}, { crit: ['x-unknown'], 'x-unknown': 1 })), 'crit');
    await expectRejected(v.verify(token({}, { crit: ['b64'], b64: false })), 'crit');
    await expectRejected(hsVerifier().verify(hsToken({}, { crit: ['x-unknown'], 'x-unknown': 1 })), 'crit');
  });

  it('rejects anything but canonical three-part compact serialisation [J-21]', async () => {
    const v = verifier();
    const good = token();
    const [h = '', p = '', s = ''] = good.split('.');
    await expectRejected(v.verify(`${h}.${p}`), 'structure');
    await expectRejected(v.verify(`${h}.${p}.${s}.${s}`), 'structure');
    await expectRejected(v.verify(`${h}.${p}.${s}.${s}.${s}`), 'jwe');
    await expectRejected(v.verify(''), 'structure');
    await expectRejected(v.verify(`${h}.${p}.${s}==`), 'encoding');
    await expectRejected(v.verify(`${h}.${p}.${s.slice(0, 10)}+${s.slice(11)}`), 'encoding');
    await expectRejected(v.verify(`${h}.${p}.${s.slice(0, 10)}/${s.slice(11)}`), 'encoding');
    await expectRejected(v.verify(`${h}.${p} .${s}`), 'encoding');
    await expectRejected(v.verify(` ${good}`), 'encoding');
    await expectRejected(v.verify(`${good}\n`), 'encoding');
    // A 64-byte signature leaves 4 unused bits in its last character: flipping one keeps the bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(s.slice(-1));
    const twin = `${h}.${p}.${s.slice(0, -1)}${alphabet[last ^ 1]}`;
    expect(Buffer.from(twin.split('.')[2] ?? '', 'base64url')).toEqual(Buffer.from(s, 'base64url'));
    await v.verify(good);
    await expectRejected(v.verify(twin), 'encoding');
    expect(v.stats().cache?.size).toBe(1);
  });

  it('rejects payload bytes that are not UTF-8 even when correctly signed [J-17]', async () => {
    const header = b64(JSON.stringify({ alg: 'EdDSA', kid: 'k1', typ: 'at+jwt' }));
    const claims = Buffer.from(JSON.stringify(goodClaims({ name: 'XX' })));
    claims.set([0xc3, 0x28], claims.indexOf('XX'));
    const input = `${header}.${b64(claims)}`;
    const t = `${input}.${b64(sign(null, Buffer.from(input), ed.privateKey))}`;
    await expectRejected(verifier().verify(t), 'payload');
  });

  it('rejects a 1 MB token and a 64 KB header in under 50 ms [J-23]', async () => {
    const v = verifier();
    const huge = token({ pad: 'x'.repeat(1024 * 1024) });
    const wideHeader = token({}, { pad: 'x'.repeat(64 * 1024) });
    const deep = signRaw(
      'EdDSA',
      { alg: 'EdDSA', kid: 'k1', typ: 'at+jwt' },
      `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
      ed.privateKey,
    );
    const many: Json = {};
    for (let i = 0; i < 100_000; i++) many[`c${i}`] = i;
    const wide = token(many);
    for (const t of [huge, wideHeader, deep, wide]) {
      const started = performance.now();
      await expectRejected(v.verify(t), 'size');
      expect(performance.now() - started).toBeLessThan(50);
    }
  });

  it('refuses a short HS256 secret or a well-known one at construction [J-24]', () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    for (const weak of [
      enc('secret'),
      enc('your-256-bit-secret'),
      enc('changeme'),
      randomBytes(31),
      enc('super-secret-jwt-token-with-at-least-32-characters-long'),
      enc('changeme'.repeat(4)),
      enc('Secret!'.repeat(5)),
      new Uint8Array(32),
      enc('a'.repeat(64)),
    ]) {
      expectConfigError({ keys: { hmacSecret: weak } });
    }
    expect(() => verifier({ keys: { hmacSecret: randomBytes(32) } })).not.toThrow();
  });

  it('refuses mixing HMAC and public-key algorithms (key confusion) [J-24]', () => {
    expectConfigError({ keys: { hmacSecret }, algorithms: ['HS256', 'ES256'] });
    expectConfigError({ keys: { jwks }, algorithms: ['EdDSA', 'HS256'] });
    expectConfigError({ keys: { hmacSecret, jwks } as never });
  });

  it('reports the signature, not the expiry, for an expired token signed by the wrong key [J-25]', async () => {
    await expectRejected(verifier().verify(token({ exp: T - 3600 }, {}, attacker.privateKey)), 'signature');
    await expectRejected(hsVerifier().verify(hsToken({ exp: T - 3600 }, {}, randomBytes(32))), 'signature');
  });

  it('keeps hostile claim strings intact as data and rejects NUL [J-29]', async () => {
    const v = verifier();
    const sub = "x'); DROP TABLE t;--";
    await expect(v.verify(token({ sub }))).resolves.toMatchObject({ claims: { sub } });
    await expectRejected(v.verify(token({ note: 'x'.repeat(1024 * 1024) })), 'size');
    await expectRejected(v.verify(token({ sub: 'user\u0000admin' })), 'claim-value');
    await expectRejected(v.verify(token({ profile: { name: ['ok', 'a\u0000'] } })), 'claim-value');
    const err = await failure(v.verify(token({ sub: 'user\u0000admin' })));
    expect(err.stack ?? '').not.toContain('user');
    expect(JSON.stringify(err.toJSON())).not.toContain('user');
  });

  it('refuses pem private keys, mismatched pem algorithms and plain-http JWKS URLs', () => {
    const pem = ed.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(() => verifier({ keys: { pem, alg: 'EdDSA' }, algorithms: undefined })).not.toThrow();
    expectConfigError({ keys: { pem, alg: 'ES256' } });
    expectConfigError({
      keys: { pem: ed.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), alg: 'EdDSA' },
    });
    expectConfigError({ keys: { jwksUrl: 'http://auth.example.test/jwks.json' } });
    expectConfigError({ keys: { jwks: { keys: [{ kty: 'oct', k: b64(hmacSecret) }] } } });
    expectConfigError({ keys: { jwks: { keys: [ed.privateKey.export({ format: 'jwk' }) as JWK] } } });
  });

  it('verifies with a pem key', async () => {
    const pem = ed.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const v = verifier({ keys: { pem, alg: 'EdDSA' } });
    await expect(v.verify(token())).resolves.toBeDefined();
    await expectRejected(v.verify(token({}, {}, attacker.privateKey)), 'signature');
  });
});

describe('verified-token cache', () => {
  it('serves a repeat token from the cache and re-checks exp on a hit [J-21]', async () => {
    let now = T;
    const v = verifier({ now: () => now * 1000, clockToleranceSec: 0 });
    const t = token({ exp: T + 60 });
    await v.verify(t);
    await v.verify(t);
    expect(v.stats().cache).toMatchObject({ hits: 1, misses: 1, size: 1 });
    now = T + 60;
    await expectRejected(v.verify(t), 'expired');
  });

  it('does not cache rejected tokens', async () => {
    const v = verifier();
    const bad = token({ aud: 'other' });
    await expectRejected(v.verify(bad), 'audience');
    await expectRejected(v.verify(bad), 'audience');
    expect(v.stats().cache).toMatchObject({ size: 0, hits: 0 });
    expect(v.stats().rejected).toBe(2);
  });

  it('evicts least recently used entries first and counts evictions', () => {
    const cache = new VerifiedTokenCache<{ expiresAt: number }>({ maxEntries: 2, now: () => 0 });
    cache.set('a', { expiresAt: 10 });
    cache.set('b', { expiresAt: 10 });
    cache.get('a');
    cache.set('c', { expiresAt: 10 });
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBeDefined();
    expect(cache.stats()).toMatchObject({ size: 2, evictions: 1 });
  });

  it('never keeps an entry past the token exp or maxEntryAgeMs', () => {
    let now = 0;
    const cache = new VerifiedTokenCache<{ expiresAt: number }>({ maxEntries: 5, now: () => now, maxEntryAgeMs: 100 });
    cache.set('short', { expiresAt: 50 });
    cache.set('long', { expiresAt: 1_000 });
    cache.set('dead', { expiresAt: 0 });
    now = 50;
    expect(cache.get('short')).toBeUndefined();
    expect(cache.get('long')).toBeDefined();
    now = 100;
    expect(cache.get('long')).toBeUndefined();
    expect(cache.stats()).toMatchObject({ size: 0, expirations: 2 });
  });
});

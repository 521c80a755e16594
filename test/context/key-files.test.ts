import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier, readVerifierKeys } from '../../src/context/verify/index.js';

// Verification keys read from local files: a JWKS, a single JWK, or an SPKI PEM public key.

let dir: string;
const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const sign = (kid?: string) =>
  new SignJWT({ sub: 'u1' })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', ...(kid ? { kid } : {}) })
    .setIssuer('https://issuer.test')
    .setAudience('api')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);
const verifierFor = async (path: string, alg?: 'EdDSA') =>
  createTokenVerifier({ keys: await readVerifierKeys(path, alg), issuer: 'https://issuer.test', audience: 'api' });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgwarden-keyfiles-'));
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA', use: 'sig' };
  await writeFile(join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }));
  await writeFile(join(dir, 'one.jwk'), JSON.stringify(jwk));
  await writeFile(join(dir, 'public.pem'), publicKey.export({ type: 'spki', format: 'pem' }) as string);
  await writeFile(join(dir, 'private.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  await writeFile(
    join(dir, 'private.jwk'),
    JSON.stringify({ ...(await exportJWK(privateKey)), kid: 'k1', alg: 'EdDSA' }),
  );
  await writeFile(join(dir, 'junk.txt'), 'not a key');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readVerifierKeys', () => {
  it('verifies tokens with keys from a JWKS file, a JWK file or a PEM file', async () => {
    expect((await (await verifierFor(join(dir, 'jwks.json'))).verify(await sign('k1'))).claims.sub).toBe('u1');
    expect((await (await verifierFor(join(dir, 'one.jwk'))).verify(await sign('k1'))).claims.sub).toBe('u1');
    expect((await (await verifierFor(join(dir, 'public.pem'), 'EdDSA')).verify(await sign())).claims.sub).toBe('u1');
  });

  it('refuses private key material, a PEM without its algorithm, and files that are not keys (PW322)', async () => {
    await expect(verifierFor(join(dir, 'private.pem'), 'EdDSA')).rejects.toMatchObject({ code: 'PW322' });
    await expect(verifierFor(join(dir, 'private.jwk'))).rejects.toMatchObject({ code: 'PW322' });
    await expect(readVerifierKeys(join(dir, 'public.pem'))).rejects.toMatchObject({ code: 'PW322' });
    await expect(readVerifierKeys(join(dir, 'junk.txt'))).rejects.toMatchObject({ code: 'PW322' });
    await expect(readVerifierKeys(join(dir, 'missing.json'))).rejects.toMatchObject({ code: 'PW322' });
  });
});

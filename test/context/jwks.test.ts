import { generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JWK } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenVerifier, type RemoteJwksKeys } from '../../src/context/verify/index.js';
import { ErrorCodes, PgwardenError } from '../../src/errors/index.js';

const issuer = 'https://auth.example.test';
const audience = 'api';

const oldKey = generateKeyPairSync('ed25519');
const newKey = generateKeyPairSync('ed25519');
const attacker = generateKeyPairSync('ed25519');

const b64 = (value: string | Uint8Array) => Buffer.from(value).toString('base64url');

function publicJwk(key: KeyObject, kid: string): JWK {
  return { ...(key.export({ format: 'jwk' }) as JWK), kid, alg: 'EdDSA', use: 'sig' };
}

function token(kid: string, key: KeyObject, header: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: issuer, aud: audience, sub: 'user-1', iat: now - 5, exp: now + 600 };
  const input = `${b64(JSON.stringify({ alg: 'EdDSA', kid, typ: 'at+jwt', ...header }))}.${b64(JSON.stringify(claims))}`;
  return `${input}.${b64(sign(null, Buffer.from(input), key))}`;
}

/** A real JWKS endpoint on a loopback port: counts requests and can be made slow or broken. */
interface JwksServer {
  url: string;
  keys: JWK[];
  mode: 'ok' | 'slow' | 'error' | 'garbage';
  requests: string[];
  server: Server;
}

const servers: Server[] = [];

async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  const state = { keys, mode: 'ok', requests: [] } as Omit<JwksServer, 'url' | 'server'>;
  const server = createServer((req, res) => {
    state.requests.push(req.url ?? '');
    const answer = () => {
      if (state.mode === 'error') res.writeHead(500).end('down');
      else if (state.mode === 'garbage') res.writeHead(200, { 'content-type': 'application/json' }).end('{not json');
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }));
    };
    if (state.mode === 'slow') setTimeout(answer, 2_000).unref();
    else answer();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, { url: `http://127.0.0.1:${port}/jwks.json`, server });
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

function remote(keys: RemoteJwksKeys) {
  return createTokenVerifier({ keys, issuer, audience, now: Date.now });
}

async function failure(promise: Promise<unknown>): Promise<PgwardenError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof PgwardenError)) throw new Error(`expected a PgwardenError, got ${String(err)}`);
  return err;
}

describe('remote JWKS', () => {
  it('fetches the JWKS at most once per cooldown under a flood of 1,000 unknown kids [J-10]', async () => {
    const jwks = await startJwksServer([publicJwk(oldKey.publicKey, 'kid-old')]);
    const v = remote({ jwksUrl: jwks.url, cooldownMs: 300 });
    const flood = async () => {
      const results = await Promise.all(
        Array.from({ length: 500 }, () => failure(v.verify(token(randomUUID(), attacker.privateKey)))),
      );
      for (const err of results) expect([err.code, err.detail]).toEqual([ErrorCodes.JWT_INVALID, 'key-unknown']);
    };
    await flood();
    expect(jwks.requests).toHaveLength(1);
    await sleep(350);
    await flood();
    expect(jwks.requests).toHaveLength(2);
    expect(v.stats()).toMatchObject({ jwksFetches: 2, rejected: 1000, rejectedBy: { 'key-unknown': 1000 } });
    // A genuine token still verifies from the cached set, without another fetch.
    await expect(v.verify(token('kid-old', oldKey.privateKey))).resolves.toBeDefined();
    expect(jwks.requests).toHaveLength(2);
  });

  it('fails closed with PW321 when the JWKS endpoint is down [J-10]', async () => {
    const jwks = await startJwksServer([]);
    const url = jwks.url;
    jwks.server.closeAllConnections();
    await new Promise((resolve) => jwks.server.close(resolve));
    const err = await failure(remote({ jwksUrl: url }).verify(token('kid-old', oldKey.privateKey)));
    expect(err.code).toBe(ErrorCodes.JWT_KEYS_UNAVAILABLE);
  });

  it('fails closed with PW321 when the JWKS endpoint is slower than the timeout [J-10]', async () => {
    const jwks = await startJwksServer([publicJwk(oldKey.publicKey, 'kid-old')]);
    jwks.mode = 'slow';
    const v = remote({ jwksUrl: jwks.url, timeoutMs: 200 });
    const started = performance.now();
    const err = await failure(v.verify(token('kid-old', oldKey.privateKey)));
    expect(err.code).toBe(ErrorCodes.JWT_KEYS_UNAVAILABLE);
    expect(performance.now() - started).toBeLessThan(1_500);
    expect(v.stats()).toMatchObject({ verified: 0, keysUnavailable: 1 });
  });

  it('fails closed with PW321 on an error status or a body that is not JSON [J-10]', async () => {
    const jwks = await startJwksServer([publicJwk(oldKey.publicKey, 'kid-old')]);
    for (const mode of ['error', 'garbage'] as const) {
      jwks.mode = mode;
      const err = await failure(remote({ jwksUrl: jwks.url }).verify(token('kid-old', oldKey.privateKey)));
      expect(err.code).toBe(ErrorCodes.JWT_KEYS_UNAVAILABLE);
    }
  });

  it('does not start a new fetch per request while the endpoint is failing [J-10]', async () => {
    const jwks = await startJwksServer([publicJwk(oldKey.publicKey, 'kid-old')]);
    jwks.mode = 'error';
    const v = remote({ jwksUrl: jwks.url, failureBackoffMs: 60_000 });
    for (let i = 0; i < 20; i++) {
      expect((await failure(v.verify(token('kid-old', oldKey.privateKey)))).code).toBe(ErrorCodes.JWT_KEYS_UNAVAILABLE);
    }
    expect(jwks.requests).toHaveLength(1);
  });

  it('uses the injected fetch', async () => {
    const jwks = await startJwksServer([publicJwk(oldKey.publicKey, 'kid-old')]);
    const seen: string[] = [];
    const v = remote({
      jwksUrl: jwks.url,
      fetch: (input, init) => {
        seen.push(String(input));
        return fetch(input, init);
      },
    });
    await v.verify(token('kid-old', oldKey.privateKey));
    expect(seen).toEqual([jwks.url]);
  });

  it('never fetches a jku or x5u URL named by the token [J-06]', async () => {
    const jwks = await startJwksServer([publicJwk(oldKey.publicKey, 'kid-old')]);
    const v = remote({ jwksUrl: jwks.url });
    const evil = jwks.url.replace('/jwks.json', '/evil.json');
    for (const header of [{ jku: evil }, { x5u: evil }]) {
      const err = await failure(v.verify(token('kid-old', attacker.privateKey, header)));
      expect([err.code, err.detail]).toEqual([ErrorCodes.JWT_INVALID, 'header-key']);
    }
    expect(jwks.requests.filter((path) => path.includes('evil'))).toEqual([]);
  });

  it('accepts old and new kids during rollover and refuses the old one after removal and cache expiry [J-28]', async () => {
    const jwks = await startJwksServer([publicJwk(oldKey.publicKey, 'kid-old')]);
    const v = remote({ jwksUrl: jwks.url, cooldownMs: 100, cacheMaxAgeMs: 400 });
    const oldToken = token('kid-old', oldKey.privateKey);
    await expect(v.verify(oldToken)).resolves.toBeDefined();

    jwks.keys = [publicJwk(oldKey.publicKey, 'kid-old'), publicJwk(newKey.publicKey, 'kid-new')];
    await sleep(150); // past the cooldown: the unknown kid-new triggers one fetch
    await expect(v.verify(token('kid-new', newKey.privateKey))).resolves.toBeDefined();
    await expect(v.verify(oldToken)).resolves.toBeDefined();

    jwks.keys = [publicJwk(newKey.publicKey, 'kid-new')];
    await sleep(450); // past cacheMaxAge: both the key set and the cached verdict are stale
    const err = await failure(v.verify(oldToken));
    expect([err.code, err.detail]).toEqual([ErrorCodes.JWT_INVALID, 'key-unknown']);
    await expect(v.verify(token('kid-new', newKey.privateKey))).resolves.toBeDefined();
  });
});

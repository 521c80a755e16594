// A small API behind pgwarden's request middleware (Hono), whose refused credentials go to the
// token-rejection reporter, plus the forged tokens of M-11: alg=none, a signature by the wrong
// key, and a genuine signature for another audience.
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { type JWK, SignJWT } from 'jose';
import pg from 'pg';
import { parseMasterKey } from '../../../src/auth/index.js';
import {
  createContextGuard,
  createContextPool,
  createTokenVerifier,
  honoContext,
  type PgwardenVariables,
} from '../../../src/context/index.js';
import type { ConnectionConfig } from '../../../src/db/client.js';
import { createTokenRejectionReporter, type TokenRejectionReporter } from '../../../src/monitor/reporters/index.js';

const ISSUER = 'https://idp.e2e.example';
const AUDIENCE = 'billing-api';
const KID = 'e2e-idp';

/** The running API. */
export interface TokenApi {
  /** The app that takes the socket address as the client's. */
  directUrl: string;
  /** The same app behind a proxy of its own: the client is the X-Forwarded-For entry. */
  proxiedUrl: string;
  reporter: TokenRejectionReporter;
  /** GET /invoices with `token`; resolves to the status. */
  call(url: string, token: string, forwardedFor?: string): Promise<number>;
  /** A token the API would accept, but expired. */
  expiredToken(): Promise<string>;
  sign(claims: Record<string, unknown>, options?: { audience?: string; attacker?: boolean }): Promise<string>;
  close(): Promise<void>;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * Starts the API twice (direct and behind a proxy) on one guard-less verifier and one reporter.
 *
 * @example
 * const api = await startTokenApi({ masterKey, connection, reporterConnection });
 * await api.call(api.directUrl, token);
 */
export async function startTokenApi(o: {
  masterKey: string;
  connection: ConnectionConfig;
  reporterConnection: ConnectionConfig;
}): Promise<TokenApi> {
  const idp = generateKeyPairSync('ed25519');
  const attacker = generateKeyPairSync('ed25519');
  const jwk = { ...(idp.publicKey.export({ format: 'jwk' }) as JWK), kid: KID, alg: 'EdDSA', use: 'sig' };
  const verifier = createTokenVerifier({ keys: { jwks: { keys: [jwk] } }, issuer: ISSUER, audience: AUDIENCE });
  // Refused tokens never take a connection (J-26): this pool is never used by these tests.
  const pool = new pg.Pool({ ...o.connection, max: 1 });
  pool.on('error', () => undefined);
  const contextPool = createContextPool({ pool, key: parseMasterKey(o.masterKey), verifier });
  const reporter = createTokenRejectionReporter({
    connection: o.reporterConnection,
    flushIntervalMs: 200,
    maxPerFlush: 100,
  });
  const guard = createContextGuard({ contextPool, realm: 'billing', onRejected: reporter.report });
  const servers: ReturnType<typeof serve>[] = [];
  const start = async (clientAddress?: (c: object) => string | undefined) => {
    const pgw = clientAddress
      ? honoContext({ contextPool, realm: 'billing', onRejected: reporter.report, clientAddress })
      : honoContext(guard);
    const app = new Hono<{ Variables: PgwardenVariables }>();
    app.use(pgw.middleware);
    app.onError(pgw.errorHandler);
    app.get('/invoices', (c) => c.json([]));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    if (!server.listening) await once(server, 'listening');
    servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  const directUrl = await start();
  const proxiedUrl = await start((c) =>
    (c as { req: { header(n: string): string | undefined } }).req.header('x-forwarded-for'),
  );

  const sign: TokenApi['sign'] = (claims, options = {}) =>
    new SignJWT({ sub: 'user-1', tenant: 'acme', ...claims })
      .setProtectedHeader({ alg: 'EdDSA', kid: KID, typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(options.audience ?? AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(options.attacker ? attacker.privateKey : idp.privateKey);

  return {
    directUrl,
    proxiedUrl,
    reporter,
    sign,
    call: async (url, token, forwardedFor) => {
      const res = await fetch(`${url}/invoices`, {
        headers: { authorization: `Bearer ${token}`, ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}) },
      });
      await res.arrayBuffer();
      return res.status;
    },
    expiredToken: () =>
      new SignJWT({ sub: 'user-1', tenant: 'acme' })
        .setProtectedHeader({ alg: 'EdDSA', kid: KID, typ: 'at+jwt' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(Math.floor(Date.now() / 1000) - 600)
        .setExpirationTime(Math.floor(Date.now() / 1000) - 300)
        .sign(idp.privateKey),
    close: async () => {
      for (const server of servers) {
        if ('closeAllConnections' in server) server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
      await reporter.close();
      await pool.end();
    },
  };
}

/**
 * `n` forged tokens, cycling through alg=none, a signature by another key under the API's key
 * id, and a genuine token for another audience.
 *
 * @example
 * const tokens = await forgedTokens(api, 20);
 */
export async function forgedTokens(api: TokenApi, n: number): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) {
    const claims = { role: 'authenticated', jti: `forged-${i}-${Math.random().toString(36).slice(2)}` };
    if (i % 3 === 0) {
      const now = Math.floor(Date.now() / 1000);
      tokens.push(
        `${b64({ alg: 'none', typ: 'at+jwt' })}.${b64({ ...claims, sub: 'admin', iss: ISSUER, aud: AUDIENCE, iat: now, exp: now + 300 })}.`,
      );
    } else if (i % 3 === 1) tokens.push(await api.sign({ ...claims, sub: 'admin' }, { attacker: true }));
    else tokens.push(await api.sign(claims, { audience: 'other-api' }));
  }
  return tokens;
}

// The shared fixture of the middleware tests: one installed database with an RLS-protected
// `public.notes`, an authenticator pool, a token signer, and the same small app for every
// framework. `middlewareSuite` runs the same HTTP-level cases against each adapter.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { connect } from 'node:net';
import { type JWK, SignJWT } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthService } from '../../src/auth/index.js';
import {
  type ContextGuard,
  type ContextHandle,
  type ContextMiddlewareOptions,
  type ContextPool,
  createContextGuard,
  createContextPool,
  createTokenVerifier,
  type TokenRejectedEvent,
} from '../../src/context/index.js';
import type { ContextKey } from '../../src/context/context-seal.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { MetricsRegistry } from '../../src/http/index.js';
import { createLogger } from '../../src/logger/index.js';
import { goodPassword, testAuthOptions, uniqueEmail } from '../helpers/auth.js';
import { authenticatorConnection, registerContextKey } from '../helpers/context.js';
import { installedDatabase } from '../helpers/db.js';

export const issuer = 'https://auth.test';
export const audience = 'test-api';
export const realm = 'notes';
const SUB_A = '00000000-0000-4000-8000-00000000000a';
const SUB_B = '00000000-0000-4000-8000-00000000000b';

/** The neutral description of one route; each framework's test file mounts these. */
export interface TestRoute {
  method: 'GET' | 'POST';
  path: string;
  run(pgw: ContextHandle, body: Record<string, unknown>): Promise<{ status?: number; body: unknown }>;
}

const insert = 'insert into public.notes (tenant, body) values (coalesce($1, auth.tenant_id()), $2) returning id';
const bodyText = (body: Record<string, unknown>) => String(body.body ?? 'note');
const tenantOf = (body: Record<string, unknown>) => (typeof body.tenant === 'string' ? body.tenant : null);

export const routes: TestRoute[] = [
  {
    method: 'GET',
    path: '/notes',
    run: async (pgw) => ({
      body: (await pgw.db.query('select tenant, body from public.notes order by id')).rows,
    }),
  },
  {
    method: 'GET',
    path: '/whoami',
    run: async (pgw) => ({
      body: (await pgw.db.query('select current_user as role, auth.sub() as sub, auth.tenant_id() as tenant')).rows[0],
    }),
  },
  { method: 'GET', path: '/nodb', run: async () => ({ body: { ok: true } }) },
  {
    method: 'GET',
    path: '/write',
    run: async (pgw) => ({ body: (await pgw.db.query(insert, [null, 'from a GET'])).rows }),
  },
  {
    method: 'GET',
    path: '/throw',
    run: async (pgw) => {
      await pgw.db.query('select 1');
      throw new Error('boom: select secret_column from internal_table where id = 1');
    },
  },
  {
    method: 'POST',
    path: '/notes',
    run: async (pgw, body) => ({
      status: 201,
      body: (await pgw.db.query(insert, [tenantOf(body), bodyText(body)])).rows[0],
    }),
  },
  {
    method: 'POST',
    path: '/notes/sub',
    run: async (pgw) => ({
      status: 201,
      body: (
        await pgw.db.query(
          'insert into public.notes (tenant, body) values (auth.tenant_id(), auth.sub()) returning body',
        )
      ).rows[0],
    }),
  },
  {
    method: 'POST',
    path: '/notes/throw',
    run: async (pgw, body) => {
      await pgw.db.query(insert, [null, bodyText(body)]);
      throw new Error('handler failed after a write');
    },
  },
  {
    method: 'POST',
    path: '/notes/503',
    run: async (pgw, body) => {
      await pgw.db.query(insert, [null, bodyText(body)]);
      return { status: 503, body: { retry: true } };
    },
  },
  {
    method: 'POST',
    path: '/notes/rollback',
    run: async (pgw, body) => {
      await pgw.db.query(insert, [null, bodyText(body)]);
      await pgw.rollback();
      return { status: 400, body: { rejected: true } };
    },
  },
  {
    method: 'POST',
    path: '/notes/run',
    run: async (pgw, body) => {
      const row = await pgw.run(async (db) => (await db.query(insert, [null, bodyText(body)])).rows[0]);
      return { status: 201, body: row };
    },
  },
  {
    method: 'POST',
    path: '/deferred',
    run: async (pgw, body) => {
      await pgw.db.query('insert into public.deferred (k) values ($1), ($1)', [bodyText(body)]);
      return { status: 201, body: { ok: true } };
    },
  },
  {
    method: 'POST',
    path: '/notes/slow',
    run: async (pgw, body) => {
      await pgw.db.query(insert, [null, bodyText(body)]);
      await pgw.db.query('select pg_sleep(0.6)');
      return { status: 201, body: { ok: true } };
    },
  },
];

/** What a framework's test file provides: a server on 127.0.0.1:0 serving `routes` through `guard`. */
export type StartServer = (
  guard: ContextGuard,
  routes: TestRoute[],
) => Promise<{ url: string; close(): Promise<void> }>;

export interface Fixture {
  db: ConnectionConfig;
  admin: pg.Client;
  /** The authenticator pool (max 1) behind `contextPool`. */
  pool: pg.Pool;
  contextPool: ContextPool;
  /** The same pool with an anonymous role. */
  anonPool: ContextPool;
  auth: AuthService;
  sign(claims?: Record<string, unknown>, options?: { key?: KeyObject }): Promise<string>;
  /** Authenticator backends of the test database that are not plain idle. */
  busyBackends(): Promise<string[]>;
  /** A real pgwarden session: its access token and ids. */
  login(tenant?: string): Promise<{ token: string; userId: string; sessionId: string }>;
  close(): Promise<void>;
}

const ed = generateKeyPairSync('ed25519');
const attacker = generateKeyPairSync('ed25519');
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsigned token with the given header (`h.p.`) [J-01]. */
export const unsignedToken = (header: Record<string, unknown>, claims: Record<string, unknown>) =>
  `${b64(header)}.${b64(claims)}.`;

export async function createFixture(): Promise<Fixture> {
  const db = await installedDatabase();
  const admin = new pg.Client(db);
  await admin.connect();
  const key: ContextKey = await registerContextKey(admin);
  await admin.query(`
    create table public.notes (id serial primary key, tenant text not null, body text);
    alter table public.notes enable row level security, force row level security;
    create policy notes_tenant on public.notes to pgw_app_user
      using (tenant = (select auth.tenant_id())) with check (tenant = (select auth.tenant_id()));
    grant select, insert, update, delete on public.notes to pgw_app_user;
    grant usage on sequence public.notes_id_seq to pgw_app_user;
    grant select on public.notes to pgw_anon;
    insert into public.notes (tenant, body) values ('tenant-a', 'a1'), ('tenant-b', 'b1');
    -- A constraint checked at commit: the commit itself fails.
    create table public.deferred (k text, constraint deferred_k unique (k) deferrable initially deferred);
    grant select, insert on public.deferred to pgw_app_user;
  `);
  const adminPool = new pg.Pool({ ...db, max: 4 });
  adminPool.on('error', () => undefined);
  const auth = new AuthService(await testAuthOptions(adminPool));
  const login = async (tenant = 'tenant-a') => {
    const email = uniqueEmail('mw');
    await auth.register({ email, password: goodPassword, tenant });
    const result = await auth.login({ email, password: goodPassword });
    if (result.kind !== 'session') throw new Error(`login did not complete: ${result.kind}`);
    return { token: result.accessToken, userId: result.userId, sessionId: result.sessionId };
  };
  await login(); // creates the signing key, so the JWKS below holds it
  const jwk = { ...(ed.publicKey.export({ format: 'jwk' }) as JWK), kid: 'mw-test', alg: 'EdDSA', use: 'sig' };
  const verifier = createTokenVerifier({
    keys: { jwks: { keys: [jwk, ...((await auth.jwks()).keys as JWK[])] } },
    issuer,
    audience,
  });
  const pool = new pg.Pool({ ...authenticatorConnection(db), max: 1, connectionTimeoutMillis: 3000 });
  pool.on('error', () => undefined);
  const contextPool = createContextPool({ pool, key, verifier });
  const anonPool = createContextPool({
    pool,
    key,
    verifier,
    roles: { authenticated: 'pgw_app_user', anonymous: 'pgw_anon' },
  });
  return {
    db,
    admin,
    pool,
    contextPool,
    anonPool,
    auth,
    login,
    async sign(claims = {}, options = {}) {
      return new SignJWT({ sub: SUB_A, tenant: 'tenant-a', ...claims })
        .setProtectedHeader({ alg: 'EdDSA', kid: 'mw-test', typ: 'at+jwt' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(options.key ?? ed.privateKey);
    },
    async busyBackends() {
      const { rows } = await admin.query<{ state: string }>(
        `select coalesce(state, '') as state from pg_stat_activity
          where datname = $1 and usename = 'pgw_authenticator' and state <> 'idle'`,
        [db.database],
      );
      return rows.map((r) => r.state);
    },
    async close() {
      await pool.end();
      await adminPool.end();
      await admin.end();
    },
  };
}

/** A request with fetch; the body parsed as JSON when there is one. */
export async function call(
  url: string,
  options: { method?: string; token?: string; authorization?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<{ status: number; headers: Headers; text: string; json: unknown }> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: options.signal,
  });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** A GET with two separate Authorization header lines, over a raw socket (clients join them). */
function twoAuthorizationHeaders(url: string, values: string[]): Promise<{ status: number; challenge: string }> {
  const { hostname, port, pathname } = new URL(url);
  const lines = values.map((v) => `Authorization: ${v}\r\n`).join('');
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = connect(Number(port), hostname, () => {
      socket.write(`GET ${pathname} HTTP/1.1\r\nHost: ${hostname}\r\n${lines}Connection: close\r\n\r\n`);
    });
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('error', reject);
    socket.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
      const challenge = /^www-authenticate: (.*)$/im.exec(text)?.[1]?.trim() ?? '';
      resolve({ status, challenge });
    });
  });
}

async function until(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Keys of an error body, and that it holds neither a stack trace nor SQL. */
function expectPlainError(res: { text: string; json: unknown }, code?: string) {
  expect(Object.keys(res.json as object).sort()).toEqual(['code', 'error', 'message']);
  if (code !== undefined) expect((res.json as { code: string }).code).toBe(code);
  expect(res.text).not.toMatch(/\bat .+:\d+:\d+|select|insert|internal_table|boom/i);
}

/**
 * The HTTP-level cases, run against one framework's adapter. Servers share one database; every
 * case that writes uses its own note text.
 */
export function middlewareSuite(framework: string, start: StartServer): void {
  describe(`${framework} middleware`, () => {
    let fx: Fixture;
    let rejected: TokenRejectedEvent[];
    let logLines: string[];
    let metrics: MetricsRegistry;
    let guard: ContextGuard;
    let anonGuard: ContextGuard;
    let server: { url: string; close(): Promise<void> };
    let anonServer: { url: string; close(): Promise<void> };
    let tokenA: string;
    let tokenB: string;

    const options = (contextPool: ContextPool): ContextMiddlewareOptions => ({
      contextPool,
      realm,
      metrics,
      onRejected: (event) => rejected.push(event),
      logger: createLogger({ level: 'warn', destination: { write: (line: string) => void logLines.push(line) } }),
    });

    beforeAll(async () => {
      fx = await createFixture();
      rejected = [];
      logLines = [];
      metrics = new MetricsRegistry();
      guard = createContextGuard(options(fx.contextPool));
      anonGuard = createContextGuard(options(fx.anonPool));
      server = await start(guard, routes);
      anonServer = await start(anonGuard, routes);
      tokenA = await fx.sign();
      tokenB = await fx.sign({ sub: SUB_B, tenant: 'tenant-b' });
    });

    afterAll(async () => {
      await server?.close();
      await anonServer?.close();
      await fx?.close();
    });

    describe('header handling [J-22]', () => {
      it('answers an empty Bearer with 401 invalid_token [J-22]', async () => {
        const res = await call(`${server.url}/notes`, { authorization: 'Bearer ' });
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${realm}", error="invalid_token"`);
        expectPlainError(res, 'PW320');
      });

      it('accepts a lower-case bearer scheme [J-22]', async () => {
        const res = await call(`${server.url}/notes`, { authorization: `bearer ${tokenA}` });
        expect(res.status).toBe(200);
        expect(res.json).toEqual([{ tenant: 'tenant-a', body: 'a1' }]);
      });

      it('does not read Basic credentials as a JWT: 401 with a bare challenge without an anonymous role [J-22]', async () => {
        const res = await call(`${server.url}/notes`, { authorization: 'Basic dXNlcjpwYXNzd29yZA==' });
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${realm}"`);
        expectPlainError(res, 'PW336');
      });

      it('runs Basic credentials as anonymous when an anonymous role is configured [J-22]', async () => {
        const res = await call(`${anonServer.url}/whoami`, { authorization: 'Basic dXNlcjpwYXNzd29yZA==' });
        expect(res.status).toBe(200);
        expect(res.json).toEqual({ role: 'pgw_anon', sub: null, tenant: null });
      });

      it('answers two credentials or a token with spaces with 400 invalid_request', async () => {
        for (const authorization of [
          `Bearer ${tokenA} extra`,
          `Bearer ${tokenA}, Basic eDp5`,
          `Basic eDp5, Bearer ${tokenA}`,
        ]) {
          const res = await call(`${server.url}/notes`, { authorization });
          expect(res.status, authorization).toBe(400);
          expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${realm}", error="invalid_request"`);
          expectPlainError(res, 'PW320');
        }
        const two = await twoAuthorizationHeaders(`${server.url}/notes`, [`Bearer ${tokenA}`, `Bearer ${tokenB}`]);
        expect(two).toEqual({ status: 400, challenge: `Bearer realm="${realm}", error="invalid_request"` });
      });
    });

    describe('no database work for bad tokens', () => {
      it('answers a bad signature with 401 at once while every connection is held [J-26]', async () => {
        const held = await fx.pool.connect();
        try {
          const forged = await fx.sign({}, { key: attacker.privateKey });
          const startedAt = Date.now();
          const res = await call(`${server.url}/notes`, { token: forged });
          expect(res.status).toBe(401);
          expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${realm}", error="invalid_token"`);
          expect(Date.now() - startedAt).toBeLessThan(1000);
        } finally {
          held.release();
        }
      });

      it('refuses alg=none tokens with 401 invalid_token, takes no connection and logs the event [J-01]', async () => {
        const claims = {
          sub: 'victim',
          role: 'authenticated',
          iss: issuer,
          aud: audience,
          exp: Math.floor(Date.now() / 1000) + 3600,
        };
        const headers: Record<string, unknown>[] = [
          { alg: 'none', typ: 'JWT' },
          { alg: 'None', typ: 'JWT' },
          { alg: 'NONE', typ: 'JWT' },
          { alg: 'nOnE', typ: 'JWT' },
          { typ: 'JWT' },
          { alg: '', typ: 'JWT' },
          { alg: null, typ: 'JWT' },
        ];
        const before = {
          stats: guard.stats(),
          total: fx.pool.totalCount,
          events: rejected.length,
          lines: logLines.length,
        };
        for (const header of headers) {
          const token = unsignedToken(header, claims);
          const res = await call(`${server.url}/notes?access=1`, { token });
          expect(res.status, JSON.stringify(header)).toBe(401);
          expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${realm}", error="invalid_token"`);
          expectPlainError(res, 'PW320');
          expect(res.text).not.toContain(token);
        }
        const after = guard.stats();
        expect(after.statements).toBe(before.stats.statements);
        expect(after.transactions.opened).toBe(before.stats.transactions.opened);
        expect(fx.pool.totalCount).toBe(before.total);
        const events = rejected.slice(before.events);
        expect(events).toHaveLength(headers.length);
        expect(events[0]).toEqual({
          kind: 'context.token_rejected',
          code: 'PW320',
          reason: expect.any(String) as string,
          status: 401,
          method: 'GET',
          path: '/notes',
          client: expect.stringMatching(/127\.0\.0\.1/) as string,
        });
        const lines = logLines.slice(before.lines).join('');
        expect(lines).toContain('"kind":"context.token_rejected"');
        expect(lines).not.toContain(b64(claims));
        expect(after.rejectedBy.PW320).toBeGreaterThanOrEqual(headers.length);
        expect(metrics.render()).toMatch(/pgwarden_context_rejected_total\{code="PW320",status="401"\} \d+/);
      });

      it('takes no connection for a handler that never queries', async () => {
        const before = guard.stats();
        const res = await call(`${server.url}/nodb`, { token: tokenA });
        expect(res.status).toBe(200);
        expect(guard.stats().statements).toBe(before.statements);
        expect(guard.stats().transactions.opened).toBe(before.transactions.opened);
      });
    });

    describe('authorisation claims', () => {
      it('refuses a role claim that is an array, an object or names postgres, naming no role [J-19]', async () => {
        for (const role of [['authenticated', 'service_role'], { $ne: null }, 'postgres', 'pgw_app_user']) {
          const res = await call(`${server.url}/notes`, { token: await fx.sign({ role }) });
          expect([401, 403], JSON.stringify(role)).toContain(res.status);
          expect(res.headers.get('www-authenticate')).toMatch(/error="(invalid_token|insufficient_scope)"/);
          expectPlainError(res);
          expect(res.text).not.toMatch(/postgres|service_role|pgw_|authenticated/);
        }
        const named = await call(`${server.url}/notes`, { token: await fx.sign({ role: 'postgres' }) });
        expect(named.status).toBe(403);
        expect(named.headers.get('www-authenticate')).toBe(`Bearer realm="${realm}", error="insufficient_scope"`);
      });

      it('refuses claims holding NUL with 401, without a stack trace or SQL [J-29]', async () => {
        for (const claims of [{ tenant: 'tenant-a\u0000' }, { sub: 'x\u0000' }, { roles: ['a\u0000'] }]) {
          const res = await call(`${server.url}/notes`, { token: await fx.sign(claims) });
          expect(res.status).toBe(401);
          expectPlainError(res, 'PW320');
        }
      });

      it("keeps a sub of x'); DROP TABLE notes;-- as plain data [J-29]", async () => {
        const sub = "x'); DROP TABLE notes;--";
        const res = await call(`${server.url}/notes/sub`, { token: await fx.sign({ sub }), body: {} });
        expect(res.status).toBe(201);
        expect(res.json).toEqual({ body: sub });
        const { rows } = await fx.admin.query('select count(*)::int as n from public.notes where body = $1', [sub]);
        expect(rows[0]).toEqual({ n: 1 });
      });
    });

    describe('tenants and anonymous access', () => {
      it('allows tenant A to read only its rows and denies inserting a row of tenant B', async () => {
        const res = await call(`${server.url}/notes`, { token: tokenA });
        expect(res.status).toBe(200);
        expect((res.json as { tenant: string }[]).every((r) => r.tenant === 'tenant-a')).toBe(true);
        const own = await call(`${server.url}/notes`, { token: tokenA, body: { body: `${framework}-a-own` } });
        expect(own.status).toBe(201);
        const other = await call(`${server.url}/notes`, {
          token: tokenA,
          body: { tenant: 'tenant-b', body: `${framework}-a-as-b` },
        });
        expect(other.status).toBe(403);
        expect(other.json).toEqual({ error: 'insufficient_privilege', code: '42501', message: 'permission denied' });
        expect(other.headers.get('www-authenticate')).toBeNull();
        const { rows } = await fx.admin.query('select tenant from public.notes where body like $1 order by 1', [
          `${framework}-a-%`,
        ]);
        expect(rows).toEqual([{ tenant: 'tenant-a' }]);
      });

      it('allows tenant B to read only its rows and denies inserting a row of tenant A', async () => {
        const res = await call(`${server.url}/notes`, { token: tokenB });
        expect(res.json).toEqual([{ tenant: 'tenant-b', body: 'b1' }]);
        const other = await call(`${server.url}/notes`, {
          token: tokenB,
          body: { tenant: 'tenant-a', body: `${framework}-b-as-a` },
        });
        expect(other.status).toBe(403);
      });

      it('denies a request without a token when no anonymous role is configured: 401 with a bare challenge', async () => {
        const res = await call(`${server.url}/notes`);
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${realm}"`);
        expect(res.json).toEqual({ error: 'unauthorized', code: 'PW336', message: 'a bearer token is required' });
      });

      it('runs a request without a token as the anonymous role, which sees nothing', async () => {
        const res = await call(`${anonServer.url}/notes`);
        expect(res.status).toBe(200);
        expect(res.json).toEqual([]);
      });

      it('keeps no identity on the pooled connection: A then B on a pool of one connection', async () => {
        expect(fx.pool.options.max).toBe(1);
        for (let i = 0; i < 3; i++) {
          const a = await call(`${server.url}/whoami`, { token: tokenA });
          const b = await call(`${server.url}/notes`, { token: tokenB });
          const anon = await call(`${anonServer.url}/whoami`);
          expect(a.json).toEqual({ role: 'pgw_app_user', sub: SUB_A, tenant: 'tenant-a' });
          expect(b.json).toEqual([{ tenant: 'tenant-b', body: 'b1' }]);
          expect(anon.json).toEqual({ role: 'pgw_anon', sub: null, tenant: null });
        }
      });
    });

    describe('sessions', () => {
      it('answers 401 invalid_token once the token session is revoked (PW331)', async () => {
        const { token, userId } = await fx.login();
        expect((await call(`${server.url}/whoami`, { token })).json).toMatchObject({ sub: userId });
        await fx.admin.query('select auth.revoke_sessions($1)', [userId]);
        const before = rejected.length;
        const res = await call(`${server.url}/whoami`, { token });
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${realm}", error="invalid_token"`);
        expectPlainError(res, 'PW331');
        expect(rejected.slice(before)).toMatchObject([{ code: 'PW331', reason: 'session-ended', path: '/whoami' }]);
        const write = await call(`${server.url}/notes`, { token, body: { body: `${framework}-revoked` } });
        expect(write.status).toBe(401);
        expect(await fx.busyBackends()).toEqual([]);
      });

      it("answers 401 asking for a refresh once the user's roles changed (PW332)", async () => {
        const { token, userId } = await fx.login();
        await fx.admin.query('update auth.users set authz_version = authz_version + 1 where id = $1', [userId]);
        const res = await call(`${server.url}/whoami`, { token });
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toBe(
          `Bearer realm="${realm}", error="invalid_token", error_description="the roles changed; refresh the token"`,
        );
        expectPlainError(res, 'PW332');
      });
    });

    describe('transaction lifetime [R-17]', () => {
      const count = async (body: string) =>
        (await fx.admin.query<{ n: number }>('select count(*)::int as n from public.notes where body = $1', [body]))
          .rows[0]!.n;

      it('commits before answering: a 201 write is visible to the next request', async () => {
        const res = await call(`${server.url}/notes`, { token: tokenA, body: { body: `${framework}-commit` } });
        expect(res.status).toBe(201);
        expect(await count(`${framework}-commit`)).toBe(1);
        const run = await call(`${server.url}/notes/run`, { token: tokenA, body: { body: `${framework}-run` } });
        expect(run.status).toBe(201);
        expect(await count(`${framework}-run`)).toBe(1);
      });

      it("answers 500, not the handler's 201, when the commit fails", async () => {
        const res = await call(`${server.url}/deferred`, { token: tokenA, body: { body: `${framework}-dup` } });
        expect(res.status).toBe(500);
        expectPlainError(res, 'PW000');
        const { rows } = await fx.admin.query('select count(*)::int as n from public.deferred');
        expect(rows[0]).toEqual({ n: 0 });
        expect(await fx.busyBackends()).toEqual([]);
        expect((await call(`${server.url}/whoami`, { token: tokenA })).status).toBe(200);
      });

      it('answers a handler that throws with a bare 500, leaves the connection idle, and serves the next request [R-17]', async () => {
        const res = await call(`${server.url}/throw`, { token: tokenA });
        expect(res.status).toBe(500);
        expect(res.json).toEqual({ error: 'server_error', code: 'PW000', message: 'internal error' });
        expectPlainError(res);
        expect(await fx.busyBackends()).toEqual([]);
        expect((await call(`${server.url}/whoami`, { token: tokenA })).status).toBe(200);
      });

      it('rolls back a write when the handler then throws [R-17]', async () => {
        const before = guard.stats().transactions.rolledBack;
        const res = await call(`${server.url}/notes/throw`, { token: tokenA, body: { body: `${framework}-thrown` } });
        expect(res.status).toBe(500);
        expectPlainError(res, 'PW000');
        expect(await count(`${framework}-thrown`)).toBe(0);
        expect(guard.stats().transactions.rolledBack).toBe(before + 1);
        expect(await fx.busyBackends()).toEqual([]);
        expect((await call(`${server.url}/notes`, { token: tokenA })).status).toBe(200);
      });

      it('rolls back a write when the handler answers 5xx, or calls rollback() and answers 4xx', async () => {
        const res = await call(`${server.url}/notes/503`, { token: tokenA, body: { body: `${framework}-503` } });
        expect(res.status).toBe(503);
        expect(await count(`${framework}-503`)).toBe(0);
        const back = await call(`${server.url}/notes/rollback`, { token: tokenA, body: { body: `${framework}-rb` } });
        expect(back.status).toBe(400);
        expect(await count(`${framework}-rb`)).toBe(0);
      });

      it('runs GET handlers read-only', async () => {
        const res = await call(`${server.url}/write`, { token: tokenA });
        expect(res.status).toBe(500);
        expectPlainError(res, 'PW000');
        expect(await count('from a GET')).toBe(0);
      });

      it('rolls back and releases the connection when the client disconnects mid-request', async () => {
        const controller = new AbortController();
        const pending = call(`${server.url}/notes/slow`, {
          token: tokenA,
          body: { body: `${framework}-gone` },
          signal: controller.signal,
        }).catch((err: unknown) => err);
        await new Promise((r) => setTimeout(r, 250));
        controller.abort();
        expect(await pending).toBeInstanceOf(Error);
        await until(async () => (await fx.busyBackends()).length === 0);
        expect(await count(`${framework}-gone`)).toBe(0);
        // The slow handler's own rollback finished too: the single connection serves again.
        await until(async () => (await call(`${server.url}/nodb`, { token: tokenA })).status === 200);
        expect((await call(`${server.url}/whoami`, { token: tokenA })).status).toBe(200);
        expect(await count(`${framework}-gone`)).toBe(0);
      });
    });
  });
}

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  bearerFromHeader,
  ContextGuard,
  ContextKey,
  ContextRejectedError,
  createContextPool,
  createTokenVerifier,
  type TokenRejectedEvent,
} from '../../src/context/index.js';
import { rejectionFor } from '../../src/context/middleware/rejection.js';
import { ErrorCodes, PgwardenError } from '../../src/errors/index.js';

// The framework-neutral core, without a database: the pools here point at a closed port, which
// proves that nothing in these paths ever connects.
const settings = { realm: 'api', retryAfterSeconds: 7 };
const info = { method: 'GET', path: '/x', client: '192.0.2.1' };

function refusal(header: string | string[] | undefined) {
  try {
    bearerFromHeader(header, settings);
  } catch (err) {
    if (err instanceof ContextRejectedError) return { status: err.status, ...err.headers, ...err.rejection.body };
    throw err;
  }
  throw new Error('expected a refusal');
}

function unreachablePool() {
  const pool = new pg.Pool({ host: '127.0.0.1', port: 1, connectionTimeoutMillis: 200 });
  pool.on('error', () => undefined);
  return pool;
}

describe('bearerFromHeader', () => {
  it('reads the token of a Bearer header, whatever the scheme case [J-22]', () => {
    expect(bearerFromHeader('Bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerFromHeader('bearer abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerFromHeader('BEARER   abc.def.ghi')).toBe('abc.def.ghi');
    expect(bearerFromHeader(['Bearer abc'])).toBe('abc');
  });

  it('treats no header and other schemes as no credentials [J-22]', () => {
    expect(bearerFromHeader(undefined)).toBeNull();
    expect(bearerFromHeader('')).toBeNull();
    expect(bearerFromHeader([])).toBeNull();
    expect(bearerFromHeader('Basic dXNlcjpwYXNz')).toBeNull();
    expect(bearerFromHeader('Digest username="a, b", realm="x"')).toBeNull();
    expect(bearerFromHeader('Bearerabc')).toBeNull();
  });

  it('answers an empty Bearer with 401 invalid_token [J-22]', () => {
    for (const header of ['Bearer', 'Bearer ', 'bearer    ']) {
      expect(refusal(header)).toMatchObject({
        status: 401,
        'WWW-Authenticate': 'Bearer realm="api", error="invalid_token"',
        code: 'PW320',
      });
    }
  });

  it('answers several credentials, several headers or a token with spaces with 400 invalid_request', () => {
    for (const header of ['Bearer a b', 'Bearer a,b', 'Bearer a, Basic b', 'Basic b, Bearer a', 'Bearer a\tb']) {
      expect(refusal(header), header).toMatchObject({
        status: 400,
        'WWW-Authenticate': 'Bearer realm="api", error="invalid_request"',
        error: 'invalid_request',
      });
    }
    expect(refusal(['Bearer a', 'Bearer b'])).toMatchObject({ status: 400, error: 'invalid_request' });
  });

  it('answers a token outside the b64token alphabet or over 8 KiB with 401 invalid_token', () => {
    expect(refusal('Bearer a"b')).toMatchObject({ status: 401, error: 'invalid_token' });
    expect(refusal(`Bearer ${'a'.repeat(9000)}`)).toMatchObject({ status: 401, error: 'invalid_token' });
  });
});

describe('rejectionFor', () => {
  const err = (code: PgwardenError['code'], detail?: string) => new PgwardenError(code, 'x', { detail });
  const row = (e: unknown) => {
    const r = rejectionFor(e, settings);
    return [
      r.status,
      r.body.error,
      r.body.code,
      r.headers['WWW-Authenticate'] ?? null,
      r.headers['Retry-After'] ?? null,
    ];
  };

  it('maps every context and token code to its status and challenge', () => {
    expect(row(err(ErrorCodes.JWT_INVALID, 'signature'))).toEqual([
      401,
      'invalid_token',
      'PW320',
      'Bearer realm="api", error="invalid_token"',
      null,
    ]);
    expect(row(err(ErrorCodes.JWT_KEYS_UNAVAILABLE))).toEqual([503, 'temporarily_unavailable', 'PW321', null, '7']);
    expect(row(err(ErrorCodes.JWT_CLAIMS_REFUSED, 'the role claim must be a string; http 401'))).toEqual([
      401,
      'invalid_token',
      'PW323',
      'Bearer realm="api", error="invalid_token"',
      null,
    ]);
    expect(row(err(ErrorCodes.JWT_CLAIMS_REFUSED, 'the role claim names a role; http 403'))).toEqual([
      403,
      'insufficient_scope',
      'PW323',
      'Bearer realm="api", error="insufficient_scope"',
      null,
    ]);
    expect(row(err(ErrorCodes.CONTEXT_TOKEN_REQUIRED))).toEqual([
      401,
      'unauthorized',
      'PW336',
      'Bearer realm="api"',
      null,
    ]);
    expect(row(err(ErrorCodes.CONTEXT_SESSION_ENDED))).toEqual([
      401,
      'invalid_token',
      'PW331',
      'Bearer realm="api", error="invalid_token"',
      null,
    ]);
    expect(row(err(ErrorCodes.CONTEXT_STALE_TOKEN))).toEqual([
      401,
      'invalid_token',
      'PW332',
      'Bearer realm="api", error="invalid_token", error_description="the roles changed; refresh the token"',
      null,
    ]);
    // PW333 is a deployment fault (an unsafe allowlisted role, a login that reaches a superuser):
    // a 500, never a credential refusal.
    for (const code of [
      ErrorCodes.CONTEXT_ROLE_REFUSED,
      ErrorCodes.CONTEXT_INVALID,
      ErrorCodes.CONTEXT_TRANSACTION_CONTROL,
      ErrorCodes.CONTEXT_CLOSED,
    ]) {
      expect(row(err(code))).toEqual([500, 'server_error', code, null, null]);
    }
  });

  it('answers 42501 with 403 and anything unknown with a bare 500', () => {
    const denied = Object.assign(new Error('new row violates row-level security policy for table "notes"'), {
      code: '42501',
      severity: 'ERROR',
    });
    expect(rejectionFor(denied, settings)).toMatchObject({
      status: 403,
      headers: {},
      body: { error: 'insufficient_privilege', code: '42501', message: 'permission denied' },
    });
    const secret = new Error('password authentication failed for user "app" at 10.0.0.5');
    expect(rejectionFor(secret, settings).body).toEqual({
      error: 'server_error',
      code: 'PW000',
      message: 'internal error',
    });
    expect(rejectionFor(err(ErrorCodes.DATABASE_ERROR), settings).body.code).toBe('PW000');
  });

  it("keeps a framework's own 4xx status, with its message only when it is meant for clients", () => {
    const parse = Object.assign(new Error('Unexpected token } in JSON at position 7'), { status: 400, expose: false });
    expect(rejectionFor(parse, settings)).toMatchObject({ status: 400, body: { message: 'bad request' } });
    const fst = Object.assign(new Error("body must have required property 'x'"), {
      statusCode: 400,
      code: 'FST_ERR_VALIDATION',
    });
    expect(rejectionFor(fst, settings).body).toEqual({
      error: 'invalid_request',
      code: 'FST_ERR_VALIDATION',
      message: "body must have required property 'x'",
    });
  });
});

describe('ContextGuard', () => {
  const key = new ContextKey(randomBytes(32));

  it('refuses a realm that would need escaping', () => {
    const contextPool = createContextPool({ pool: unreachablePool(), key });
    for (const realm of ['a"b', 'a\\b', 'é', '']) {
      expect(() => new ContextGuard({ contextPool, realm })).toThrow(expect.objectContaining({ code: 'PW335' }));
    }
  });

  it('answers 503 with Retry-After when the verification keys cannot be fetched, without a connection', async () => {
    const signer = generateKeyPairSync('ed25519');
    const verifier = createTokenVerifier({
      keys: { jwksUrl: 'http://127.0.0.1:1/jwks.json', timeoutMs: 1000 },
      issuer: 'https://issuer.test',
      audience: 'api',
    });
    const pool = unreachablePool();
    const events: TokenRejectedEvent[] = [];
    const guard = new ContextGuard({
      contextPool: createContextPool({ pool, key, verifier }),
      retryAfterSeconds: 3,
      onRejected: (e) => events.push(e),
    });
    const token = await new SignJWT({ sub: 'u1' })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'k1', typ: 'at+jwt' })
      .setIssuer('https://issuer.test')
      .setAudience('api')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(signer.privateKey);
    const admission = await guard.admit(`Bearer ${token}`, info);
    expect(admission).toMatchObject({
      ok: false,
      rejection: { status: 503, headers: { 'Retry-After': '3' }, body: { code: 'PW321' } },
    });
    expect(events).toEqual([]);
    expect(guard.stats().serverErrors).toBe(1);
    expect(pool.totalCount).toBe(0);
  });

  it('does not let a throwing hook turn a refusal into a failure', async () => {
    const guard = new ContextGuard({
      contextPool: createContextPool({ pool: unreachablePool(), key }),
      onRejected: () => {
        throw new Error('hook failed');
      },
    });
    const admission = await guard.admit(undefined, info);
    expect(admission).toMatchObject({ ok: false, rejection: { status: 401, body: { code: 'PW336' } } });
    expect(guard.stats().rejectedBy).toEqual({ PW336: 1 });
  });

  it('admits an anonymous request without touching the database until it queries', async () => {
    const pool = unreachablePool();
    const guard = new ContextGuard({
      contextPool: createContextPool({ pool, key, roles: { authenticated: 'pgw_app_user', anonymous: 'pgw_anon' } }),
    });
    const admission = await guard.admit('Basic dXNlcjpwYXNz', { ...info, method: 'POST' });
    if (!admission.ok) throw new Error('expected an admission');
    expect(admission.handle.identity).toMatchObject({ role: 'pgw_anon', sub: null });
    expect(admission.handle.readOnly).toBe(false);
    await admission.handle.end(true);
    expect(pool.totalCount).toBe(0);
    await expect(admission.handle.db.query('select 1')).rejects.toMatchObject({ code: 'PW337' });
    expect(guard.stats()).toMatchObject({ admitted: { anonymous: 1, token: 0 }, statements: 0 });
  });
});

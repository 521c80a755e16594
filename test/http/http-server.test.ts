import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCodes, PgwardenError } from '../../src/errors/index.js';
import {
  clientAddress,
  createHttpService,
  type HttpEvent,
  type HttpService,
  type HttpServiceOptions,
  MetricsRegistry,
  Router,
} from '../../src/http/index.js';

interface Started {
  url: string;
  port: number;
  service: HttpService;
  events: HttpEvent[];
  metrics: MetricsRegistry;
}

const running: HttpService[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

function appRouter(): Router {
  return new Router()
    .add('GET', '/users/:id', async (ctx) => ({
      status: 200,
      body: {
        id: ctx.params.id,
        q: ctx.query.get('q'),
        client: ctx.clientAddress,
        requestId: ctx.requestId,
        test: ctx.header('X-Test'),
      },
    }))
    .add('PUT', '/users/:id', async () => ({ status: 204 }))
    .add('POST', '/echo', async (ctx) => ({ status: 201, body: { got: await ctx.body() } }))
    .add('GET', '/boom', async () => {
      throw new Error('connection to db as admin:hunter2 failed');
    })
    .add('GET', '/teapot', async () => {
      throw new PgwardenError(ErrorCodes.AUTH_FORBIDDEN, 'you may not brew here', { detail: 'role: guest' });
    })
    .add('GET', '/db-down', async () => {
      throw new PgwardenError(ErrorCodes.CONNECTION_FAILED, 'could not reach db.internal:5432');
    });
}

async function start(options: Partial<HttpServiceOptions> = {}): Promise<Started> {
  const events: HttpEvent[] = [];
  const metrics = options.metrics ?? new MetricsRegistry();
  const service = createHttpService({
    router: appRouter(),
    port: 0,
    metrics,
    ready: async () => true,
    onEvent: (e) => events.push(e),
    ...options,
  });
  running.push(service);
  const { url, port } = await service.listen();
  return { url, port, service, events, metrics };
}

async function call(url: string, init?: RequestInit): Promise<{ status: number; headers: Headers; text: string }> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function postJson(body: string, contentType = 'application/json'): RequestInit {
  return { method: 'POST', body, headers: { 'content-type': contentType } };
}

/** A raw TCP client, for what fetch will not send: lying headers, pipelining, half-sent bodies. */
async function rawClient(
  port: number,
): Promise<{ socket: Socket; received: () => string; until: (re: RegExp) => Promise<string> }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let data = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (chunk: Buffer) => {
    data += chunk.toString('latin1');
    waiters.splice(0).forEach((w) => w());
  });
  socket.on('close', () => waiters.splice(0).forEach((w) => w()));
  socket.on('error', () => undefined);
  const until = async (re: RegExp, timeoutMs = 3_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(data)) {
      if (socket.destroyed) throw new Error(`connection closed; received: ${data}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${re} within ${timeoutMs} ms; received: ${data}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, left);
      });
    }
    return data;
  };
  return { socket, received: () => data, until };
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

function nested(depth: number): string {
  return '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);
}

describe('createHttpService: routing', () => {
  it('routes with params and query, with security headers and a request id', async () => {
    const { url, events } = await start();
    const res = await call(`${url}/users/a%2Fb?q=x`, { headers: { 'x-test': 'yes' } });
    expect(res.status).toBe(200);
    const body = JSON.parse(res.text) as Record<string, string>;
    expect(body).toMatchObject({ id: 'a/b', q: 'x', client: '127.0.0.1', test: 'yes' });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.requestId).toBe(res.headers.get('x-request-id'));
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(events).toContainEqual(
      expect.objectContaining({ kind: 'http-request', method: 'GET', route: '/users/:id', status: 200 }),
    );
  });

  it('answers 204 without a body', async () => {
    const { url } = await start();
    const res = await call(`${url}/users/1`, { method: 'PUT' });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
  });

  it('denies an unknown path with 404 PW052', async () => {
    const { url, events } = await start();
    const res = await call(`${url}/nope`);
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text)).toEqual({ error: { code: 'PW052', message: 'no such endpoint' } });
    expect(events).toContainEqual(expect.objectContaining({ kind: 'http-request', route: 'unmatched', status: 404 }));
  });

  it('denies a wrong method with 405 PW053 and Allow', async () => {
    const { url } = await start();
    const res = await call(`${url}/users/1`, { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD, PUT');
    expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'PW053' } });
    const live = await call(`${url}/live`, { method: 'POST' });
    expect(live.status).toBe(405);
    expect(live.headers.get('allow')).toBe('GET, HEAD');
  });

  it('maps a PgwardenError through statusFor and shows its message below 500', async () => {
    const { url } = await start({ statusFor: (code) => (code === ErrorCodes.AUTH_FORBIDDEN ? 403 : 500) });
    const res = await call(`${url}/teapot`);
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toEqual({
      error: { code: 'PW308', message: 'you may not brew here', detail: 'role: guest' },
    });
  });

  it('keeps the code but not the message of a mapped 5xx', async () => {
    const { url, events } = await start({ statusFor: (code) => (code === ErrorCodes.CONNECTION_FAILED ? 503 : 500) });
    const res = await call(`${url}/db-down`);
    expect(res.status).toBe(503);
    expect(res.text).not.toContain('db.internal');
    expect(JSON.parse(res.text)).toEqual({ error: { code: 'PW110', message: 'service unavailable' } });
    expect(events).toContainEqual(expect.objectContaining({ kind: 'http-error', code: 'PW110' }));
  });

  it('turns a thrown Error into a 500 that reveals nothing, and reports it as an http-error event', async () => {
    const { url, events } = await start();
    const res = await call(`${url}/boom`);
    expect(res.status).toBe(500);
    const requestId = res.headers.get('x-request-id');
    expect(JSON.parse(res.text)).toEqual({ error: { code: 'PW000', message: 'internal error', requestId } });
    expect(res.text).not.toMatch(/hunter2|admin|connection|Error|\s{4}at /);
    const reported = events.find((e) => e.kind === 'http-error');
    expect(reported).toMatchObject({ kind: 'http-error', code: 'PW000', requestId });
    expect((reported as { error: Error }).error.message).toContain('hunter2');
  });

  it('a PgwardenError with an unmapped code is a 500 too', async () => {
    const { url } = await start();
    const res = await call(`${url}/teapot`);
    expect(res.status).toBe(500);
    const requestId = res.headers.get('x-request-id');
    expect(JSON.parse(res.text)).toEqual({ error: { code: 'PW000', message: 'internal error', requestId } });
  });

  it('answers 500 when a handler returns what cannot be sent, without the headers it asked for', async () => {
    const router = appRouter()
      .add('GET', '/bigint', async () => ({ status: 200, body: { n: 1n }, headers: { 'X-Custom': 'yes' } }))
      .add('GET', '/bad-header', async () => ({
        status: 200,
        body: {},
        headers: { 'X-Custom': 'a\r\nSet-Cookie: x=1' },
      }))
      .add('GET', '/no-status', async () => ({ status: 100 }));
    const { url, events } = await start({ router });
    for (const path of ['/bigint', '/bad-header', '/no-status']) {
      const res = await call(`${url}${path}`);
      expect(res.status, path).toBe(500);
      expect(res.headers.get('x-custom')).toBeNull();
      expect(res.headers.get('set-cookie')).toBeNull();
      expect(res.headers.get('x-request-id')).not.toBeNull();
    }
    expect(events.filter((e) => e.kind === 'http-error')).toHaveLength(3);
  });

  it('answers HEAD with the GET handler and no body', async () => {
    const { url } = await start();
    const res = await call(`${url}/users/7`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    expect(Number(res.headers.get('content-length'))).toBeGreaterThan(0);
  });
});

describe('createHttpService: JSON bodies', () => {
  it('allows a JSON object body (charset optional)', async () => {
    const { url } = await start();
    const res = await call(`${url}/echo`, postJson('{"a":[1,{"b":null}]}', 'application/json; charset=UTF-8'));
    expect(res.status).toBe(201);
    expect(JSON.parse(res.text)).toEqual({ got: { a: [1, { b: null }] } });
  });

  it('denies another content type with 415 PW051', async () => {
    const { url } = await start();
    for (const type of ['text/plain', 'application/json; charset=latin1', 'application/jsonx']) {
      const res = await call(`${url}/echo`, postJson('{}', type));
      expect(res.status, type).toBe(415);
      expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'PW051' } });
    }
  });

  it('denies a body over the limit with 413 PW050 and closes the connection', async () => {
    const { url } = await start({ bodyLimitBytes: 1024 });
    const ok = await call(`${url}/echo`, postJson(JSON.stringify({ s: 'x'.repeat(1000) })));
    expect(ok.status).toBe(201);
    const res = await call(`${url}/echo`, postJson(JSON.stringify({ s: 'x'.repeat(1020) })));
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'PW050' } });
    expect(res.headers.get('connection')).toBe('close');
  });

  it('denies at once a Content-Length above the limit, without waiting for the body', async () => {
    const { port } = await start({ bodyLimitBytes: 1024 });
    const client = await rawClient(port);
    client.socket.write(
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n{"a":',
    );
    const text = await client.until(/\r\n\r\n\{.*\}\}/s);
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).toContain('"PW050"');
    client.socket.destroy();
  });

  it('denies a chunked body as soon as it passes the limit, before it ends', async () => {
    const { port } = await start({ bodyLimitBytes: 1024 });
    const client = await rawClient(port);
    const chunk = `{"s":"${'x'.repeat(2000)}`;
    client.socket.write(
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' +
        `${chunk.length.toString(16)}\r\n${chunk}\r\n`,
    );
    const text = await client.until(/\r\n\r\n\{.*\}\}/s);
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    client.socket.destroy();
  });

  it('denies invalid JSON with 400 PW051 without echoing the body', async () => {
    const { url } = await start();
    for (const body of ['{"token": "s3cr3t-value"', '[1,2]', '"s3cr3t-value"', 'null', '']) {
      const res = await call(`${url}/echo`, postJson(body));
      expect(res.status, body).toBe(400);
      expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'PW051' } });
      expect(res.text).not.toContain('s3cr3t');
    }
  });

  it('denies invalid UTF-8 with 400', async () => {
    const { url } = await start();
    const body = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]);
    const res = await call(`${url}/echo`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
  });

  it('allows nesting 32 deep and denies 33 with 400 PW051', async () => {
    const { url } = await start();
    expect((await call(`${url}/echo`, postJson(nested(32)))).status).toBe(201);
    const res = await call(`${url}/echo`, postJson(nested(33)));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'PW051', message: expect.stringContaining('32') } });
    const arrays = await call(`${url}/echo`, postJson(`{"a":${'['.repeat(40)}${']'.repeat(40)}}`));
    expect(arrays.status).toBe(400);
  });

  it('denies __proto__, constructor and prototype keys at any depth', async () => {
    const { url } = await start();
    for (const body of ['{"__proto__":{"admin":true}}', '{"a":[{"constructor":{}}]}', '{"a":{"prototype":1}}']) {
      const res = await call(`${url}/echo`, postJson(body));
      expect(res.status, body).toBe(400);
      expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'PW051' } });
    }
  });
});

describe('createHttpService: rate limiting', () => {
  it('denies with 429 PW054 and Retry-After once the bucket is empty; health routes stay exempt', async () => {
    const { url } = await start({ rateLimit: { perClient: { capacity: 2, refillPerSecond: 0.1 } } });
    expect((await call(`${url}/users/1`)).status).toBe(200);
    expect((await call(`${url}/nope`)).status).toBe(404);
    const res = await call(`${url}/users/1`);
    expect(res.status).toBe(429);
    expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'PW054' } });
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(9);
    expect((await call(`${url}/nope`)).status).toBe(429);
    for (const path of ['/live', '/ready', '/metrics']) expect((await call(`${url}${path}`)).status).toBe(200);
  });

  it('limits by the forwarded address when a proxy is trusted', async () => {
    const { url } = await start({ trustProxy: 1, rateLimit: { perClient: { capacity: 1, refillPerSecond: 0.01 } } });
    const from = (ip: string): RequestInit => ({ headers: { 'x-forwarded-for': `198.51.100.9, ${ip}` } });
    const first = await call(`${url}/users/1`, from('203.0.113.1'));
    expect(JSON.parse(first.text)).toMatchObject({ client: '203.0.113.1' });
    expect((await call(`${url}/users/1`, from('203.0.113.1'))).status).toBe(429);
    expect((await call(`${url}/users/1`, from('203.0.113.2'))).status).toBe(200);
  });
});

describe('createHttpService: /live /ready /metrics', () => {
  it('/live answers 200 ok', async () => {
    const { url } = await start({ ready: async () => false });
    const res = await call(`${url}/live`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ status: 'ok' });
  });

  it('/ready follows ready(): 200 when true, 503 when false, throwing or too slow', async () => {
    let answer: () => Promise<boolean> = async () => true;
    const { url, events } = await start({ ready: () => answer(), readyTimeoutMs: 100 });
    expect((await call(`${url}/ready`)).status).toBe(200);
    answer = async () => false;
    const notReady = await call(`${url}/ready`);
    expect(notReady.status).toBe(503);
    expect(JSON.parse(notReady.text)).toEqual({ status: 'not ready' });
    answer = async () => {
      throw new Error('pool exhausted');
    };
    expect((await call(`${url}/ready`)).status).toBe(503);
    expect(events).toContainEqual(expect.objectContaining({ kind: 'http-error', code: 'PW000' }));
    answer = () => new Promise(() => undefined);
    const started = Date.now();
    expect((await call(`${url}/ready`, { signal: AbortSignal.timeout(3_000) })).status).toBe(503);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('/metrics serves the registry, counting requests by route pattern', async () => {
    const { url } = await start();
    await call(`${url}/users/1`);
    await call(`${url}/users/2`);
    await call(`${url}/no/such/path`);
    const res = await call(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(res.text).toContain('# TYPE pgwarden_http_requests_total counter\n');
    expect(res.text).toContain('pgwarden_http_requests_total{route="/users/:id",method="GET",status="200"} 2\n');
    expect(res.text).toContain('pgwarden_http_requests_total{route="unmatched",method="GET",status="404"} 1\n');
    expect(res.text).not.toContain('/users/1');
    expect(res.text).toContain('pgwarden_http_request_duration_seconds_count{route="/users/:id",method="GET"} 2\n');
    expect(res.text).toMatch(
      /pgwarden_http_request_duration_seconds_bucket\{route="\/users\/:id",method="GET",le="\+Inf"\} 2\n/,
    );
  });

  it('sets the header, request and keep-alive timeouts', async () => {
    const { service } = await start({ headersTimeoutMs: 4_000, requestTimeoutMs: 8_000 });
    expect(service.server.headersTimeout).toBe(4_000);
    expect(service.server.requestTimeout).toBe(8_000);
    expect(service.server.keepAliveTimeout).toBe(5_000);
  });

  it('refuses request headers over 16 KiB with 431', async () => {
    const { url } = await start();
    const res = await call(`${url}/live`, { headers: { 'x-big': 'y'.repeat(17 * 1024) } });
    expect(res.status).toBe(431);
  });
});

describe('createHttpService: close', () => {
  it('lets an in-flight request finish while refusing new ones', async () => {
    const slow = gate();
    const entered = gate();
    const router = appRouter().add('GET', '/slow', async () => {
      entered.open();
      await slow.wait;
      return { status: 200, body: { done: true } };
    });
    const { url, service } = await start({ router });
    const inFlight = fetch(`${url}/slow`);
    await entered.wait;
    const closed = service.close();
    await expect(fetch(`${url}/live`)).rejects.toThrow();
    slow.open();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.headers.get('connection')).toBe('close');
    expect(await res.json()).toEqual({ done: true });
    await closed;
    expect(service.server.listening).toBe(false);
  });

  it('answers 503 PW055 with Connection: close to a request that arrives on an open connection while closing', async () => {
    const { port, service } = await start();
    const client = await rawClient(port);
    client.socket.write('GET /live HTTP/1.1\r\nHost: x\r\n\r\n');
    await client.until(/\{"status":"ok"\}/);
    // The connection is kept alive and a second request has begun when close() is called.
    client.socket.write('GET /users/1 HTTP/1.1\r\nHost: x\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closed = service.close();
    client.socket.write('\r\n');
    const text = await client.until(/PW055.*\}\}/s);
    const second = text.slice(text.lastIndexOf('HTTP/1.1 '));
    expect(second).toMatch(/^HTTP\/1\.1 503 /);
    expect(second).toMatch(/\r\nConnection: close\r\n/i);
    expect(second).toContain('"code":"PW055"');
    await closed;
  });

  it('cuts connections still busy after the shutdown timeout', async () => {
    const router = appRouter().add('GET', '/hang', () => new Promise(() => undefined));
    const { url, service } = await start({ router, shutdownTimeoutMs: 200 });
    const hung = fetch(`${url}/hang`).catch((err: unknown) => err);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('close() did not finish')), 3_000));
    await Promise.race([service.close(), timeout]);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await hung).toBeInstanceOf(Error);
  });
});

describe('clientAddress', () => {
  const req = (remoteAddress: string | undefined, xff?: string): IncomingMessage =>
    ({ socket: { remoteAddress }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as never;

  it('uses the socket peer unless proxies are trusted', () => {
    expect(clientAddress(req('10.0.0.1', '1.2.3.4'), { trustProxy: false })).toBe('10.0.0.1');
    expect(clientAddress(req('10.0.0.1', '1.2.3.4'), { trustProxy: 0 })).toBe('10.0.0.1');
  });

  it('takes the n-th forwarded address from the right', () => {
    const r = req('10.0.0.1', '6.6.6.6, 1.2.3.4, 10.0.0.2');
    expect(clientAddress(r, { trustProxy: 1 })).toBe('10.0.0.2');
    expect(clientAddress(r, { trustProxy: true })).toBe('10.0.0.2');
    expect(clientAddress(r, { trustProxy: 2 })).toBe('1.2.3.4');
    expect(clientAddress(r, { trustProxy: 3 })).toBe('6.6.6.6');
  });

  it('falls back to the socket peer for a missing, short or invalid header', () => {
    expect(clientAddress(req('10.0.0.1'), { trustProxy: 1 })).toBe('10.0.0.1');
    expect(clientAddress(req('10.0.0.1', '1.2.3.4'), { trustProxy: 2 })).toBe('10.0.0.1');
    expect(clientAddress(req('10.0.0.1', '1.2.3.4, not-an-ip'), { trustProxy: 1 })).toBe('10.0.0.1');
    expect(clientAddress(req('10.0.0.1', '1.2.3.4:80'), { trustProxy: 1 })).toBe('10.0.0.1');
    expect(clientAddress(req(undefined), { trustProxy: false })).toBe('unknown');
  });

  it('normalises IPv4-mapped IPv6 and the case of IPv6', () => {
    expect(clientAddress(req('::ffff:192.0.2.7'), { trustProxy: false })).toBe('192.0.2.7');
    expect(clientAddress(req('10.0.0.1', '::FFFF:198.51.100.1'), { trustProxy: 1 })).toBe('198.51.100.1');
    expect(clientAddress(req('10.0.0.1', '2001:DB8::1'), { trustProxy: 1 })).toBe('2001:db8::1');
  });
});

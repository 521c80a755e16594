// Attacks on pgwarden's own login API and on an API behind the request middleware, detected by
// the running monitor: credential stuffing, brute force, source spoofing, distributed brute
// force, spraying, success after failures, and forged tokens. The auth service runs as
// `pgwarden serve auth` runs it (startAuthServer), once trusting no proxy and once one proxy.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AuthServer, generateMasterKey, startAuthServer } from '../../../src/auth/index.js';
import { configSchema } from '../../../src/config/index.js';
import { type AttackCluster, createLogin, startAttackCluster } from './attack-cluster.js';
import type { Evidence, SecurityEventRow } from './monitor-probe.js';
import { type TokenApi, forgedTokens, startTokenApi } from './token-api.js';

const PW = 'amber-lantern-harbour-91';
const REPORTER_PW = 'reporter-login-e2e';
const masterKey = generateMasterKey();

let ac: AttackCluster;
let cwd: string;
/** trustProxy 0: the socket address is the client. */
let direct: AuthServer;
/** trustProxy 1: the last X-Forwarded-For entry (our proxy's) is the client. */
let proxied: AuthServer;
const users: Record<string, string> = {};

const email = (name: string) => `${name}@e2e.example`;

async function startAuth(trustProxy: number): Promise<AuthServer> {
  const config = configSchema.parse({
    auth: { masterKey, trustProxy, rateLimitPerMinute: 1_000_000, rateLimitBurst: 100_000, hashConcurrency: 2 },
  });
  return startAuthServer({ config, connection: ac.conn, cwd, port: 0, pruneEveryHours: 0 });
}

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'pgwarden-e2e-auth-'));
  ac = await startAttackCluster('e2e-auth', {
    prepare: async (c) => {
      await c.query(`${createLogin('token_reporter', REPORTER_PW)} in role pgw_security_admin`);
    },
  });
  direct = await startAuth(0);
  proxied = await startAuth(1);
  for (const name of ['m01', 'm14a', 'm14b', 'm02', 'm06a', 'm06b', 'hit1', 'hit2']) {
    const r = await direct.service.register({ email: email(name), password: PW, tenant: 'acme' });
    users[name] = r.userId!;
  }
}, 120_000);

afterAll(async () => {
  await direct?.close();
  await proxied?.close();
  await ac?.close();
  if (cwd) await rm(cwd, { recursive: true, force: true });
});

/** POST /login; resolves to the HTTP status. */
async function login(server: AuthServer, account: string, password: string, forwardedFor?: string): Promise<number> {
  const res = await fetch(`${server.url}/login`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'user-agent': 'e2e-attacker',
      ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}),
    },
    body: JSON.stringify({ email: account, password }),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Runs `attempts` with `parallel` in flight; each must be refused with 401. */
async function failAll(attempts: (() => Promise<number>)[], parallel = 4): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < attempts.length) {
      const attempt = attempts[next++]!;
      expect(await attempt()).toBe(401);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

const rowsOf = (evidence: Evidence[]): SecurityEventRow[] =>
  evidence
    .filter((e): e is Extract<Evidence, { kind: 'security-event' }> => e.kind === 'security-event')
    .map((e) => e.row);

const failures = new Set(['auth.login_failed', 'auth.login_throttled']);

describe('credential stuffing [M-05]', () => {
  // Runs first: the stuffing rule counts distinct accounts over every source, so its boundary
  // is only exact before other tests add failures.
  const addresses = Array.from({ length: 12 }, (_, i) => `100.64.${i + 1}.7`);
  const pair = (n: number) => () =>
    login(proxied, email(`stuffed-${n}`), `leaked-pass-${n}`, addresses[n % addresses.length]);

  it('raises nothing for 99 leaked pairs, one stuffing alert at the 100th account, and a compromise alert per hit [M-05]', async () => {
    await failAll(Array.from({ length: 99 }, (_, n) => pair(n)));
    await ac.probe.settle();
    expect(await ac.probe.alerts('pg-credential-stuffing')).toEqual([]);

    await failAll(Array.from({ length: 21 }, (_, n) => pair(99 + n)));
    expect(await login(proxied, email('hit1'), PW, addresses[0])).toBe(200);
    expect(await login(proxied, email('hit2'), PW, addresses[1])).toBe(200);
    const stuffing = await ac.probe.waitForAlert('pg-credential-stuffing', {}, { minEvents: 100 });
    await ac.probe.settle();
    expect(await ac.probe.alerts('pg-credential-stuffing')).toHaveLength(1);
    expect(stuffing.summary).toMatch(/failed logins for 100 accounts from 12 addresses/);
    const rows = rowsOf(await ac.probe.evidence(stuffing.evidence));
    expect(rows.length).toBeGreaterThanOrEqual(50);
    for (const r of rows) {
      expect(r).toMatchObject({ event_type: 'auth.login_failed', details: { reason: 'unknown_user' } });
      expect(addresses).toContain(r.source_addr);
    }
    for (const [hit, addr] of [
      ['hit1', addresses[0]!],
      ['hit2', addresses[1]!],
    ] as const) {
      const alert = await ac.probe.waitForAlert('pg-success-from-attacking-address', { user: users[hit]!, addr });
      const succeeded = rowsOf(await ac.probe.evidence(alert.evidence)).find(
        (r) => r.event_type === 'auth.login_succeeded',
      );
      expect(succeeded).toMatchObject({ subject: users[hit], source_addr: addr });
    }
    const everything = JSON.stringify(await ac.sql('select * from monitor.alerts'));
    expect(everything).not.toMatch(/leaked-pass-|amber-lantern/);
  });
});

describe('brute force through the auth API [M-01]', () => {
  it('raises nothing for 9 wrong passwords, then one pg-brute-force alert for the account and 127.0.0.1 at the 10th [M-01]', async () => {
    await failAll(
      Array.from({ length: 9 }, () => () => login(direct, email('m01'), 'guess-1234')),
      1,
    );
    await ac.probe.settle();
    expect(await ac.probe.alerts('pg-brute-force', { user: users.m01! })).toEqual([]);
    await failAll([() => login(direct, email('m01'), 'guess-1234')], 1);
    const alert = await ac.probe.waitForAlert('pg-brute-force', { user: users.m01!, addr: '127.0.0.1' });
    await ac.probe.settle();
    expect(await ac.probe.alerts('pg-brute-force', { user: users.m01! })).toHaveLength(1);
    expect(alert.eventCount).toBe(10);
    const rows = rowsOf(await ac.probe.evidence(alert.evidence));
    expect(rows).toHaveLength(10);
    for (const r of rows) {
      expect(failures.has(r.event_type)).toBe(true);
      expect(r).toMatchObject({ subject: users.m01, source_addr: '127.0.0.1' });
    }
  });
});

describe('source spoofing with X-Forwarded-For [M-14]', () => {
  it('ignores X-Forwarded-For without a trusted proxy: the alert names the socket address, and rotating the header evades nothing [M-14]', async () => {
    const spoofed = Array.from({ length: 10 }, (_, i) => `203.0.113.${70 + i}`);
    expect(spoofed).toContain('203.0.113.77');
    await failAll(
      spoofed.map((xff) => () => login(direct, email('m14a'), 'guess-1234', xff)),
      1,
    );
    const alert = await ac.probe.waitForAlert('pg-brute-force', { user: users.m14a! });
    await ac.probe.settle();
    expect(await ac.probe.alerts('pg-brute-force', { user: users.m14a! })).toHaveLength(1);
    expect(alert).toMatchObject({ group: { user: users.m14a, addr: '127.0.0.1' }, eventCount: 10 });
    for (const r of rowsOf(await ac.probe.evidence(alert.evidence))) expect(r.source_addr).toBe('127.0.0.1');
    const stored = await ac.sql<{ n: number }>(
      'select count(*)::int as n from logs.notification_log where pg_catalog.host(source_addr) = any($1::text[])',
      [spoofed],
    );
    expect(stored).toEqual([{ n: 0 }]);
    const alerts = JSON.stringify(await ac.sql('select group_values, summary, evidence from monitor.alerts'));
    for (const addr of spoofed) expect(alerts).not.toContain(`"${addr}"`);
  });

  it('uses the forwarded address behind a trusted proxy (trustProxy 1) [M-14]', async () => {
    await failAll(
      Array.from({ length: 10 }, () => () => login(proxied, email('m14b'), 'guess-1234', '203.0.113.77')),
      1,
    );
    const alert = await ac.probe.waitForAlert('pg-brute-force', { user: users.m14b!, addr: '203.0.113.77' });
    for (const r of rowsOf(await ac.probe.evidence(alert.evidence))) {
      expect(r).toMatchObject({ source_addr: '203.0.113.77', client_addr: '127.0.0.1' });
    }
  });
});

describe('distributed brute force [M-02]', () => {
  it('raises nothing for 9 failures from 9 addresses, then one alert keyed by the account at the 10th [M-02]', async () => {
    const from = (i: number) => () => login(proxied, email('m02'), `guess-${i}`, `203.0.113.${101 + i}`);
    await failAll(
      Array.from({ length: 9 }, (_, i) => from(i)),
      1,
    );
    await ac.probe.settle();
    expect(await ac.probe.alerts('pg-distributed-brute-force', { user: users.m02! })).toEqual([]);
    await failAll([from(9)], 1);
    const alert = await ac.probe.waitForAlert('pg-distributed-brute-force', { user: users.m02! });
    expect(alert.group).toEqual({ user: users.m02 });
    expect(alert.summary).toContain('from 10 addresses');
    const rows = rowsOf(await ac.probe.evidence(alert.evidence));
    expect(new Set(rows.map((r) => r.source_addr)).size).toBe(10);
    await ac.probe.settle();
    expect(await ac.probe.alerts('pg-brute-force', { user: users.m02! })).toEqual([]);
  });
});

describe('password spraying [M-03]', () => {
  it('raises nothing for 10 usernames from one address, then one spray alert at the 11th [M-03]', async () => {
    const addr = '198.51.100.33';
    const spray = (n: number) => () => login(proxied, email(`sprayed-${n}`), 'Winter2025!', addr);
    // One or two attempts per username, as a spray does.
    await failAll([...Array.from({ length: 10 }, (_, n) => spray(n)), spray(0), spray(3)], 1);
    await ac.probe.settle();
    expect(await ac.probe.alerts('pg-password-spray', { addr })).toEqual([]);
    await failAll([spray(10)], 1);
    const alert = await ac.probe.waitForAlert('pg-password-spray', { addr });
    expect(alert.group).toEqual({ addr });
    expect(alert.summary).toMatch(/failed logins for 11 accounts from 198\.51\.100\.33/);
    const rows = rowsOf(await ac.probe.evidence(alert.evidence));
    expect(new Set(rows.map((r) => (r.details as { account?: string }).account)).size).toBe(11);
    await ac.probe.settle();
    expect(await ac.probe.alerts('pg-password-spray-block', { addrBlock: '198.51.100.0/24' })).toEqual([]);
  });
});

describe('success after failures [M-06]', () => {
  const notices = (user: string) =>
    ac.sql<{ details: { failures: number }; source_addr: string }>(
      `select details, pg_catalog.host(source_addr) as source_addr from logs.notification_log
        where event_type = 'auth.success_after_failures' and subject = $1`,
      [user],
    );

  it('raises POSSIBLE_ACCOUNT_COMPROMISE for a login after 5 failures and tells the user [M-06]', async () => {
    const addr = '198.51.100.66';
    await failAll(
      Array.from({ length: 5 }, () => () => login(proxied, email('m06a'), 'guess-1234', addr)),
      1,
    );
    // The fifth failure sets a 1 s delay (auth.policy delay_after = 5) before this pair may try again.
    await sleep(1_500);
    expect(await login(proxied, email('m06a'), PW, addr)).toBe(200);
    const alert = await ac.probe.waitForAlert('pg-account-compromise', { user: users.m06a! });
    expect(alert.summary).toContain('POSSIBLE_ACCOUNT_COMPROMISE');
    const types = rowsOf(await ac.probe.evidence(alert.evidence)).map((r) => r.event_type);
    expect(types).toContain('auth.login_succeeded');
    expect(await notices(users.m06a!)).toEqual([{ details: { failures: 5 }, source_addr: addr }]);
  });

  it('raises nothing for a login after 4 failures, and still tells the user [M-06]', async () => {
    const addr = '198.51.100.67';
    await failAll(
      Array.from({ length: 4 }, () => () => login(proxied, email('m06b'), 'guess-1234', addr)),
      1,
    );
    expect(await login(proxied, email('m06b'), PW, addr)).toBe(200);
    await ac.probe.settle();
    expect(await ac.probe.alerts('pg-account-compromise', { user: users.m06b! })).toEqual([]);
    expect(await notices(users.m06b!)).toEqual([{ details: { failures: 4 }, source_addr: addr }]);
  });
});

describe('token forgery against an API behind the request middleware [M-11]', () => {
  let api: TokenApi;
  beforeAll(async () => {
    api = await startTokenApi({
      masterKey,
      connection: ac.conn,
      reporterConnection: { ...ac.conn, user: 'token_reporter', password: REPORTER_PW },
    });
  });
  afterAll(async () => {
    await api?.close();
  });

  it('raises nothing for an expired token and 19 forged ones, then one TOKEN_FORGERY alert at the 20th [M-11]', async () => {
    const tokens = await forgedTokens(api, 20);
    expect(await api.call(api.directUrl, await api.expiredToken())).toBe(401);
    for (const token of tokens.slice(0, 19)) expect(await api.call(api.directUrl, token)).toBe(401);
    await api.reporter.flush();
    await ac.probe.settle();
    expect(await ac.probe.alerts('pg-token-forgery')).toEqual([]);

    expect(await api.call(api.directUrl, tokens[19]!)).toBe(401);
    await api.reporter.flush();
    const alert = await ac.probe.waitForAlert('pg-token-forgery', { addr: '127.0.0.1' });
    expect(alert.eventCount).toBe(20);
    expect(alert.summary).toContain('TOKEN_FORGERY');
    const rows = rowsOf(await ac.probe.evidence(alert.evidence));
    expect(rows).toHaveLength(20);
    expect(new Set(rows.map((r) => (r.details as { reason: string }).reason))).toEqual(
      new Set(['algorithm', 'signature', 'audience']),
    );
    for (const r of rows)
      expect(r).toMatchObject({ event_type: 'context.token_rejected', details: { addr: '127.0.0.1' } });
    const stored = JSON.stringify([rows, await ac.sql('select * from monitor.alerts')]);
    for (const token of tokens) expect(stored).not.toContain(token.split('.')[1]!);
  });

  it('records the address the application saw behind its proxy in details.addr [M-11]', async () => {
    const tokens = await forgedTokens(api, 20);
    for (const token of tokens) expect(await api.call(api.proxiedUrl, token, '198.51.100.200')).toBe(401);
    await api.reporter.flush();
    const stored = await ac.sql<{ n: number }>(
      `select count(*)::int as n from logs.notification_log
        where event_type = 'context.token_rejected' and details ->> 'addr' = '198.51.100.200'`,
    );
    expect(stored).toEqual([{ n: 20 }]);
  });

  it('keys the TOKEN_FORGERY alert by the address the application saw [M-11, M-14]', async () => {
    await ac.probe.settle();
    expect(await ac.probe.alerts('pg-token-forgery', { addr: '198.51.100.200' })).toHaveLength(1);
  });
});

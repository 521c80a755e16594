// The token-rejection reporter against a real database: what it writes for each refused
// credential (never the token), the cap that bounds writes under a flood, and its failures.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenRejectedEvent } from '../../../src/context/index.js';
import { quoteIdent, withClient } from '../../../src/db/client.js';
import { isPgwardenError, type PgwardenError } from '../../../src/errors/index.js';
import { createTokenRejectionReporter, TOKEN_REJECTIONS_DROPPED } from '../../../src/monitor/reporters/index.js';
import { adminConnection, installedDatabase, uniquePrefix } from '../../helpers/db.js';
import type { ConnectionConfig } from '../../../src/db/client.js';

let db: ConnectionConfig;
let reporterLogin: ConnectionConfig;
let plainLogin: ConnectionConfig;
const prefix = uniquePrefix();

beforeAll(async () => {
  db = await installedDatabase();
  const password = 'reporter-e2e-pw';
  await withClient(adminConnection(), async (c) => {
    await c.query(
      `create role ${quoteIdent(`${prefix}reporter`)} login password '${password}' in role pgw_security_admin`,
    );
    await c.query(`create role ${quoteIdent(`${prefix}plain`)} login password '${password}'`);
  });
  reporterLogin = { ...db, user: `${prefix}reporter`, password };
  plainLogin = { ...db, user: `${prefix}plain`, password };
});

afterAll(async () => {
  await withClient(adminConnection(), async (c) => {
    await c.query(`drop role if exists ${quoteIdent(`${prefix}reporter`)}`);
    await c.query(`drop role if exists ${quoteIdent(`${prefix}plain`)}`);
  });
});

const JWT = 'eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ2aWN0aW0iLCJyb2xlIjoiYWRtaW4ifQ.';

const rejection = (over: Partial<TokenRejectedEvent> = {}): TokenRejectedEvent => ({
  kind: 'context.token_rejected',
  code: 'PW320',
  reason: 'signature',
  status: 401,
  method: 'GET',
  path: '/invoices',
  client: '::ffff:203.0.113.9',
  ...over,
});

const rowsOf = (type: string) =>
  withClient(db, async (c) => {
    const { rows } = await c.query<{ details: Record<string, unknown>; db_user: string; source_addr: string | null }>(
      `select details, db_user, pg_catalog.host(source_addr) as source_addr
         from logs.notification_log where event_type = $1 order by id`,
      [type],
    );
    return rows;
  });

describe('createTokenRejectionReporter', () => {
  it('writes one context.token_rejected event per refusal, with the client address and no token [M-11]', async () => {
    const reporter = createTokenRejectionReporter({ connection: reporterLogin, flushIntervalMs: 60_000 });
    reporter.report(rejection());
    reporter.report(rejection({ reason: 'algorithm', path: `/reset/${JWT}`, client: '2001:DB8::7' }));
    reporter.report(rejection({ reason: 'audience', client: 'unknown', code: 'PW323', status: 403 }));
    await reporter.close();
    const rows = await rowsOf('context.token_rejected');
    expect(rows.map((r) => r.details)).toEqual([
      { reason: 'signature', code: 'PW320', status: 401, method: 'GET', path: '/invoices', addr: '203.0.113.9' },
      {
        reason: 'algorithm',
        code: 'PW320',
        status: 401,
        method: 'GET',
        path: '/reset/[redacted]',
        addr: '2001:db8::7',
      },
      { reason: 'audience', code: 'PW323', status: 403, method: 'GET', path: '/invoices' },
    ]);
    expect(rows.every((r) => r.db_user === reporterLogin.user)).toBe(true);
    // The address the application saw is the event's source address, which the monitor groups by.
    expect(rows.map((r) => r.source_addr)).toEqual(['203.0.113.9', '2001:db8::7', null]);
    expect(JSON.stringify(rows)).not.toContain('eyJ');
    expect(reporter.stats()).toEqual({ reported: 3, written: 3, dropped: 0, failed: 0 });
  });

  it('writes at most maxPerFlush events per flush and one summary with the dropped count [M-12]', async () => {
    const reporter = createTokenRejectionReporter({
      connection: reporterLogin,
      flushIntervalMs: 60_000,
      maxPerFlush: 10,
    });
    const before = (await rowsOf('context.token_rejected')).length;
    for (let i = 0; i < 500; i++) {
      reporter.report(rejection({ reason: i % 2 ? 'signature' : 'algorithm', client: `198.51.100.${i % 25}` }));
    }
    await reporter.flush();
    expect((await rowsOf('context.token_rejected')).length - before).toBe(10);
    const [summary, ...more] = await rowsOf(TOKEN_REJECTIONS_DROPPED);
    expect(more).toEqual([]);
    expect(summary!.details).toMatchObject({ dropped: 490, interval_ms: 60_000 });
    expect(JSON.parse(summary!.details.reasons as string)).toEqual({ signature: 245, algorithm: 245 });
    const addrs = JSON.parse(summary!.details.addrs as string) as Record<string, number>;
    expect(Object.keys(addrs)).toHaveLength(21);
    expect(Object.values(addrs).reduce((a, b) => a + b, 0)).toBe(490);
    // The next interval starts from zero: no second summary for an interval under the cap.
    reporter.report(rejection());
    await reporter.close();
    expect(await rowsOf(TOKEN_REJECTIONS_DROPPED)).toHaveLength(1);
    expect(reporter.stats()).toEqual({ reported: 501, written: 11, dropped: 490, failed: 0 });
  });

  it('flushes on its own every flushIntervalMs', async () => {
    const reporter = createTokenRejectionReporter({ connection: reporterLogin, flushIntervalMs: 50 });
    const before = (await rowsOf('context.token_rejected')).length;
    reporter.report(rejection({ path: '/timer' }));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && reporter.stats().written === 0) await new Promise((r) => setTimeout(r, 20));
    expect((await rowsOf('context.token_rejected')).length - before).toBe(1);
    await reporter.close();
  });

  it('reports a login without security_admin through onError and never throws into the request path', async () => {
    const errors: PgwardenError[] = [];
    const reporter = createTokenRejectionReporter({
      connection: plainLogin,
      flushIntervalMs: 60_000,
      onError: (e) => errors.push(e),
    });
    expect(() => reporter.report(rejection())).not.toThrow();
    await reporter.close();
    expect(errors).toHaveLength(1);
    expect(isPgwardenError(errors[0], 'PW603')).toBe(true);
    expect(errors[0]!.hint).toContain('security_admin');
    expect(reporter.stats()).toMatchObject({ reported: 1, written: 0, failed: 1 });
    expect(() => reporter.report(rejection())).not.toThrow();
  });

  it('refuses options outside their bounds with PW335', () => {
    for (const bad of [{ flushIntervalMs: 10 }, { maxPerFlush: 0 }, { maxPerFlush: 1.5 }]) {
      const error: unknown = (() => {
        try {
          createTokenRejectionReporter({ connection: reporterLogin, ...bad });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(isPgwardenError(error, 'PW335'), JSON.stringify(bad)).toBe(true);
    }
  });
});

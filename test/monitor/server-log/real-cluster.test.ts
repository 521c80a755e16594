import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClient } from '../../../src/db/client.js';
import { isPgwardenError } from '../../../src/errors/index.js';
import { memoryPositionStore, type UntimedEvent } from '../../../src/monitor/event.js';
import { type LogFormat, RemoteLogReader } from '../../../src/monitor/sources/server-log/index.js';
import { type LoggingCluster, prependHba, startLoggingCluster, tailUntil, until } from './logging-cluster.js';

// One cluster of this file's own, logging in all three formats with the recommended settings;
// real logins and statements through `pg` make the records.
let env: LoggingCluster;
let pgaudit = false;
const END_MARKER = 'end_of_traffic_marker';
const formats: LogFormat[] = ['jsonlog', 'csvlog', 'stderr'];
const byFormat = new Map<LogFormat, UntimedEvent[]>();

const attempt = async (user: string, password: string, run?: (c: pg.Client) => Promise<void>) => {
  const client = new pg.Client({ ...env.conn, user, password, application_name: 'probe app' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await run?.(client);
  } catch {
    // Failed logins are the point.
  } finally {
    await client.end().catch(() => undefined);
  }
};
const tryAll = (client: pg.Client, statements: string[]) =>
  statements.reduce(
    (p, s) =>
      p.then(() =>
        client.query(s).then(
          () => undefined,
          () => undefined,
        ),
      ),
    Promise.resolve(),
  );

async function driveTraffic(): Promise<void> {
  await prependHba(env, 'host all rejected_user 127.0.0.1/32 reject');
  await withClient(env.conn, async (c) => {
    pgaudit = (await c.query(`select 1 from pg_catalog.pg_settings where name = 'pgaudit.log'`)).rowCount === 1;
    if (pgaudit) {
      await c.query(`alter system set pgaudit.log = 'role'`);
      await c.query('select pg_catalog.pg_reload_conf()');
    }
    await c.query(`create role alice login password 'right-pw'`);
    await c.query(`create role rejected_user login password 'whatever'`);
    await c.query(`create table public.t (id int, owner text)`);
    await c.query(`alter table public.t enable row level security`);
    await c.query(`create policy own on public.t using (owner = current_user) with check (owner = current_user)`);
    await c.query(`grant select, insert on public.t to alice`);
  });
  for (let i = 0; i < 3; i++) await attempt('alice', 'wrong-pw');
  await attempt('ghost', 'wrong-pw');
  await attempt('rejected_user', 'whatever');
  await attempt('alice', 'right-pw', (c) =>
    tryAll(c, [
      'selec 1',
      'set role postgres',
      "insert into public.t values (1, 'bob')",
      'select * from pg_catalog.pg_authid',
      "copy public.t to program 'id'",
    ]),
  );
  await withClient(env.conn, (c) =>
    tryAll(c as pg.Client, [
      `alter role alice password 'hunter2'`,
      `alter role alice bypassrls`,
      `select * from ${END_MARKER}`,
    ]),
  );
}

/** Events of a fresh tailer on `format`, read until the end marker showed up. */
function tail(format: LogFormat): Promise<UntimedEvent[]> {
  return tailUntil(env.logDir, format, (events) => events.some((e) => e.message?.includes(END_MARKER)));
}

/** What the formats must agree on, for the events of the traffic (client sessions). */
const shape = (e: UntimedEvent) => ({
  type: e.type,
  user: e.user,
  addr: e.addr,
  sqlstate: e.sqlstate,
  category: e.fields.category,
  statement: e.statement,
});
/** The client-session events up to the end marker (tailers stop at different points after it). */
const traffic = (events: UntimedEvent[]) => {
  const end = events.findIndex((e) => e.message?.includes(END_MARKER));
  return events
    .slice(0, end + 1)
    .filter((e) => e.addr !== undefined)
    .map(shape);
};

beforeAll(async () => {
  env = await startLoggingCluster('srvlog');
  await driveTraffic();
  for (const format of formats) byFormat.set(format, await tail(format));
}, 120_000);
afterAll(async () => {
  await env?.own.remove();
});

describe('the server-log source on a real server', () => {
  it('reads the same classified events from jsonlog, csvlog and stderr', () => {
    const [json, csv, stderr] = formats.map((f) => traffic(byFormat.get(f) ?? []));
    expect(json!.length).toBeGreaterThan(20);
    expect(csv).toEqual(json);
    expect(stderr).toEqual(json);
  });

  it.each(formats)(
    'classifies failed and refused logins and the probes of a logged-in user in %s [M-01, M-10]',
    (f) => {
      const events = byFormat.get(f) ?? [];
      const failed = events.filter((e) => e.type === 'pg.auth_failed');
      expect(failed.map((e) => [e.user, e.addr, e.addrBlock, e.sqlstate])).toEqual([
        ['alice', '127.0.0.1', '127.0.0.0/24', '28P01'],
        ['alice', '127.0.0.1', '127.0.0.0/24', '28P01'],
        ['alice', '127.0.0.1', '127.0.0.0/24', '28P01'],
        ['ghost', '127.0.0.1', '127.0.0.0/24', '28P01'],
      ]);
      expect(failed[3]?.fields.reason).toBe('unknown_role');
      expect(events.find((e) => e.type === 'pg.auth_rejected')).toMatchObject({
        user: 'rejected_user',
        sqlstate: '28000',
        fields: { reason: 'hba_reject' },
      });
      expect(events.find((e) => e.type === 'pg.login' && e.user === 'alice')?.fields).toMatchObject({
        ssl: false,
        application: 'probe app',
      });
      const aliceErrors = events.filter((e) => e.type === 'pg.error' && e.user === 'alice');
      expect(aliceErrors.map((e) => e.fields.category)).toEqual([
        'syntax_probe',
        'set_role_denied',
        'rls_violation',
        'catalog_probe',
        'copy_program',
      ]);
      expect(events.some((e) => e.type === 'pg.disconnect' && e.user === 'alice')).toBe(true);
    },
  );

  it.each(formats)('flags ALTER ROLE … BYPASSRLS and never reveals the logged password in %s [M-07, M-12]', (f) => {
    const events = byFormat.get(f) ?? [];
    expect(events.find((e) => e.statement === 'alter role alice bypassrls')?.fields.category).toBe('privilege_change');
    const masked = events.find((e) => e.statement?.startsWith('alter role alice password'));
    expect(masked?.statement).toBe(`alter role alice password '[redacted]'`);
    expect(JSON.stringify(events)).not.toContain('hunter2');
  });

  it('reads pgaudit ROLE lines as pg.audit privilege changes (where pgaudit is installed) [M-07]', (ctx) => {
    if (!pgaudit) ctx.skip();
    const audit = (byFormat.get('csvlog') ?? []).filter((e) => e.type === 'pg.audit');
    expect(audit.find((e) => e.fields.command === 'ALTER ROLE' && e.statement?.includes('bypassrls'))).toMatchObject({
      fields: { auditClass: 'ROLE', category: 'privilege_change' },
    });
  });
});

describe('RemoteLogReader', () => {
  const read = async (user: string, password: string) => {
    const events: UntimedEvent[] = [];
    const reader = new RemoteLogReader({
      connection: { ...env.conn, user, password },
      format: 'csvlog',
      positions: memoryPositionStore(),
      startAt: 'beginning',
      maxBytesPerPoll: 64 * 1024,
      onEvents: async (batch) => {
        events.push(...batch);
      },
    });
    try {
      await reader.checkAccess();
      const done = () => events.some((e) => e.message?.includes(END_MARKER));
      expect(await until(async () => (await reader.poll(), done()))).toBe(true);
    } finally {
      await reader.close();
    }
    return events;
  };

  it('reads the same events over SQL as the tailer reads from the files', async () => {
    const remote = await read(env.conn.user, env.conn.password);
    const local = byFormat.get('csvlog') ?? [];
    expect(traffic(remote)).toEqual(traffic(local));
    expect(remote[0]?.id).toMatch(/^log:postgresql-.*\.csv:0$/);
  });

  it('resumes from its saved position over SQL without repeating or losing a record', async () => {
    const positions = memoryPositionStore();
    const events: UntimedEvent[] = [];
    const reader = () =>
      new RemoteLogReader({
        connection: env.conn,
        format: 'jsonlog',
        positions,
        startAt: 'beginning',
        maxBytesPerPoll: 2048,
        onEvents: async (batch) => {
          events.push(...batch);
        },
      });
    const first = reader();
    await first.poll();
    await first.poll();
    await first.close();
    const read = events.length;
    expect(read).toBeGreaterThan(0);
    const second = reader();
    try {
      expect(await until(async () => (await second.poll(), events.some((e) => e.message?.includes(END_MARKER))))).toBe(
        true,
      );
    } finally {
      await second.close();
    }
    expect(events.length).toBeGreaterThan(read);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(traffic(events)).toEqual(traffic(byFormat.get('jsonlog') ?? []));
  });

  it('allows a login with pg_monitor and EXECUTE on pg_read_binary_file', async () => {
    await withClient(env.conn, async (c) => {
      await c.query(`create role log_reader login password 'reader-pw' in role pg_monitor`);
      await c.query(
        'grant execute on function pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) to log_reader',
      );
    });
    const events = await read('log_reader', 'reader-pw');
    expect(events.filter((e) => e.type === 'pg.auth_failed')).toHaveLength(4);
  });

  it('refuses a login without the privileges with PW603 and a hint', async () => {
    await withClient(env.conn, (c) => c.query(`create role plain_login login password 'plain-pw' in role pg_monitor`));
    const reader = new RemoteLogReader({
      connection: { ...env.conn, user: 'plain_login', password: 'plain-pw' },
      format: 'jsonlog',
      positions: memoryPositionStore(),
      onEvents: async () => undefined,
    });
    try {
      const error: unknown = await reader.start().catch((e: unknown) => e);
      expect(isPgwardenError(error, 'PW603')).toBe(true);
      expect((error as Error).message).toContain('plain_login may not read the server log');
      expect((error as { hint?: string }).hint).toContain('pg_read_binary_file');
    } finally {
      await reader.close();
    }
  });
});

import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, connect, quoteIdent } from '../../../src/db/client.js';
import { memoryPositionStore, type PositionStore } from '../../../src/monitor/event.js';
import { DbPositionStore } from '../../../src/monitor/sources/db-position-store.js';
import { SecurityEventSource, type SecurityEventSourceOptions } from '../../../src/monitor/sources/security-events.js';
import { installedDatabase, uniquePrefix } from '../../helpers/db.js';
import { collector, duplicates, increasing, insertEvents, silentProxy, waitFor } from './helpers.js';

let db: ConnectionConfig;
let writer: pg.Client;
const open: SecurityEventSource[] = [];

beforeAll(async () => {
  db = await installedDatabase();
  writer = await connect(db);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await writer?.end();
});

/** A started source on the test database; closed after the test. */
async function startSource(
  c: ReturnType<typeof collector>,
  options: Partial<SecurityEventSourceOptions> = {},
): Promise<SecurityEventSource> {
  const source = new SecurityEventSource({
    connection: db,
    positions: memoryPositionStore(),
    onEvents: c.onEvents,
    onState: c.onState,
    pollIntervalMs: 60_000,
    gaps: { graceMs: 200 },
    ...options,
  });
  open.push(source);
  await source.start();
  return source;
}

describe('SecurityEventSource', () => {
  it('delivers committed events in id order, starting after the newest id on a first run', async () => {
    const before = await insertEvents(writer, 3);
    const c = collector();
    await startSource(c);
    const ids = await insertEvents(writer, 5);
    await waitFor('5 events', () => c.secIds().length >= 5);
    expect(c.secIds()).toEqual(ids);
    expect(c.secIds()).not.toContain(before[0]);
    const e = c.events[0]!;
    expect(e).toMatchObject({ source: 'security-event', type: 'test.event', severity: 'info', user: 'user1' });
    expect(e.fields).toMatchObject({ n: 1 });
  });

  it('reads the whole table when told to start at the beginning', async () => {
    const ids = await insertEvents(writer, 2);
    const c = collector();
    await startSource(c, { startAt: 'beginning' });
    await waitFor('old events', () => c.secIds().includes(ids[1]!));
    expect(c.secIds()).toContain(ids[0]);
    expect(duplicates(c.secIds())).toEqual([]);
  });

  it('delivers nothing for an insert in a rolled-back transaction, and closes its gap [F-04]', async () => {
    const c = collector();
    const source = await startSource(c);
    await writer.query('begin');
    const [rolledBack] = await insertEvents(writer, 1);
    await writer.query('rollback');
    const [committed] = await insertEvents(writer, 1);
    await waitFor('the committed event', () => c.secIds().includes(committed!));
    // The rolled-back id sat below the position as a gap until no transaction could fill it.
    await waitFor('the gap to close', () => {
      source.poke();
      return source.cursor!.gaps.length === 0;
    });
    expect(c.secIds()).toEqual([committed]);
    expect(c.secIds()).not.toContain(rolledBack);
  });
});

describe('SecurityEventSource under NOTIFY semantics [F-04]', () => {
  it('does not depend on notification counts or payloads', async () => {
    const c = collector();
    await startSource(c);
    const watcher = await connect(db);
    const seen: string[] = [];
    watcher.on('notification', (n) => seen.push(n.payload ?? ''));
    await watcher.query('listen pgwarden_monitor');
    // Three statements (three notifications), plus notifications that lie: a payload far ahead
    // and one repeated; none of them stands for a row.
    await writer.query('begin');
    const ids = [
      ...(await insertEvents(writer, 1)),
      ...(await insertEvents(writer, 1)),
      ...(await insertEvents(writer, 1)),
    ];
    await writer.query(`select pg_catalog.pg_notify('pgwarden_monitor', '999999999')`);
    await writer.query(`select pg_catalog.pg_notify('pgwarden_monitor', '999999999')`);
    await writer.query('commit');
    await waitFor('3 events', () => c.secIds().length >= 3);
    await waitFor('the watcher to see the notifications', () => seen.length >= 4);
    await sleep(300);
    expect(c.secIds()).toEqual(ids);
    // A lone notification without a row delivers nothing.
    await writer.query(`select pg_catalog.pg_notify('pgwarden_monitor', 'garbage')`);
    await sleep(300);
    expect(c.secIds()).toEqual(ids);
    await watcher.end();
  });

  it('reads all 500 events of one statement from its single notification', async () => {
    const c = collector();
    await startSource(c, { batchSize: 100 });
    const watcher = await connect(db);
    const seen: string[] = [];
    watcher.on('notification', (n) => seen.push(n.payload ?? ''));
    await watcher.query('listen pgwarden_monitor');
    const ids = await insertEvents(writer, 500);
    await waitFor('500 events', () => c.secIds().length >= 500);
    await waitFor('the notification', () => seen.length >= 1);
    await sleep(200);
    expect(seen).toEqual([String(ids[499])]);
    expect(c.secIds()).toEqual(ids);
    await watcher.end();
  });

  it('delivers every event exactly once while its backend is killed mid-stream', async () => {
    const c = collector();
    // A slow handler: kills land while a batch is being handled, the case where a second
    // session must not read the same rows again.
    const source = await startSource(c, {
      reconnect: { initialMs: 20, maxMs: 200 },
      batchSize: 50,
      onEvents: async (batch) => {
        await sleep(80);
        await c.onEvents(batch);
      },
    });
    const killer = await connect(db);
    const written: number[] = [];
    let kills = 0;
    const writing = (async () => {
      for (let i = 0; i < 60; i++) {
        written.push(...(await insertEvents(writer, 1 + (i % 7))));
        if (i % 3 === 0) await sleep(5);
      }
    })();
    while (kills < 4) {
      await sleep(40);
      const pid = source.backendPid;
      if (pid === undefined) continue;
      await killer.query('select pg_catalog.pg_terminate_backend($1)', [pid]);
      kills++;
    }
    await writing;
    await waitFor('every written event', () => written.every((id) => c.secIds().includes(id)));
    await sleep(300);
    expect(duplicates(c.secIds())).toEqual([]);
    expect([...c.secIds()].sort((a, b) => a - b)).toEqual(written);
    // One writer commits in id order, so delivery is in id order too.
    expect(increasing(c.secIds())).toBe(true);
    expect(c.states.filter((s) => s.kind === 'reconnected').length).toBeGreaterThanOrEqual(1);
    expect(c.states.find((s) => s.kind === 'disconnected')).toBeDefined();
    await killer.end();
  });

  it('delivers an event whose transaction commits after a later id (out-of-order commit)', async () => {
    const c = collector();
    const source = await startSource(c);
    const slow = await connect(db);
    await slow.query('begin');
    const [lower] = await insertEvents(slow, 1);
    const [higher] = await insertEvents(writer, 1);
    await waitFor('the higher id', () => c.secIds().includes(higher!));
    expect(source.cursor!.gaps).toMatchObject([{ from: lower, to: lower }]);
    // The gap stays open while the transaction holding it runs, well past the grace time.
    await sleep(600);
    source.poke();
    await sleep(100);
    expect(source.cursor!.gaps.length).toBe(1);
    await slow.query('commit');
    await waitFor('the lower id', () => {
      source.poke();
      return c.secIds().includes(lower!);
    });
    expect(c.secIds()).toEqual([higher, lower]);
    expect(source.cursor!.gaps).toEqual([]);
    await slow.end();
  });
});

describe('SecurityEventSource positions', () => {
  it('resumes from the saved position without repeats after close and re-creation', async () => {
    const pool = new pg.Pool({ ...db, max: 2 });
    const positions: PositionStore = new DbPositionStore(pool);
    const name = 'security-events-resume';
    const first = collector();
    const a = await startSource(first, { positions, sourceName: name });
    const ids1 = await insertEvents(writer, 20);
    await waitFor('first 20', () => first.secIds().length >= 20);
    await a.close();
    const ids2 = await insertEvents(writer, 15);
    const second = collector();
    await startSource(second, { positions, sourceName: name });
    await waitFor('next 15', () => second.secIds().length >= 15);
    await sleep(200);
    expect(first.secIds()).toEqual(ids1);
    expect(second.secIds()).toEqual(ids2);
    const { rows } = await pool.query(`select position from monitor.source_positions where source = $1`, [name]);
    expect(rows[0].position).toEqual({ last: ids2[14], gaps: [] });
    await pool.end();
  });

  it('saves the position only after the handler resolved, and retries a failed batch', async () => {
    const positions = memoryPositionStore();
    const c = collector();
    let fail = true;
    const source = await startSource(c, {
      positions,
      onEvents: async (batch) => {
        if (fail) throw new Error('sink down');
        await c.onEvents(batch);
      },
    });
    const start = (positions.positions.get('security-events') as { last: number }).last;
    const ids = await insertEvents(writer, 3);
    await waitFor('a handler failure', () => c.states.some((s) => s.kind === 'handler-failed'));
    expect((positions.positions.get('security-events') as { last: number }).last).toBe(start);
    fail = false;
    source.poke();
    await waitFor('the retried batch', () => c.secIds().length >= 3);
    expect(c.secIds()).toEqual(ids);
    expect((positions.positions.get('security-events') as { last: number }).last).toBe(ids[2]);
  });
});

describe('SecurityEventSource privileges', () => {
  it('runs with security_admin privileges only: LISTEN, read by id, save positions', async () => {
    const login = `${uniquePrefix()}monitor`;
    await writer.query(`create role ${quoteIdent(login)} login password 'monitor-pw-1' in role pgw_security_admin`);
    const monitor = { ...db, user: login, password: 'monitor-pw-1' };
    const pool = new pg.Pool({ ...monitor, max: 1 });
    try {
      const c = collector();
      await startSource(c, { connection: monitor, positions: new DbPositionStore(pool), sourceName: 'as-admin' });
      const ids = await insertEvents(writer, 2);
      await waitFor('2 events', () => c.secIds().length >= 2);
      expect(c.secIds()).toEqual(ids);
      await waitFor('the saved position', async () => {
        const { rows } = await writer.query(`select position from monitor.source_positions where source = 'as-admin'`);
        return rows[0]?.position.last === ids[1];
      });
    } finally {
      await pool.end();
    }
  });
});

describe('SecurityEventSource event shape', () => {
  it('maps columns to event fields and never copies a secret-looking detail', async () => {
    const c = collector();
    await startSource(c);
    const { rows } = await writer.query<{ id: string }>(
      `insert into logs.notification_log (event_type, severity, actor, subject, tenant, client_addr, source_addr,
         application_name, db_user, details)
       values ('auth.login_failed', 'notice', 'svc', 'acct-1', 'tenant-a', '10.0.0.5', '203.0.113.9', 'auth-api', 'svc',
         $1::jsonb) returning id`,
      [
        JSON.stringify({
          reason: 'password',
          email: 'Alice@example.com',
          password: 'hunter2-secret',
          api_key: 'k-123456',
          refreshToken: 'rt-abcdef',
          user_agent: 'curl eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl',
          ctx: { attempt: 3, session_token: 'st-999999' },
          failures: 4,
        }),
      ],
    );
    await waitFor('the event', () => c.secIds().length >= 1);
    const e = c.events[0]!;
    expect(e).toMatchObject({
      id: `sec:${rows[0]!.id}`,
      type: 'auth.login_failed',
      severity: 'notice',
      user: 'Alice@example.com',
      dbUser: 'svc',
      tenant: 'tenant-a',
      addr: '203.0.113.9',
      addrBlock: '203.0.113.0/24',
      application: 'auth-api',
      database: db.database,
    });
    expect(e.fields).toMatchObject({ reason: 'password', failures: 4, subject: 'acct-1', db_addr: '10.0.0.5' });
    expect(e.fields.ctx).toBe('{"attempt":3}');
    expect(typeof e.occurredAt).toBe('number');
    expect(e.message).toContain('auth.login_failed');
    const text = JSON.stringify(e);
    for (const secret of ['hunter2', 'k-123456', 'rt-abcdef', 'st-999999', 'eyJhbGciOiJIUzI1NiJ9']) {
      expect(text).not.toContain(secret);
    }
  });
});

describe('SecurityEventSource queue pressure [F-04]', () => {
  it('raises monitor.notify_queue_pressure once per crossing while a listener does not consume', async () => {
    // The shared cluster's queue is 8 GB, too big to half-fill in a test: the threshold is
    // lowered so one page held back crosses it (the real 50 % runs on PG 17 in the restart file).
    const c = collector();
    const source = await startSource(c, { queuePressureThreshold: 0.000001 });
    const slow = await connect(db);
    const hold = async () => {
      await slow.query('listen pgwarden_test_slow');
      await slow.query('begin');
      await slow.query('select 1');
      for (let i = 0; i < 5; i++)
        await writer.query(`select pg_catalog.pg_notify('pgwarden_test_x', repeat('x', 7000))`);
    };
    await hold();
    for (let i = 0; i < 3; i++) {
      source.poke();
      await sleep(100);
    }
    await waitFor('a pressure event', () => c.ofType('monitor.notify_queue_pressure').length >= 1);
    await sleep(300);
    expect(c.ofType('monitor.notify_queue_pressure')).toHaveLength(1);
    expect(c.ofType('monitor.notify_queue_pressure')[0]).toMatchObject({ source: 'monitor', severity: 'warning' });
    // The consumer catches up: usage falls to 0 and the check re-arms; a second stall alerts again.
    await slow.query('commit');
    await waitFor('usage back to 0', async () => {
      source.poke();
      const { rows } = await writer.query('select pg_catalog.pg_notification_queue_usage() as u');
      return rows[0].u === 0;
    });
    source.poke();
    await sleep(200);
    await hold();
    await waitFor('a second pressure event', () => {
      source.poke();
      return c.ofType('monitor.notify_queue_pressure').length >= 2;
    });
    await slow.query('commit');
    await slow.end();
  });

  it('raises nothing below the threshold', async () => {
    const c = collector();
    const source = await startSource(c, { queuePressureThreshold: 0.5 });
    await insertEvents(writer, 3);
    source.poke();
    await waitFor('3 events', () => c.secIds().length >= 3);
    expect(c.ofType('monitor.notify_queue_pressure')).toEqual([]);
  });
});

describe('SecurityEventSource keep-alive', () => {
  it('notices a connection that went silent (no reset), reconnects, and misses nothing', async () => {
    const proxy = await silentProxy({ host: String(db.host), port: Number(db.port) });
    try {
      const c = collector();
      await startSource(c, {
        connection: { ...db, host: '127.0.0.1', port: proxy.port, connectTimeoutMs: 1_000 },
        keepAliveMs: 200,
        keepAliveTimeoutMs: 500,
        reconnect: { initialMs: 100, maxMs: 400 },
      });
      const before = await insertEvents(writer, 2);
      await waitFor('events before the cut', () => c.secIds().length >= 2);
      proxy.blackhole();
      const during = await insertEvents(writer, 3);
      await waitFor('the dead connection to be noticed', () => c.states.some((s) => s.kind === 'disconnected'), 15_000);
      const lost = c.states.find((s) => s.kind === 'disconnected');
      expect(lost).toMatchObject({ error: { code: 'PW113' } });
      proxy.heal();
      await waitFor('the reconnect', () => c.states.some((s) => s.kind === 'reconnected'), 15_000);
      const after = await insertEvents(writer, 2);
      await waitFor('every event', () => c.secIds().length >= 7);
      expect(c.secIds()).toEqual([...before, ...during, ...after]);
    } finally {
      await proxy.close();
    }
  });
});

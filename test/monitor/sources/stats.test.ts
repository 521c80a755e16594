import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, connect, quoteIdent, withClient } from '../../../src/db/client.js';
import type { UntimedEvent } from '../../../src/monitor/event.js';
import { StatsSource, type StatsSourceOptions } from '../../../src/monitor/sources/stats.js';
import { emptyDatabase, installedDatabase, serverMajor, uniquePrefix } from '../../helpers/db.js';
import { collector, waitFor } from './helpers.js';

// The shared cluster preloads pg_stat_statements (LocalCluster always does); the extension is
// created in this file's database only. Other test files use the cluster at the same time, so
// assertions look only at this file's roles, database and tables.
let db: ConnectionConfig;
let admin: pg.Client;
let reader: ConnectionConfig;
let readerRole: string;
const open: StatsSource[] = [];

beforeAll(async () => {
  db = await installedDatabase();
  admin = await connect(db);
  await admin.query('create extension if not exists pg_stat_statements');
  await admin.query(`create table public.big as select g as id, md5(g::text) as v from generate_series(1, 10000) g`);
  readerRole = `${uniquePrefix()}reader`;
  await admin.query(`create role ${quoteIdent(readerRole)} login password 'reader-pw-1'`);
  await admin.query(`grant select on public.big to ${quoteIdent(readerRole)}`);
  reader = { ...db, user: readerRole, password: 'reader-pw-1' };
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await admin?.end();
});

async function startSource(c: ReturnType<typeof collector>, options: Partial<StatsSourceOptions> = {}) {
  const source = new StatsSource({
    connection: db,
    onEvents: c.onEvents,
    onState: c.onState,
    intervalMs: 60_000,
    ...options,
  });
  open.push(source);
  await source.start();
  return source;
}

const readsOf = (events: UntimedEvent[], user: string) =>
  events.filter((e) => e.type === 'pg.rows_read' && e.user === user && e.database === db.database);
const sumRows = (events: UntimedEvent[]) => events.reduce((n, e) => n + Number(e.fields.rows), 0);

describe('StatsSource', () => {
  it('sets a baseline on the first sample and reports nothing for it', async () => {
    const c = collector();
    const source = await startSource(c);
    expect(c.events).toEqual([]);
    expect(source.parts).toEqual({ activity: 'running', statements: 'running', tables: 'running' });
  });

  it('reports a SELECT returning 10 000 rows as pg.rows_read for its user, and pg.table_read for the table', async () => {
    const c = collector();
    const source = await startSource(c);
    await withClient(reader, (r) => r.query('select * from public.big'));
    await waitFor('the read volume', async () => {
      await source.sampleNow();
      return sumRows(readsOf(c.events, readerRole)) >= 10_000;
    });
    const read = readsOf(c.events, readerRole);
    expect(read[0]).toMatchObject({ source: 'stats', dbUser: readerRole, fields: { superuser: false } });
    expect(sumRows(read)).toBeLessThan(10_100);
    // Table counters are flushed by the backend at exit at the latest: it has closed.
    await waitFor('the table read', async () => {
      await source.sampleNow();
      return c.events.some((e) => e.type === 'pg.table_read' && e.fields.table === 'public.big');
    });
    const table = c.events.filter((e) => e.type === 'pg.table_read' && e.fields.table === 'public.big');
    expect(sumRows(table)).toBeGreaterThanOrEqual(10_000);
    expect(table[0]).toMatchObject({ database: db.database, fields: { inserted: 0, deleted: 0 } });
  });

  it('reports no volume for a user who read nothing', async () => {
    const c = collector();
    const source = await startSource(c);
    await withClient(reader, (r) => r.query('select 1'));
    await source.sampleNow();
    await source.sampleNow();
    expect(sumRows(readsOf(c.events, readerRole))).toBeLessThanOrEqual(1);
  });

  it('counts from zero after a reset, never negative or twice', async () => {
    const c = collector();
    const source = await startSource(c);
    await withClient(reader, (r) => r.query('select * from public.big'));
    await source.sampleNow();
    expect(sumRows(readsOf(c.events, readerRole))).toBeGreaterThanOrEqual(10_000);
    // Only this role's entries: the shared cluster's other statistics stay as they are.
    await admin.query(`select pg_stat_statements_reset((select oid from pg_catalog.pg_roles where rolname = $1))`, [
      readerRole,
    ]);
    const c2 = collector();
    const after = await startSource(c2);
    await withClient(reader, (r) => r.query('select * from public.big where id <= 100'));
    await after.sampleNow();
    await source.sampleNow();
    expect(sumRows(readsOf(c2.events, readerRole))).toBe(100);
    const sinceReset = readsOf(c.events, readerRole).slice(1);
    expect(sumRows(sinceReset)).toBe(100);
    expect(c.events.every((e) => typeof e.fields.rows !== 'number' || e.fields.rows >= 0)).toBe(true);
  });

  it.runIf(serverMajor() >= 17)(
    'notices a reset entry by its stats_since even when called as often as before',
    async () => {
      const c = collector();
      const query = 'select * from public.big where id <= $1';
      const resetReader = () =>
        admin.query(`select pg_stat_statements_reset((select oid from pg_catalog.pg_roles where rolname = $1))`, [
          readerRole,
        ]);
      await resetReader();
      await withClient(reader, (r) => r.query(query, [100]));
      const source = await startSource(c);
      await resetReader();
      // Same statement, same number of calls (1) as in the baseline: only stats_since differs.
      await withClient(reader, (r) => r.query(query, [500]));
      await source.sampleNow();
      expect(sumRows(readsOf(c.events, readerRole))).toBe(500);
    },
  );

  it('reports new backends as pg.activity with the superuser flag, skipping its own', async () => {
    const c = collector();
    const source = await startSource(c);
    const plain = await connect({ ...reader, application_name: 'stats-test-plain' });
    const su = await connect({ ...db, application_name: 'stats-test-su' });
    // Its own connection, replaced after being killed, is never reported.
    await admin.query(
      `select pg_catalog.pg_terminate_backend(pid) from pg_catalog.pg_stat_activity where application_name = 'pgwarden-monitor-stats'
         and datname = current_database()`,
    );
    await source.sampleNow();
    await source.sampleNow();
    await plain.end();
    await su.end();
    const activity = c.events.filter((e) => e.type === 'pg.activity');
    expect(activity.find((e) => e.application === 'stats-test-plain')).toMatchObject({
      user: readerRole,
      database: db.database,
      addr: '127.0.0.1',
      fields: { superuser: false, backendType: 'client backend' },
    });
    expect(activity.find((e) => e.application === 'stats-test-su')).toMatchObject({ fields: { superuser: true } });
    expect(activity.filter((e) => e.application === 'pgwarden-monitor-stats')).toEqual([]);
    // Known backends are not reported again.
    const count = activity.length;
    await source.sampleNow();
    expect(
      c.events.filter((e) => e.type === 'pg.activity' && String(e.application).startsWith('stats-test')).length,
    ).toBeLessThanOrEqual(count);
  });

  it('marks pg_stat_statements unavailable, without an error, where the extension is not installed', async () => {
    const empty = await emptyDatabase();
    const c = collector();
    const source = await startSource(c, { connection: empty });
    await source.sampleNow();
    expect(source.parts).toEqual({ activity: 'running', statements: 'unavailable', tables: 'running' });
    expect(c.states.filter((s) => s.kind === 'unavailable')).toHaveLength(1);
    expect(c.states.some((s) => s.kind === 'disconnected')).toBe(false);
  });
});

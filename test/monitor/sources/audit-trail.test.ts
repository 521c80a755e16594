import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, connect, quoteIdent } from '../../../src/db/client.js';
import { memoryPositionStore, type PositionStore } from '../../../src/monitor/event.js';
import { AuditTrailSource, type AuditTrailSourceOptions } from '../../../src/monitor/sources/audit-trail.js';
import { emptyDatabase, installedDatabase, uniquePrefix } from '../../helpers/db.js';
import { collector, waitFor } from './helpers.js';

let db: ConnectionConfig;
let admin: pg.Client;
let alice: string;
let bob: string;
const open: AuditTrailSource[] = [];

beforeAll(async () => {
  db = await installedDatabase();
  admin = await connect(db);
  const prefix = uniquePrefix();
  alice = `${prefix}alice`;
  bob = `${prefix}bob`;
  await admin.query(`create table public.t (id int primary key, v text)`);
  await admin.query(`select audit.enable('public.t'::regclass)`);
  for (const role of [alice, bob]) {
    await admin.query(`create role ${quoteIdent(role)} nologin`);
    await admin.query(`grant select, insert, update, delete on public.t to ${quoteIdent(role)}`);
  }
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await admin?.end();
});

async function startSource(
  c: ReturnType<typeof collector>,
  options: Partial<AuditTrailSourceOptions> = {},
): Promise<AuditTrailSource> {
  const source = new AuditTrailSource({
    connection: db,
    positions: memoryPositionStore(),
    onEvents: c.onEvents,
    onState: c.onState,
    pollIntervalMs: 60_000,
    gaps: { graceMs: 100 },
    ...options,
  });
  open.push(source);
  await source.start();
  return source;
}

/** Runs `sql` as `role` (the audit trail records it as db_role). */
async function as(role: string, sql: string): Promise<void> {
  await admin.query('begin');
  await admin.query(`set local role ${quoteIdent(role)}`);
  await admin.query(sql);
  await admin.query('commit');
}

const summary = (c: ReturnType<typeof collector>) =>
  c
    .ofType('audit.rows_changed')
    .map((e) => `${e.user} ${String(e.fields.op)} ${String(e.fields.table)} ${String(e.fields.rows)}`);

describe('AuditTrailSource', () => {
  it('aggregates inserts, updates and deletes per actor, table and operation', async () => {
    const c = collector();
    const source = await startSource(c);
    await as(alice, `insert into public.t select g, 'a' from generate_series(1, 5) g`);
    await as(alice, `update public.t set v = 'b' where id <= 3`);
    await as(bob, `delete from public.t where id > 3`);
    await source.pollNow();
    expect(summary(c)).toEqual([
      `${alice} INSERT public.t 5`,
      `${alice} UPDATE public.t 3`,
      `${bob} DELETE public.t 2`,
    ]);
    const e = c.ofType('audit.rows_changed')[0]!;
    expect(e).toMatchObject({ source: 'audit', severity: 'info', dbUser: alice, database: db.database });
    expect(e.id).toMatch(new RegExp(`^audit:\\d+-\\d+:${alice}$`));
    expect(typeof e.occurredAt).toBe('number');
    expect(source.status).toBe('running');
    // Nothing new: the next poll delivers nothing.
    await source.pollNow();
    expect(c.ofType('audit.rows_changed')).toHaveLength(3);
  });

  it('resumes from its saved position after close and re-creation, repeating nothing', async () => {
    const positions: PositionStore = memoryPositionStore();
    const first = collector();
    const a = await startSource(first, { positions, sourceName: 'audit-resume' });
    await as(alice, `insert into public.t values (100, 'x')`);
    await a.pollNow();
    await a.close();
    await as(bob, `insert into public.t values (101, 'y'), (102, 'z')`);
    const second = collector();
    const b = await startSource(second, { positions, sourceName: 'audit-resume' });
    await b.pollNow();
    expect(summary(first)).toEqual([`${alice} INSERT public.t 1`]);
    expect(summary(second)).toEqual([`${bob} INSERT public.t 2`]);
  });

  it('delivers rows of a transaction that commits after later ids', async () => {
    const c = collector();
    const source = await startSource(c);
    const slow = await connect(db);
    await slow.query('begin');
    await slow.query(`insert into public.t values (200, 'slow')`);
    await as(bob, `insert into public.t values (201, 'fast')`);
    await source.pollNow();
    expect(summary(c)).toEqual([`${bob} INSERT public.t 1`]);
    expect(source.cursor!.gaps).toHaveLength(1);
    await slow.query('commit');
    await source.pollNow();
    expect(summary(c)).toEqual([`${bob} INSERT public.t 1`, `${String(db.user)} INSERT public.t 1`]);
    await sleep(150);
    await source.pollNow();
    await source.pollNow();
    expect(source.cursor!.gaps).toEqual([]);
    await slow.end();
  });

  it('delivers rows of a transaction open past the gap window late, flagged monitor.events_late', async () => {
    const c = collector();
    const gaps = { graceMs: 100, maxAgeMs: 300, slowIntervalMs: 100, slowWindowMs: 60_000 };
    const source = await startSource(c, { gaps });
    const slow = await connect(db);
    await slow.query('begin');
    await slow.query(`insert into public.t values (210, 'slow')`);
    await as(bob, `insert into public.t values (211, 'fast')`);
    await source.pollNow();
    await sleep(350);
    await source.pollNow();
    // Past the gap window: only the slow re-check still reads it.
    expect(source.cursor!.gaps).toEqual([]);
    expect(source.cursor!.slow).toHaveLength(1);
    expect(c.states.some((s) => s.kind === 'gap-expired' && s.source === 'audit-trail')).toBe(true);
    await slow.query('commit');
    await sleep(150);
    await source.pollNow();
    expect(summary(c)).toEqual([`${bob} INSERT public.t 1`, `${String(db.user)} INSERT public.t 1`]);
    expect(c.ofType('monitor.events_late')).toMatchObject([
      { source: 'monitor', severity: 'warning', fields: { source: 'audit-trail', rows: 1 } },
    ]);
    expect(source.cursor!.slow).toEqual([]);
    await sleep(150);
    await source.pollNow();
    expect(summary(c)).toHaveLength(2);
    await slow.end();
  });

  it('runs with security_admin privileges only', async () => {
    const login = `${uniquePrefix()}auditmon`;
    await admin.query(`create role ${quoteIdent(login)} login password 'monitor-pw-2' in role pgw_security_admin`);
    const c = collector();
    const source = await startSource(c, { connection: { ...db, user: login, password: 'monitor-pw-2' } });
    await as(bob, `insert into public.t values (400, 'priv')`);
    await source.pollNow();
    expect(summary(c)).toEqual([`${bob} INSERT public.t 1`]);
  });

  it('reports unavailable, without an error, where the audit module is not installed', async () => {
    const empty = await emptyDatabase();
    const c = collector();
    const source = await startSource(c, { connection: empty });
    await source.pollNow();
    expect(source.status).toBe('unavailable');
    expect(c.states.filter((s) => s.kind === 'unavailable')).toHaveLength(1);
    expect(c.states.some((s) => s.kind === 'disconnected')).toBe(false);
    expect(c.events).toEqual([]);
  });

  it('reports a lost connection once and recovers on a later poll', async () => {
    const c = collector();
    const source = await startSource(c);
    await admin.query(
      `select pg_catalog.pg_terminate_backend(pid) from pg_catalog.pg_stat_activity
        where datname = current_database() and application_name = 'pgwarden-monitor-audit'`,
    );
    await waitFor('the loss to be noticed', async () => {
      await source.pollNow();
      return c.states.some((s) => s.kind === 'disconnected');
    });
    await as(alice, `insert into public.t values (300, 'after')`);
    await source.pollNow();
    expect(c.states.filter((s) => s.kind === 'disconnected')).toHaveLength(1);
    expect(c.states.some((s) => s.kind === 'reconnected')).toBe(true);
    expect(summary(c)).toEqual([`${alice} INSERT public.t 1`]);
  });
});

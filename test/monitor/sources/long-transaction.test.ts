import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type ConnectionConfig, connect } from '../../../src/db/client.js';
import { memoryPositionStore, type PositionStore } from '../../../src/monitor/event.js';
import { DbPositionStore } from '../../../src/monitor/sources/db-position-store.js';
import { SecurityEventSource, type SecurityEventSourceOptions } from '../../../src/monitor/sources/security-events.js';
import { installedDatabase, uniquePrefix } from '../../helpers/db.js';
import { collector, duplicates, insertEvents, waitFor } from './helpers.js';

// An attacker keeps the transaction that writes a security event open past the gap window
// (`BEGIN; CREATE FUNCTION … SECURITY DEFINER; SELECT pg_sleep(660); COMMIT`) so its id, below
// ids committed meanwhile, would be given up unread. The policy is shortened: grace 200 ms,
// window 1 s, slow re-check every 300 ms for 3 s.

const policy = { graceMs: 200, maxAgeMs: 1_000, slowIntervalMs: 300, slowWindowMs: 3_000 };

let db: ConnectionConfig;
let writer: pg.Client;
const open: SecurityEventSource[] = [];
const clients: pg.Client[] = [];

beforeAll(async () => {
  db = await installedDatabase();
  writer = await connect(db);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
});
afterAll(async () => {
  await writer?.end();
});

async function startSource(
  c: ReturnType<typeof collector>,
  options: Partial<SecurityEventSourceOptions> = {},
): Promise<SecurityEventSource> {
  const source = new SecurityEventSource({
    connection: db,
    positions: memoryPositionStore(),
    onEvents: c.onEvents,
    onState: c.onState,
    pollIntervalMs: 100,
    gaps: policy,
    ...options,
  });
  open.push(source);
  await source.start();
  return source;
}

/** A second session with a transaction left open. */
async function openTransaction(): Promise<pg.Client> {
  const client = await connect(db);
  clients.push(client);
  await client.query('begin');
  return client;
}

/** The id of the newest security event `client` can see of `type`. */
async function newestId(client: pg.Client, type: string): Promise<number> {
  const { rows } = await client.query<{ id: string }>(
    `select pg_catalog.max(n.id)::text as id from logs.notification_log n where n.event_type = $1`,
    [type],
  );
  return Number(rows[0]!.id);
}

describe('SecurityEventSource and transactions open past the gap window', () => {
  it('still delivers, once and flagged late, a SECURITY DEFINER function created in a transaction committing after the window', async () => {
    const c = collector();
    const source = await startSource(c);
    const attacker = await openTransaction();
    const fn = `public.${uniquePrefix()}escalate`;
    await attacker.query(`create function ${fn}() returns int language sql security definer as 'select 1'`);
    const hidden = await newestId(attacker, 'ddl.security_definer');
    // Ordinary traffic commits later ids meanwhile, leaving the attacker's id as a gap.
    const [cover] = await insertEvents(writer, 1);
    expect(hidden).toBeLessThan(cover!);
    await waitFor('the cover event', () => c.secIds().includes(cover!));
    await waitFor('the gap to pass its window', () => c.states.some((s) => s.kind === 'gap-expired'));
    expect(source.cursor!.gaps).toEqual([]);
    expect(source.cursor!.slow).toMatchObject([{ from: hidden, to: hidden }]);
    await attacker.query('commit');
    await waitFor('the late event', () => c.secIds().includes(hidden));
    await waitFor('the slow range to close', () => source.cursor!.slow.length === 0);
    await sleep(700); // two more slow re-checks: nothing is delivered twice
    expect(duplicates(c.secIds())).toEqual([]);
    expect(c.secIds()).toEqual([cover, hidden]);
    const definer = c.events.find((e) => e.id === `sec:${hidden}`);
    expect(definer).toMatchObject({ type: 'ddl.security_definer' });
    expect(c.ofType('monitor.events_late')).toEqual([
      expect.objectContaining({
        source: 'monitor',
        severity: 'warning',
        fields: { source: 'security-events', from: hidden, to: hidden, rows: 1 },
      }),
    ]);
    expect(c.ofType('monitor.events_skipped')).toEqual([]);
  });

  it('raises monitor.events_skipped once when the transaction is still open after the slow window', async () => {
    const c = collector();
    const source = await startSource(c);
    const attacker = await openTransaction();
    const [hidden] = await insertEvents(attacker, 1, 'auth.role_changed');
    const [cover] = await insertEvents(writer, 1);
    await waitFor('the cover event', () => c.secIds().includes(cover!));
    await waitFor('monitor.events_skipped', () => c.ofType('monitor.events_skipped').length > 0, 15_000);
    await sleep(700);
    expect(c.ofType('monitor.events_skipped')).toEqual([
      expect.objectContaining({
        source: 'monitor',
        severity: 'critical',
        fields: { source: 'security-events', from: hidden, to: hidden },
      }),
    ]);
    expect(c.states).toContainEqual({ kind: 'gap-abandoned', source: 'security-events', from: hidden, to: hidden });
    expect(source.cursor!.slow).toEqual([]);
    expect(c.ofType('monitor.events_late')).toEqual([]);
    // Past the slow window the range is gone: that is what the critical event warned about.
    await attacker.query('commit');
    await sleep(700);
    expect(c.secIds()).toEqual([cover]);
  });

  it('stays silent when the transaction holding a slow range rolls back', async () => {
    const c = collector();
    const source = await startSource(c);
    const attacker = await openTransaction();
    await insertEvents(attacker, 1);
    const [cover] = await insertEvents(writer, 1);
    await waitFor('the cover event', () => c.secIds().includes(cover!));
    await waitFor('the slow range', () => source.cursor!.slow.length === 1);
    await attacker.query('rollback');
    // No transaction can fill the range any more: it closes at its next re-check, before its window ends.
    await waitFor('the slow range to close', () => source.cursor!.slow.length === 0, 2_500);
    await sleep(300);
    expect(c.ofType('monitor.events_skipped')).toEqual([]);
    expect(c.ofType('monitor.events_late')).toEqual([]);
    expect(c.secIds()).toEqual([cover]);
  });

  it('keeps the slow list across a restart from the saved position and delivers the late event once', async () => {
    const pool = new pg.Pool({ ...db, max: 2 });
    try {
      const positions: PositionStore = new DbPositionStore(pool);
      const name = 'slow-restart';
      const first = collector();
      const a = await startSource(first, { positions, sourceName: name });
      const attacker = await openTransaction();
      const [hidden] = await insertEvents(attacker, 1, 'auth.role_changed');
      const [cover] = await insertEvents(writer, 1);
      await waitFor('the saved slow range', async () => {
        const { rows } = await pool.query(`select position from monitor.source_positions where source = $1`, [name]);
        return rows[0]?.position.slow?.length === 1;
      });
      await a.close();
      const { rows } = await pool.query(`select position from monitor.source_positions where source = $1`, [name]);
      expect(rows[0].position).toMatchObject({ last: cover, gaps: [], slow: [[hidden, hidden, expect.any(Number)]] });

      const second = collector();
      const b = await startSource(second, { positions, sourceName: name });
      expect(b.cursor!.slow).toMatchObject([{ from: hidden, to: hidden }]);
      await attacker.query('commit');
      await waitFor('the late event after the restart', () => second.secIds().includes(hidden!));
      await waitFor('the saved position without the slow range', async () => {
        const saved = await pool.query(`select position from monitor.source_positions where source = $1`, [name]);
        return saved.rows[0]?.position.slow === undefined;
      });
      await sleep(400);
      expect(first.secIds()).toEqual([cover]);
      expect(second.secIds()).toEqual([hidden]);
      expect(second.ofType('monitor.events_late')).toHaveLength(1);
      expect([...first.events, ...second.events].filter((e) => e.type === 'monitor.events_skipped')).toEqual([]);
    } finally {
      await pool.end();
    }
  });

  it('delivers every row of a late transaction larger than one batch, each once', async () => {
    const c = collector();
    const source = await startSource(c, { batchSize: 10, gaps: { graceMs: 200 } });
    const slow = await openTransaction();
    const held = await insertEvents(slow, 35);
    const [cover] = await insertEvents(writer, 1);
    await waitFor('the cover event', () => c.secIds().includes(cover!));
    // Past the grace time the gap is closable as soon as its transaction ends: the pass that
    // reads the first batch of its rows must not close it over the rest.
    await sleep(400);
    await slow.query('commit');
    await waitFor('the gap to close', () => {
      source.poke();
      return source.cursor!.gaps.length === 0;
    });
    await sleep(300);
    expect(duplicates(c.secIds())).toEqual([]);
    expect([...c.secIds()].sort((x, y) => x - y)).toEqual([...held, cover]);
  });
});

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionConfig } from '../../../src/db/client.js';
import { DbPositionStore } from '../../../src/monitor/sources/db-position-store.js';
import { SecurityEventSource } from '../../../src/monitor/sources/security-events.js';
import { installedDatabase } from '../../helpers/db.js';
import { rejected } from '../../helpers/errors.js';

let db: ConnectionConfig;
let pool: pg.Pool;

beforeAll(async () => {
  db = await installedDatabase();
  pool = new pg.Pool({ ...db, max: 2 });
});
afterAll(async () => {
  await pool?.end();
});

describe('DbPositionStore', () => {
  it('loads nothing for a source never saved', async () => {
    expect(await new DbPositionStore(pool).load('never-saved')).toBeUndefined();
  });

  it('upserts one row per source and loads the latest position', async () => {
    const store = new DbPositionStore(pool);
    await store.save('log', { file: 'a', offset: 10 });
    await store.save('log', { file: 'a', offset: 25 });
    await store.save('other', { last: 3, gaps: [] });
    expect(await store.load('log')).toEqual({ file: 'a', offset: 25 });
    const { rows } = await pool.query(
      `select source from monitor.source_positions where source in ('log', 'other') order by 1`,
    );
    expect(rows.map((r) => r.source)).toEqual(['log', 'other']);
  });

  it('refuses to start a source from a position that is not one (PW603), saying how to recover', async () => {
    const store = new DbPositionStore(pool);
    await store.save('security-events-bad', { last: 'ten' });
    const source = new SecurityEventSource({
      connection: db,
      positions: store,
      sourceName: 'security-events-bad',
      onEvents: async () => undefined,
    });
    const err = await rejected(source.start());
    expect(err.code).toBe('PW603');
    expect(err.hint).toContain('monitor.source_positions');
    await source.close();
  });
});

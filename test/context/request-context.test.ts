import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContextKey } from '../../src/context/context-seal.js';
import { type ContextPool, createContextPool, withRequestContext } from '../../src/context/request-context.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { installedDatabase } from '../helpers/db.js';
import { authenticatorConnection, createNotesTable, registerContextKey, testIdentity } from '../helpers/context.js';

// withRequestContext against a real database: one transaction per request, identity visible to
// row-level security, set-up in the same round trip as the first statement, and a connection
// that carries nothing from one request to the next.

const A = testIdentity({ sub: '00000000-0000-4000-8000-00000000000a', tenant: 'tenant-a' });
const B = testIdentity({ sub: '00000000-0000-4000-8000-00000000000b', tenant: 'tenant-b' });

let db: ConnectionConfig;
let admin: pg.Client;
let key: ContextKey;
let pool: pg.Pool;
let ctx: ContextPool;

const expected = async (tenant: string) =>
  Number((await admin.query('select count(*) n from app.notes where tenant = $1', [tenant])).rows[0].n);
const countNotes = (cp: ContextPool, who: Parameters<ContextPool['run']>[0], readOnly = true) =>
  withRequestContext(cp, who, async (q) => Number((await q.query('select count(*) n from app.notes')).rows[0]!.n), {
    readOnly,
  });

beforeAll(async () => {
  db = await installedDatabase();
  admin = new pg.Client(db);
  await admin.connect();
  key = await registerContextKey(admin);
  await createNotesTable(admin, ['tenant-a', 'tenant-a', 'tenant-b']);
  pool = new pg.Pool({ ...authenticatorConnection(db), max: 3 });
  pool.on('error', () => undefined);
  ctx = createContextPool({ pool, key, roles: { authenticated: 'pgw_app_user', anonymous: 'pgw_anon' } });
});

afterAll(async () => {
  await pool?.end();
  await admin?.end();
});

describe('withRequestContext', () => {
  it('runs as the mapped role with the identity visible to policies', async () => {
    const row = await withRequestContext(ctx, A, async (q) => {
      const r = await q.query<{ who: string; tenant: string; uid: string; session_user: string }>(
        'select current_user who, auth.tenant_id() tenant, auth.uid()::text uid, session_user',
      );
      return r.rows[0]!;
    });
    expect(row).toEqual({ who: 'pgw_app_user', tenant: 'tenant-a', uid: A.sub, session_user: 'pgw_authenticator' });
    expect(await countNotes(ctx, A)).toBe(await expected('tenant-a'));
    expect(await countNotes(ctx, B)).toBe(await expected('tenant-b'));
  });

  it('runs the callback in one transaction and commits it', async () => {
    const xids = await withRequestContext(ctx, A, async (q) => {
      await q.query("insert into app.notes (tenant, body) values ('tenant-a', 'one-tx')");
      const one = await q.query<{ x: string }>('select pg_current_xact_id()::text x');
      const two = await q.query<{ x: string }>('select pg_current_xact_id()::text x');
      return [one.rows[0]!.x, two.rows[0]!.x];
    });
    expect(xids[0]).toBe(xids[1]);
    const { rows } = await admin.query("select count(*)::int n from app.notes where body = 'one-tx'");
    expect(rows[0].n).toBe(1);
  });

  it('rolls back and returns the connection idle when the callback throws [R-17]', async () => {
    await expect(
      withRequestContext(ctx, A, async (q) => {
        await q.query("insert into app.notes (tenant, body) values ('tenant-a', 'rolled-back')");
        throw new Error('handler failed');
      }),
    ).rejects.toThrow('handler failed');
    await expect(withRequestContext(ctx, A, (q) => q.query('select 1/0'))).rejects.toMatchObject({ code: '22012' });
    const { rows } = await admin.query("select count(*)::int n from app.notes where body = 'rolled-back'");
    expect(rows[0].n).toBe(0);
    const states = await admin.query(
      "select state from pg_stat_activity where usename = 'pgw_authenticator' and datname = current_database()",
    );
    expect(states.rows.every((r) => r.state === 'idle')).toBe(true);
    expect(await countNotes(ctx, A)).toBe(await expected('tenant-a'));
  });

  it('makes read-only requests read-only', async () => {
    await expect(
      withRequestContext(ctx, A, (q) => q.query("insert into app.notes (tenant, body) values ('tenant-a', 'x')"), {
        readOnly: true,
      }),
    ).rejects.toMatchObject({ code: '25006' });
  });

  it('sends the set-up with the first statement: one round trip (one Sync) per read-only statement', async () => {
    const single = new pg.Pool({ ...authenticatorConnection(db), max: 1 });
    try {
      const cp = createContextPool({ pool: single, key });
      await withRequestContext(cp, A, (q) => q.query('select 1')); // the once-per-pool check
      const client = await single.connect();
      let syncs = 0;
      (client as unknown as { connection: NodeJS.EventEmitter }).connection.on('readyForQuery', () => {
        syncs += 1;
      });
      client.release();
      await withRequestContext(cp, A, (q) => q.query('select count(*) from app.notes'), { readOnly: true });
      expect(syncs).toBe(1);
      syncs = 0;
      await withRequestContext(cp, A, (q) => q.query('select count(*) from app.notes'));
      expect(syncs).toBe(2); // BEGIN + set-up + statement, then COMMIT
    } finally {
      await single.end();
    }
  });

  it('keeps nothing of one request on the pooled connection for the next', async () => {
    const single = new pg.Pool({ ...authenticatorConnection(db), max: 1 });
    try {
      const cp = createContextPool({ pool: single, key });
      // A tries to leave its context and role behind at session level.
      await withRequestContext(cp, A, async (q) => {
        await q.query("select set_config('pgwarden.context', current_setting('pgwarden.context'), false)");
        await q.query("select set_config('pgwarden.context_mac', current_setting('pgwarden.context_mac'), false)");
      });
      expect(await countNotes(cp, B)).toBe(await expected('tenant-b'));
      const bare = await single.query<{ who: string; t: string | null }>('select current_user who, auth.tenant_id() t');
      expect(bare.rows[0]).toEqual({ who: 'pgw_authenticator', t: null });
    } finally {
      await single.end();
    }
  });

  it('refuses statements that end the transaction and discards the connection', async () => {
    for (const statement of ['commit', 'rollback', 'begin', 'prepare x as select 1', 'deallocate all']) {
      const before = pool.totalCount;
      await expect(withRequestContext(ctx, A, (q) => q.query(statement))).rejects.toMatchObject({ code: 'PW334' });
      expect(pool.totalCount).toBeLessThanOrEqual(before);
    }
    expect(await countNotes(ctx, A)).toBe(await expected('tenant-a'));
  });

  it('closes the handle when the request ends', async () => {
    let leaked: Parameters<Parameters<typeof withRequestContext>[2]>[0] | undefined;
    await withRequestContext(ctx, A, async (q) => {
      leaked = q;
    });
    await expect(leaked!.query('select 1')).rejects.toMatchObject({ code: 'PW337' });
  });

  it('runs an anonymous request as the anonymous role, which sees nothing', async () => {
    const row = await withRequestContext(ctx, null, async (q) => {
      const who = await q.query<{ who: string; uid: string | null }>('select current_user who, auth.uid() uid');
      return who.rows[0];
    });
    expect(row).toEqual({ who: 'pgw_anon', uid: null });
    await expect(countNotes(ctx, null)).rejects.toMatchObject({ code: '42501' });
  });

  it('fails with PW330 when the database does not know the key', async () => {
    const other = createContextPool({ pool, key: new ContextKey(randomBytes(32)) });
    const before = pool.totalCount;
    await expect(countNotes(other, A)).rejects.toMatchObject({ code: 'PW330' });
    expect(pool.totalCount).toBeLessThanOrEqual(before);
  });

  it('evaluates the helpers once per statement, so the tenant index is used', async () => {
    await admin.query('insert into app.notes (tenant, body) select $1, g::text from generate_series(1, 5000) g', [
      'tenant-bulk',
    ]);
    await admin.query('analyze app.notes');
    const plan = await withRequestContext(ctx, A, async (q) => {
      const r = await q.query<{ 'QUERY PLAN': string }>('explain select * from app.notes');
      return r.rows.map((x) => x['QUERY PLAN']).join('\n');
    });
    expect(plan).toMatch(/InitPlan/);
    expect(plan).toMatch(/Index Scan|Bitmap Index Scan/);
    expect(plan).not.toMatch(/Seq Scan/);
  });
});

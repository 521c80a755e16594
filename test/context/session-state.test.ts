import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContextKey } from '../../src/context/context-seal.js';
import { type ContextPool, createContextPool, withRequestContext } from '../../src/context/request-context.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { installedDatabase } from '../helpers/db.js';
import { authenticatorConnection, createNotesTable, registerContextKey, testIdentity } from '../helpers/context.js';

// SQL running inside a request can create session state that outlives it: temporary objects,
// settings, named statements. None of it may run code as pgwarden's owner, shadow what the next
// request means, or carry the request out of its transaction.

const A = testIdentity({ sub: '00000000-0000-4000-8000-00000000000a', tenant: 'tenant-a' });
const B = testIdentity({ sub: '00000000-0000-4000-8000-00000000000b', tenant: 'tenant-b' });

let db: ConnectionConfig;
let admin: pg.Client;
let key: ContextKey;

beforeAll(async () => {
  db = await installedDatabase();
  admin = new pg.Client(db);
  await admin.connect();
  key = await registerContextKey(admin);
  await createNotesTable(admin);
});

afterAll(async () => {
  await admin?.end();
});

/** A pool of one connection, so consecutive requests share the backend. */
async function withSinglePool<T>(fn: (cp: ContextPool, pool: pg.Pool) => Promise<T>): Promise<T> {
  const pool = new pg.Pool({ ...authenticatorConnection(db), max: 1 });
  pool.on('error', () => undefined);
  try {
    return await fn(createContextPool({ pool, key, searchPath: ['app'] }), pool);
  } finally {
    await pool.end();
  }
}

// Temporary types named like built-in ones, whose CHECK records who evaluated it.
const PLANT_TRAPS = [
  'create table pg_temp.loot (who text, tenant text)',
  'grant all on pg_temp.loot to public',
  `create function pg_temp.trap() returns boolean language plpgsql as $$
     begin insert into pg_temp.loot values (current_user, current_setting('pgwarden.context', true)); return true; end $$`,
  ...['jsonb', 'text', 'uuid', 'float8', 'int8', 'name', 'bytea', 'int4'].map(
    (t) => `create domain pg_temp.${t} as pg_catalog.${t} check (pg_temp.trap())`,
  ),
  `create view pg_temp.notes as select n.* from app.notes n where pg_temp.trap()`,
  `do $$ begin execute 'discard plans'; end $$`,
];

describe('temporary objects left in the session [R-15]', () => {
  it("never run as pgwarden's owner through the helpers, in the same request", async () => {
    await withSinglePool(async (cp) => {
      const seen = await withRequestContext(cp, A, async (q) => {
        for (const sql of PLANT_TRAPS) await q.query(sql);
        const helpers = await q.query(
          `select auth.tenant_id() t, auth.uid() u, auth.sub() s, auth.roles() r, auth.aal() a, auth.claims() c,
                  auth.session_id() sid, auth.has_permission('x') p`,
        );
        const loot = await q.query<{ who: string }>('select who from pg_temp.loot');
        return { tenant: helpers.rows[0]!.t, loot: loot.rows.map((r) => r.who) };
      });
      expect(seen.tenant).toBe('tenant-a');
      expect(seen.loot).not.toContain('pgw_owner');
      expect(seen.loot).toEqual([]);
    });
  });

  it("do not shadow the next request's tables and casts, so another tenant's context is not captured", async () => {
    await withSinglePool(async (cp) => {
      await withRequestContext(cp, A, async (q) => {
        for (const sql of PLANT_TRAPS) await q.query(sql);
      });
      const rows = await withRequestContext(
        cp,
        B,
        async (q) =>
          (await q.query('select tenant, body from notes where $1::uuid is not null', [B.sub])).rows as Array<{
            tenant: string;
          }>,
        { readOnly: true },
      );
      expect(rows.map((r) => r.tenant)).toEqual(['tenant-b']);
      const loot = await withRequestContext(
        cp,
        A,
        async (q) =>
          (await q.query<{ who: string; tenant: string | null }>('select who, tenant from pg_temp.loot')).rows,
      );
      expect(loot).toEqual([]);
    });
  });
});

describe('leaving the request transaction [R-15] [R-17]', () => {
  it('refuses COMMIT before it is sent: nothing the request wrote is committed', async () => {
    const cp = createContextPool({ pool: new pg.Pool({ ...authenticatorConnection(db), max: 1 }), key });
    try {
      await expect(
        withRequestContext(cp, A, async (q) => {
          await q.query("insert into app.notes (tenant, body) values ('tenant-a', 'never-committed')");
          await q.query('/* hidden */ commit');
        }),
      ).rejects.toMatchObject({ code: 'PW334' });
      const { rows } = await admin.query("select count(*)::int n from app.notes where body = 'never-committed'");
      expect(rows[0].n).toBe(0);
    } finally {
      await cp.pool.end();
    }
  });

  it('cannot commit from a DO block or a procedure: refused in read-only requests, atomic in read-write ones', async () => {
    await withSinglePool(async (cp) => {
      for (const sql of ['do $$ begin commit; end $$', ' -- x\n call pg_temp.p()']) {
        await expect(withRequestContext(cp, A, (q) => q.query(sql), { readOnly: true })).rejects.toMatchObject({
          code: 'PW334',
        });
      }
      await expect(withRequestContext(cp, A, (q) => q.query('do $$ begin commit; end $$'))).rejects.toMatchObject({
        code: '2D000',
      });
      expect(
        await withRequestContext(cp, A, async (q) => (await q.query('select auth.tenant_id() t')).rows[0]!.t),
      ).toBe('tenant-a');
    });
  });

  it('sends every statement over the extended protocol: no stacked queries after the first', async () => {
    await withSinglePool(async (cp) => {
      await expect(
        withRequestContext(cp, A, async (q) => {
          await q.query('select 1');
          await q.query('select 1; commit; select 2');
        }),
      ).rejects.toMatchObject({ code: '42601' });
    });
  });

  it('allows savepoints and ROLLBACK TO SAVEPOINT', async () => {
    const n = await withSinglePool((cp) =>
      withRequestContext(cp, A, async (q) => {
        await q.query('savepoint s1');
        await q.query("insert into app.notes (tenant, body) values ('tenant-a', 'undone')");
        await q.query('rollback to savepoint s1');
        return (await q.query<{ n: string }>("select count(*) n from app.notes where body = 'undone'")).rows[0]!.n;
      }),
    );
    expect(n).toBe('0');
  });

  it('reports a swallowed failed statement as a failure, not a success that committed nothing', async () => {
    await withSinglePool(async (cp) => {
      await expect(
        withRequestContext(cp, A, async (q) => {
          await q.query("insert into app.notes (tenant, body) values ('tenant-a', 'lost')");
          await q.query('select 1/0').catch(() => undefined);
          return 'ok';
        }),
      ).rejects.toMatchObject({ code: 'PW337' });
    });
  });
});

describe('connections a request leaves unfit are not reused', () => {
  it('discards the connection after COPY FROM STDIN, and the pool keeps serving', async () => {
    await withSinglePool(async (cp, pool) => {
      const pid = await withRequestContext(cp, A, async (q) => (await q.query('select pg_backend_pid() p')).rows[0]!.p);
      await expect(
        withRequestContext(cp, A, async (q) => {
          await q.query('create temp table inbox (a text)');
          await q.query('copy inbox from stdin');
        }),
      ).rejects.toMatchObject({ code: '57014' });
      const after = await withRequestContext(
        cp,
        A,
        async (q) => (await q.query('select pg_backend_pid() p')).rows[0]!.p,
      );
      expect(after).not.toBe(pid);
      expect(pool.totalCount).toBe(1);
    });
  });

  it('discards the connection when a request changes a reported setting such as client_encoding', async () => {
    await withSinglePool(async (cp) => {
      const pid = await withRequestContext(cp, A, async (q) => {
        await q.query("select set_config('client_encoding', 'LATIN1', false)");
        return (await q.query('select pg_backend_pid() p')).rows[0]!.p;
      });
      const next = await withRequestContext(cp, B, async (q) => {
        const r = await q.query<{ p: number; e: string }>(
          "select pg_backend_pid() p, current_setting('client_encoding') e",
        );
        return r.rows[0]!;
      });
      expect(next.p).not.toBe(pid);
      expect(next.e).toBe('UTF8');
    });
  });

  it('runs the pool check as the login even when a request left a role set at session level', async () => {
    await withSinglePool(async (cp, pool) => {
      await withRequestContext(cp, A, (q) => q.query("select set_config('role', 'pgw_anon', false)"));
      const fresh = createContextPool({ pool, key, searchPath: ['app'] }); // checks on its first request
      expect(
        await withRequestContext(fresh, A, async (q) => (await q.query('select auth.tenant_id() t')).rows[0]!.t),
      ).toBe('tenant-a');
    });
  });

  it('treats an identity-shaped object that pgwarden did not make as claims, not as an identity', async () => {
    await withSinglePool(async (cp) => {
      const forged = { ...A }; // a plain copy: same keys, no brand
      await expect(withRequestContext(cp, forged, (q) => q.query('select 1'))).rejects.toMatchObject({
        code: 'PW323',
      });
    });
  });
});

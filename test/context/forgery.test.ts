import { createHmac, randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ContextKey, sealContext } from '../../src/context/context-seal.js';
import { type ContextPool, createContextPool, withRequestContext } from '../../src/context/request-context.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { authFixture, goodPassword, uniqueEmail } from '../helpers/auth.js';
import { authenticatorConnection, createNotesTable, registerContextKey, testIdentity } from '../helpers/context.js';

// A client that can run any SQL as the application's login (the authenticator) or as a request
// role tries to take another user's or tenant's identity. The identity policies see must never
// become anyone else's: at worst it becomes NULL, which denies.

const A = testIdentity({ sub: '00000000-0000-4000-8000-00000000000a', tenant: 'tenant-a' });

let fixture: Awaited<ReturnType<typeof authFixture>>;
let db: ConnectionConfig;
let admin: pg.Client;
let key: ContextKey;
let pool: pg.Pool;
let ctx: ContextPool;
/** A raw SQL session as the authenticator: the attacker's tool. */
let raw: pg.Client;

const tenantNow = async (c: pg.ClientBase) =>
  (await c.query<{ t: string | null }>('select auth.tenant_id() t')).rows[0]!.t;
const visibleTenants = async (c: pg.ClientBase) =>
  (await c.query<{ tenant: string }>('select distinct tenant from app.notes order by 1')).rows.map((r) => r.tenant);

beforeAll(async () => {
  fixture = await authFixture();
  db = fixture.db;
  admin = new pg.Client(db);
  await admin.connect();
  key = await registerContextKey(admin);
  await createNotesTable(admin);
  pool = new pg.Pool({ ...authenticatorConnection(db), max: 3 });
  pool.on('error', () => undefined);
  ctx = createContextPool({ pool, key });
  raw = new pg.Client(authenticatorConnection(db));
  await raw.connect();
});

afterAll(async () => {
  await raw?.end();
  await pool?.end();
  await admin?.end();
  await fixture?.close();
});

/** Sets context settings by hand, as an attacker can, inside an open transaction. */
async function setContext(c: pg.ClientBase, context: string, mac: string, role = 'pgw_app_user') {
  await c.query(
    "select set_config('pgwarden.context', $1, true), set_config('pgwarden.context_mac', $2, true), set_config('role', $3, true)",
    [context, mac, role],
  );
}
const pidOf = (c: pg.ClientBase) => (c as pg.ClientBase & { processID: number }).processID;
const future = () => Math.floor(Date.now() / 1000) + 60;

describe('a client with raw SQL access cannot forge the request context [R-15]', () => {
  it('gets NULL for a context it wrote itself, with any MAC', async () => {
    await raw.query('begin');
    try {
      const forged = JSON.stringify({
        v: 1,
        role: 'pgw_app_user',
        pid: pidOf(raw),
        exp: future(),
        sub: 'x',
        tenant: 'tenant-b',
        roles: [],
      });
      for (const mac of [
        '',
        'x',
        `${key.kid}.${'0'.repeat(64)}`,
        `${key.kid}.${createHmac('sha256', 'guess').update(forged).digest('hex')}`,
      ]) {
        await setContext(raw, forged, mac);
        expect(await tenantNow(raw)).toBeNull();
        expect(await visibleTenants(raw)).toEqual([]);
        await raw.query("select set_config('role', 'pgw_authenticator', true)");
      }
    } finally {
      await raw.query('rollback');
    }
  });

  it('gets NULL when it edits one byte of a real context', async () => {
    const real = sealContext(key, A, pidOf(raw), future());
    await raw.query('begin');
    try {
      await setContext(raw, real.context, real.mac);
      expect(await tenantNow(raw)).toBe('tenant-a');
      await setContext(raw, real.context.replace('tenant-a', 'tenant-b'), real.mac);
      expect(await tenantNow(raw)).toBeNull();
      expect(await visibleTenants(raw)).toEqual([]);
    } finally {
      await raw.query('rollback');
    }
  });

  it('gets NULL for a real context copied to another connection (backend binding)', async () => {
    const other = await pool.connect();
    try {
      const sealed = sealContext(key, A, pidOf(other), future());
      await raw.query('begin');
      await setContext(raw, sealed.context, sealed.mac);
      expect(await tenantNow(raw)).toBeNull();
    } finally {
      await raw.query('rollback');
      other.release();
    }
  });

  it('gets NULL for an expired context', async () => {
    const sealed = sealContext(key, A, pidOf(raw), Math.floor(Date.now() / 1000) - 1);
    await raw.query('begin');
    try {
      await setContext(raw, sealed.context, sealed.mac);
      expect(await tenantNow(raw)).toBeNull();
    } finally {
      await raw.query('rollback');
    }
  });

  it('loses the identity when it switches role: SET ROLE, RESET ROLE, set_config(role)', async () => {
    for (const escape of [
      'set role pgw_anon',
      'reset role',
      "select set_config('role', 'pgw_anon', true)",
      'set local role pgw_authenticator',
    ]) {
      const sealed = sealContext(key, A, pidOf(raw), future());
      await raw.query('begin');
      try {
        await setContext(raw, sealed.context, sealed.mac);
        expect(await tenantNow(raw)).toBe('tenant-a');
        await raw.query(escape);
        expect([escape, await tenantNow(raw)]).toEqual([escape, null]);
      } finally {
        await raw.query('rollback');
      }
    }
  });

  it('cannot take another session user: SET SESSION AUTHORIZATION is refused', async () => {
    await expect(raw.query('set session authorization postgres')).rejects.toMatchObject({ code: '42501' });
  });

  it('cannot read the context keys or add its own', async () => {
    await expect(raw.query('select * from auth.context_keys')).rejects.toMatchObject({ code: '42501' });
    await expect(raw.query('select auth.context_key_add($1)', [randomBytes(32)])).rejects.toMatchObject({
      code: '42501',
    });
    await raw.query('begin');
    try {
      await raw.query("select set_config('role', 'pgw_app_user', true)");
      await expect(raw.query('select * from auth.context_keys')).rejects.toMatchObject({ code: '42501' });
    } finally {
      await raw.query('rollback');
    }
  });

  it('inside a real request, cannot rewrite its context to another tenant', async () => {
    const seen = await withRequestContext(ctx, A, async (q) => {
      await q.query(
        "select set_config('pgwarden.context', replace(current_setting('pgwarden.context'), 'tenant-a', 'tenant-b'), true)",
      );
      return (await q.query<{ t: string | null }>('select auth.tenant_id() t')).rows[0]!.t;
    });
    expect(seen).toBeNull();
  });

  it('stops verifying contexts under a retired key at once', async () => {
    const spare = await registerContextKey(admin);
    const cp = createContextPool({ pool, key: spare });
    expect(await withRequestContext(cp, A, async (q) => (await q.query('select auth.tenant_id() t')).rows[0]!.t)).toBe(
      'tenant-a',
    );
    await admin.query('select auth.context_key_retire_others($1)', [key.kid]);
    // At once: contexts under the retired key verify as NULL, so they see nothing.
    expect(await withRequestContext(cp, A, async (q) => (await q.query('select auth.tenant_id() t')).rows[0]!.t)).toBe(
      null,
    );
    // A pool checking the retired key refuses to start requests.
    const fresh = createContextPool({ pool, key: spare });
    await expect(withRequestContext(fresh, A, (q) => q.query('select 1'))).rejects.toMatchObject({ code: 'PW330' });
    expect(await withRequestContext(ctx, A, async (q) => (await q.query('select auth.tenant_id() t')).rows[0]!.t)).toBe(
      'tenant-a',
    );
  });
});

describe('request roles [R-05] [J-19]', () => {
  it('the authenticator reaches no superuser or BYPASSRLS role, and is NOINHERIT', async () => {
    const { rows } = await admin.query(
      "select rolname from pg_roles where (rolbypassrls or rolsuper) and pg_has_role('pgw_authenticator', oid, 'MEMBER')",
    );
    expect(rows).toEqual([]);
    const { rows: attrs } = await admin.query("select rolinherit from pg_roles where rolname = 'pgw_authenticator'");
    expect(attrs[0].rolinherit).toBe(false);
  });

  it('refuses a pool that maps tokens to a superuser, login or owner role, before any SET ROLE (PW333)', async () => {
    for (const role of ['postgres', 'pgw_authenticator', 'pgw_owner']) {
      const cp = createContextPool({ pool, key, roles: { authenticated: role } });
      await expect(withRequestContext(cp, { sub: 'u' }, (q) => q.query('select current_user'))).rejects.toMatchObject({
        code: 'PW333',
      });
    }
  });

  it('refuses to run requests on a pool whose login can become a superuser', async () => {
    const superPool = new pg.Pool({ ...db, max: 1 });
    try {
      const cp = createContextPool({ pool: superPool, key });
      const err = await withRequestContext(cp, A, (q) => q.query('select 1')).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'PW333', message: expect.stringMatching(/superuser or BYPASSRLS/) });
    } finally {
      await superPool.end();
    }
  });

  it('refuses role claims of the wrong type or outside the allowlist before taking a connection', async () => {
    const cp = createContextPool({
      pool,
      key,
      roles: { authenticated: 'pgw_app_user', fromClaim: { claim: 'role', map: { authenticated: 'pgw_app_user' } } },
    });
    const before = { total: pool.totalCount, idle: pool.idleCount };
    for (const role of [['authenticated', 'service_role'], { $ne: null }, 'postgres', 'service_role']) {
      const err = await withRequestContext(cp, { sub: 'u', role }, () => Promise.resolve(1)).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'PW323' });
      expect(String((err as Error).message)).not.toMatch(/postgres|service_role|pgw_/);
    }
    await expect(
      withRequestContext(cp, { sub: 'u', tenant_id: { x: 1 } }, () => Promise.resolve(1)),
    ).rejects.toMatchObject({ code: 'PW323' });
    expect({ total: pool.totalCount, idle: pool.idleCount }).toEqual(before);
    // A __proto__ key in the JSON is a plain property: it sets no role.
    const claims = JSON.parse('{"sub":"u","tenant":"tenant-a","__proto__":{"role":"service_role"}}') as Record<
      string,
      unknown
    >;
    expect(await withRequestContext(cp, claims, async (q) => (await q.query('select current_user u')).rows[0]!.u)).toBe(
      'pgw_app_user',
    );
  });

  it('passes hostile claim values only as bound parameters; NUL is refused before the database [J-29]', async () => {
    const hostile = "x'); drop table app.notes;--";
    const sub = await withRequestContext(
      ctx,
      { sub: hostile, tenant: 'tenant-a' },
      async (q) => (await q.query<{ s: string }>('select auth.sub() s')).rows[0]!.s,
    );
    expect(sub).toBe(hostile);
    expect((await admin.query('select count(*)::int n from app.notes')).rows[0].n).toBeGreaterThan(0);
    const big = 'y'.repeat(200);
    expect(
      await withRequestContext(
        ctx,
        { sub: big },
        async (q) => (await q.query<{ s: string }>('select auth.sub() s')).rows[0]!.s,
      ),
    ).toBe(big);
    for (const claims of [{ sub: 'a\u0000b' }, { sub: 'u', note: 'x\u0000' }, { sub: 'u', tenant: '\ud800' }]) {
      await expect(withRequestContext(ctx, claims, () => Promise.resolve(1))).rejects.toMatchObject({ code: 'PW323' });
    }
  });
});

describe('audit writes go through definer triggers and functions only [R-19]', () => {
  it('every trigger function on pgwarden tables is SECURITY DEFINER with a fixed search_path', async () => {
    const { rows } = await admin.query<{ trigger: string; fn: string; definer: boolean; config: string[] | null }>(`
      select t.tgname trigger, p.oid::regprocedure::text fn, p.prosecdef definer, p.proconfig config
        from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
        join pg_proc p on p.oid = t.tgfoid
       where not t.tgisinternal and n.nspname in ('auth', 'logs', 'pgwarden')`);
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect([r.trigger, r.definer, r.config]).toEqual([
        r.trigger,
        true,
        expect.arrayContaining(['search_path=pg_catalog, pg_temp']),
      ]);
    }
  });

  it('request roles and the authenticator cannot insert, change or delete log or auth rows directly', async () => {
    const { rows } = await admin.query<{ who: string; rel: string }>(`
      select r.rolname who, c.oid::regclass::text rel
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        cross join (values ('pgw_anon'), ('pgw_app_user'), ('pgw_authenticator')) r(rolname)
       where c.relkind in ('r', 'p') and n.nspname in ('auth', 'logs', 'pgwarden')
         and has_table_privilege(r.rolname, c.oid, 'insert, update, delete, truncate')`);
    expect(rows).toEqual([]);
    await expect(
      withRequestContext(ctx, A, (q) => q.query("insert into logs.notification_log (event_type) values ('forged')")),
    ).rejects.toMatchObject({ code: '42501' });
  });

  it('a security admin changing the auth policy gets the change logged through the definer trigger', async () => {
    await admin.query('begin');
    try {
      await admin.query('set local role pgw_security_admin');
      await admin.query("update auth.policy set lock_duration = interval '16 minutes'");
      await admin.query('reset role');
      const { rows } = await admin.query(
        "select actor, db_user from logs.notification_log where event_type = 'auth.policy_changed' order by id desc limit 1",
      );
      expect(rows[0]).toMatchObject({ db_user: 'postgres' });
    } finally {
      await admin.query('rollback');
    }
  });
});

describe('row security cannot be switched off by a request role [R-14]', () => {
  it('errors instead of returning unfiltered rows', async () => {
    await expect(
      withRequestContext(ctx, A, async (q) => {
        await q.query('set local row_security = off');
        return q.query('select * from app.notes');
      }),
    ).rejects.toMatchObject({ code: '42501', message: expect.stringMatching(/row-level security/) });
  });
});

describe('security definer functions [R-07]', () => {
  it('every one has a fixed search_path and only the intended ones are executable by request roles', async () => {
    const { rows } = await admin.query<{ fn: string; config: string[] | null; callable: boolean }>(`
      select p.oid::regprocedure::text fn, p.proconfig config,
             has_function_privilege('pgw_app_user', p.oid, 'execute')
               or has_function_privilege('pgw_anon', p.oid, 'execute') callable
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where p.prosecdef and n.nspname in ('auth', 'logs', 'pgwarden')`);
    expect(rows.length).toBeGreaterThan(20);
    for (const r of rows)
      expect([r.fn, r.config]).toEqual([r.fn, expect.arrayContaining(['search_path=pg_catalog, pg_temp'])]);
    expect(
      rows
        .filter((r) => r.callable)
        .map((r) => r.fn)
        .sort(),
    ).toEqual([
      'auth._context(text)',
      'auth._has_permission(text,text)',
      'auth.logout(text)',
      'auth.validate_session(text)',
    ]);
  });

  it('a temp table or function shadowing pgwarden names does not hijack the helpers', async () => {
    const t = await withRequestContext(ctx, A, async (q) => {
      await q.query('create temp table context_keys (kid text, key bytea)');
      await q.query(
        "create function pg_temp.current_setting(text, boolean) returns text language sql as $$ select 'x' $$",
      );
      return (await q.query<{ t: string }>('select auth.tenant_id() t')).rows[0]!.t;
    });
    expect(t).toBe('tenant-a');
  });
});

describe('sessions and roles are checked on every request', () => {
  async function login() {
    const email = uniqueEmail('ctx');
    await fixture.auth.register({ email, password: goodPassword, tenant: 'tenant-a' });
    const result = await fixture.auth.login({ email, password: goodPassword });
    if (result.kind !== 'session') throw new Error(`login did not complete: ${result.kind}`);
    const payload = JSON.parse(Buffer.from(result.accessToken.split('.')[1]!, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    return payload;
  }

  it('a revoked session fails on the next request (PW331)', async () => {
    const claims = await login();
    expect(await withRequestContext(ctx, claims, async (q) => (await q.query('select auth.uid() u')).rows[0]!.u)).toBe(
      claims.sub,
    );
    await admin.query("update auth.sessions set revoked_at = now(), revoked_reason = 'test' where id = $1", [
      claims.sid,
    ]);
    await expect(withRequestContext(ctx, claims, (q) => q.query('select 1'), { readOnly: true })).rejects.toMatchObject(
      {
        code: 'PW331',
      },
    );
  });

  it("a token issued before a change of the user's roles is refused until refreshed (PW332)", async () => {
    const claims = await login();
    expect(claims.av).toEqual(expect.any(Number));
    await admin.query('update auth.users set roles = $2 where id = $1', [claims.sub, ['auditor']]);
    await expect(withRequestContext(ctx, claims, (q) => q.query('select 1'))).rejects.toMatchObject({ code: 'PW332' });
    // A refreshed token carries the new version and works again.
    const { rows } = await admin.query('select authz_version from auth.users where id = $1', [claims.sub]);
    const fresh = { ...claims, av: Number(rows[0].authz_version) };
    expect(await withRequestContext(ctx, fresh, async (q) => (await q.query('select auth.uid() u')).rows[0]!.u)).toBe(
      claims.sub,
    );
  });

  it('a session id that does not belong to the subject is refused', async () => {
    const one = await login();
    const two = await login();
    await expect(withRequestContext(ctx, { ...one, sid: two.sid }, (q) => q.query('select 1'))).rejects.toMatchObject({
      code: 'PW331',
    });
  });
});

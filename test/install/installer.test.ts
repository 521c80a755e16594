import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { connect, quoteIdent, withClient } from '../../src/db/client.js';
import { isPgwardenError } from '../../src/errors/index.js';
import {
  defaultCatalog,
  getStatus,
  install,
  moduleFiles,
  planInstall,
  readLedger,
  roleNames,
} from '../../src/install/index.js';
import { refuseForeignSchemas } from '../../src/install/preflight.js';
import { catalogWithFixture } from '../helpers/catalog.js';
import { adminConnection, emptyDatabase, installedDatabase, loginWithCreate, uniquePrefix } from '../helpers/db.js';

const shipped = defaultCatalog();

async function rejection(
  promise: Promise<unknown>,
): Promise<{ code: string; message: string; detail?: string; sqlState?: string }> {
  try {
    await promise;
  } catch (err) {
    if (!isPgwardenError(err)) throw err;
    return { code: err.code, message: err.message, detail: err.detail, sqlState: err.sqlState };
  }
  throw new Error('expected a rejection');
}

const count = async (c: pg.ClientBase, sql: string, params: unknown[] = []) =>
  Number((await c.query(sql, params)).rows[0].n);
const schemaExists = async (c: pg.ClientBase, name: string) =>
  (await c.query('select 1 from pg_namespace where nspname = $1', [name])).rows.length > 0;

describe('install', () => {
  it('installs every shipped file into an empty database and records each in the ledger', async () => {
    const db = await emptyDatabase();
    const prefix = uniquePrefix();
    await withClient(db, async (c) => {
      const result = await install(c, { tier: 'advanced', rolePrefix: prefix });
      // modules in catalog order (core first), each module's files in version order
      const inOrder = shipped.modules.flatMap((m) => moduleFiles(shipped, m.name));
      expect(result.applied.map((f) => `${f.module}/${f.name}`)).toEqual(inOrder.map((f) => `${f.module}/${f.name}`));
      const ledger = await readLedger(c);
      const byKey = (a: unknown[], b: unknown[]) => String(a.slice(0, 2)).localeCompare(String(b.slice(0, 2)));
      expect(ledger.map((e) => [e.module, e.version, e.sha256, e.chainSha256]).sort(byKey)).toEqual(
        inOrder.map((f) => [f.module, f.version, f.sha256, f.chainSha256]).sort(byKey),
      );
      expect(ledger.every((e) => e.installedBy === adminConnection().user)).toBe(true);
      const owner = (await c.query(`select nspowner::regrole::text as o from pg_namespace where nspname = 'logs'`))
        .rows[0].o;
      expect(owner).toBe(roleNames(prefix).owner);
    });
  });

  it('is idempotent: a second run applies nothing and changes nothing', async () => {
    const db = await installedDatabase();
    await withClient(db, async (c) => {
      const before = await readLedger(c);
      const again = await install(c, { tier: 'advanced', rolePrefix: 'pgw_' });
      expect(again.applied).toEqual([]);
      expect(await readLedger(c)).toEqual(before);
    });
  });

  it('lets two installers run at once on one database: both succeed and the work is done once', async () => {
    const db = await emptyDatabase();
    const prefix = uniquePrefix();
    const results = await Promise.all(
      [1, 2, 3].map(() => withClient(db, (c) => install(c, { tier: 'advanced', rolePrefix: prefix }))),
    );
    expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, shipped.files.length]);
    await withClient(db, async (c) => {
      expect(await count(c, 'select count(*) as n from pgwarden.migrations')).toBe(shipped.files.length);
      expect(
        await count(c, `select count(*) as n from logs.notification_log where event_type = 'pgwarden.installed'`),
      ).toBe(1);
    });
  });

  it('lets installers started a few milliseconds apart all succeed, whatever they see mid-install', async () => {
    for (const gaps of [
      [0, 3, 9],
      [0, 12, 25],
      [0, 1, 40],
    ]) {
      const db = await emptyDatabase();
      const prefix = uniquePrefix();
      const results = await Promise.all(
        gaps.map(async (ms) => {
          await new Promise((r) => setTimeout(r, ms));
          return withClient(db, (c) => install(c, { tier: 'advanced', rolePrefix: prefix }));
        }),
      );
      expect(results.reduce((n, r) => n + r.applied.length, 0)).toBe(shipped.files.length);
    }
  });

  it('treats schemas another installer is building as its own, not as a conflict', async () => {
    // The state a second installer can see before it takes the lock: core/0001 committed by the
    // first (schemas owned by the owner role), while its own plan still says "install from 0".
    const db = await emptyDatabase();
    const prefix = uniquePrefix();
    const firstFileOnly = {
      ...shipped,
      files: shipped.files.filter((f) => f.module === 'core' && f.version === 1),
    };
    await withClient(db, async (c) => {
      await install(c, { tier: 'advanced', rolePrefix: prefix, catalog: firstFileOnly });
      await c.query(`comment on table pgwarden.installation is null`);
      const stalePlan = planInstall(shipped, [], undefined, 'advanced');
      await expect(refuseForeignSchemas(c, stalePlan, shipped, roleNames(prefix))).resolves.toBeUndefined();
      await c.query('create table pgwarden.not_ours (id int)');
      await c.query(`alter schema pgwarden owner to current_user`);
      await expect(refuseForeignSchemas(c, stalePlan, shipped, roleNames(prefix))).rejects.toMatchObject({
        code: 'PW213',
      });
    });
  });

  it('prints the plan on a dry run and changes nothing', async () => {
    const db = await emptyDatabase();
    await withClient(db, async (c) => {
      const result = await install(c, { tier: 'basic', rolePrefix: uniquePrefix(), dryRun: true });
      expect(result.dryRun).toBe(true);
      expect(result.plan.files.length).toBeGreaterThan(0);
      expect(await schemaExists(c, 'pgwarden')).toBe(false);
    });
  });

  it('records the tier and never lowers it', async () => {
    const db = await installedDatabase();
    await withClient(db, async (c) => {
      const result = await install(c, { tier: 'basic', rolePrefix: 'pgw_' });
      expect(result.plan.targetTier).toBe('advanced');
      expect((await getStatus(c, { rolePrefix: 'pgw_', tier: 'basic' })).tier).toBe('advanced');
    });
  });

  it('refuses a released file that was edited after install (PW202) before changing anything', async () => {
    const db = await installedDatabase();
    await withClient(db, async (c) => {
      const edited = {
        ...shipped,
        files: shipped.files.map((f, i) =>
          i === 0 ? { ...f, sql: `${f.sql}\n-- edited`, sha256: 'a'.repeat(64) } : f,
        ),
      };
      const err = await rejection(install(c, { tier: 'advanced', rolePrefix: 'pgw_', catalog: edited }));
      expect(err.code).toBe('PW202');
      expect(err.message).toContain(shipped.files[0]!.name);
    });
  });

  it('refuses a ledger row whose hash was altered in the database (PW202)', async () => {
    const db = await installedDatabase();
    await withClient(db, async (c) => {
      await c.query(`update pgwarden.migrations set sha256 = $1 where module = 'core' and version = 2`, [
        '0'.repeat(64),
      ]);
      expect((await rejection(install(c, { tier: 'advanced', rolePrefix: 'pgw_' }))).code).toBe('PW202');
    });
  });

  it('refuses a database newer than the code (PW203)', async () => {
    const db = await installedDatabase();
    await withClient(db, async (c) => {
      const older = {
        ...shipped,
        files: shipped.files.filter((f) => !(f.module === 'core' && f.version === 2)),
      };
      const err = await rejection(install(c, { tier: 'advanced', rolePrefix: 'pgw_', catalog: older }));
      expect(err.code).toBe('PW203');
      expect(err.message).toContain('newer than the code');
    });
  });

  it('refuses a ledger with a gap (PW210)', async () => {
    const db = await installedDatabase();
    await withClient(db, async (c) => {
      await c.query(`delete from pgwarden.migrations where module = 'core' and version = 1`);
      expect((await rejection(install(c, { tier: 'advanced', rolePrefix: 'pgw_' }))).code).toBe('PW210');
    });
  });

  it('refuses another role prefix than the one installed (PW204)', async () => {
    const db = await installedDatabase();
    await withClient(db, async (c) => {
      expect((await rejection(install(c, { tier: 'advanced', rolePrefix: 'other_' }))).code).toBe('PW204');
    });
  });

  it('rolls a failing file back whole and keeps the files before it (PW205 with the file and line)', async () => {
    const db = await emptyDatabase();
    const catalog = catalogWithFixture([
      'create schema fixture;\ncreate table fixture.a (id int);',
      'create table fixture.b (id int);\nselect no_such_function();',
    ]);
    await withClient(db, async (c) => {
      const err = await rejection(install(c, { tier: 'advanced', rolePrefix: uniquePrefix(), catalog }));
      expect(err.code).toBe('PW205');
      expect(err.sqlState).toBe('42883');
      expect(err.message).toContain('sql/fixture/0002_fixture_2.sql:2');
      const ledger = await readLedger(c);
      expect(ledger.filter((e) => e.module === 'fixture').map((e) => e.version)).toEqual([1]);
      expect((await c.query(`select to_regclass('fixture.a') as a, to_regclass('fixture.b') as b`)).rows[0]).toEqual({
        a: 'fixture.a',
        b: null,
      });
    });
  });

  it('stops between files when aborted, and the next install completes', async () => {
    const db = await emptyDatabase();
    const prefix = uniquePrefix();
    const catalog = catalogWithFixture([
      'create schema fixture;',
      'select pg_sleep(0.3);',
      'create table fixture.done (id int);',
    ]);
    const controller = new AbortController();
    await withClient(db, async (c) => {
      const err = await rejection(
        install(c, {
          tier: 'advanced',
          rolePrefix: prefix,
          catalog,
          signal: controller.signal,
          onEvent: (e) => {
            if (e.kind === 'install-file-started' && e.module === 'fixture' && e.version === 2) controller.abort();
          },
        }),
      );
      expect(err.code).toBe('PW002');
      expect((await readLedger(c)).filter((e) => e.module === 'fixture').map((e) => e.version)).toEqual([1, 2]);
      const resumed = await install(c, { tier: 'advanced', rolePrefix: prefix, catalog });
      expect(resumed.applied.map((f) => `${f.module}/${f.version}`)).toEqual(['fixture/3']);
    });
  });

  it('leaves a consistent version when the installer connection dies mid-file', async () => {
    const db = await emptyDatabase();
    const prefix = uniquePrefix();
    const catalog = catalogWithFixture([
      'create schema fixture;',
      'create table fixture.half (id int);\nselect pg_sleep(30);',
    ]);
    const victim = await connect(db);
    const pid = (await victim.query('select pg_backend_pid() as pid')).rows[0].pid;
    const running = install(victim, {
      tier: 'advanced',
      rolePrefix: prefix,
      catalog,
      onEvent: (e) => {
        if (e.kind === 'install-file-started' && e.module === 'fixture' && e.version === 2) {
          setTimeout(
            () => void withClient(adminConnection(), (a) => a.query('select pg_terminate_backend($1)', [pid])),
            200,
          );
        }
      },
    });
    await expect(running).rejects.toBeTruthy();
    await victim.end().catch(() => undefined);
    await withClient(db, async (c) => {
      expect((await readLedger(c)).filter((e) => e.module === 'fixture').map((e) => e.version)).toEqual([1]);
      expect((await c.query(`select to_regclass('fixture.half') as t`)).rows[0].t).toBeNull();
      const quick = catalogWithFixture(['create schema fixture;', 'create table fixture.half (id int);']);
      // The same version 2 with other SQL is refused only once recorded; here it was never recorded.
      const resumed = await install(c, { tier: 'advanced', rolePrefix: prefix, catalog: quick });
      expect(resumed.applied.map((f) => `${f.module}/${f.version}`)).toEqual(['fixture/2']);
    });
  });

  it('refuses a missing required extension before changing anything (PW201)', async () => {
    const db = await emptyDatabase();
    const catalog = catalogWithFixture(['create schema fixture;'], {
      extensions: ['pgwarden_no_such_extension'],
    });
    await withClient(db, async (c) => {
      const err = await rejection(install(c, { tier: 'advanced', rolePrefix: uniquePrefix(), catalog }));
      expect(err.code).toBe('PW201');
      expect(await schemaExists(c, 'pgwarden')).toBe(false);
    });
  });

  it("refuses to adopt a schema that holds objects that are not pgwarden's (PW213)", async () => {
    const db = await emptyDatabase();
    await withClient(db, async (c) => {
      await c.query('create schema logs; create table logs.app_requests (id int)');
      const err = await rejection(install(c, { tier: 'advanced', rolePrefix: uniquePrefix() }));
      expect(err.code).toBe('PW213');
      expect(await schemaExists(c, 'pgwarden')).toBe(false);
    });
  });

  it('refuses a role without CREATEROLE before changing anything (PW200)', async () => {
    const db = await emptyDatabase();
    const nopriv = await loginWithCreate(db, 'nopriv');
    const login = nopriv.user!;
    await withClient(nopriv, async (c) => {
      const err = await rejection(install(c, { tier: 'advanced', rolePrefix: uniquePrefix() }));
      expect(err.code).toBe('PW200');
      expect(err.message).toContain(login);
    });
    await withClient(db, async (c) => expect(await schemaExists(c, 'pgwarden')).toBe(false));
  });

  it('installs as a non-superuser database owner with CREATEROLE, as on managed services', async () => {
    const db = await emptyDatabase();
    const login = `dbo_${uniquePrefix()}`;
    const prefix = uniquePrefix();
    await withClient(adminConnection(), async (c) => {
      await c.query(`create role ${quoteIdent(login)} login createrole password 'pw-dbo'`);
      await c.query(`alter database ${quoteIdent(db.database!)} owner to ${quoteIdent(login)}`);
    });
    await withClient({ ...db, user: login, password: 'pw-dbo' }, async (c) => {
      const result = await install(c, { tier: 'advanced', rolePrefix: prefix });
      expect(result.applied.length).toBe(shipped.files.length);
      const status = await getStatus(c, { rolePrefix: prefix, tier: 'advanced' });
      expect(status.connectedAs.superuser).toBe(false);
      expect(status.modules.every((m) => m.state === 'installed')).toBe(true);
    });
  });

  it('upgrades a core-only install made by a CREATEROLE owner to every module, adding the auth service role', async () => {
    const db = await emptyDatabase();
    const login = `dbo_${uniquePrefix()}`;
    const prefix = uniquePrefix();
    await withClient(adminConnection(), async (c) => {
      await c.query(`create role ${quoteIdent(login)} login createrole password 'pw-dbo'`);
      await c.query(`alter database ${quoteIdent(db.database!)} owner to ${quoteIdent(login)}`);
    });
    const coreOnly = {
      modules: shipped.modules.filter((m) => m.name === 'core'),
      files: shipped.files.filter((f) => f.module === 'core'),
    };
    await withClient({ ...db, user: login, password: 'pw-dbo' }, async (c) => {
      await install(c, { tier: 'advanced', rolePrefix: prefix, catalog: coreOnly });
      // PostgreSQL 16+ made the creator an ADMIN member of the core roles: not a planted role
      const result = await install(c, { tier: 'advanced', rolePrefix: prefix });
      expect(result.applied.map((f) => f.module)).toEqual(
        // in install order: auth's files, then audit's
        shipped.modules
          .filter((m) => m.name !== 'core')
          .flatMap((m) => shipped.files.filter((f) => f.module === m.name).map((f) => f.module)),
      );
      const roles = await c.query('select 1 from pg_roles where rolname = $1', [`${prefix}auth_service`]);
      expect(roles.rows).toHaveLength(1);
    });
  });

  it('refuses a planted auth service role that someone can hand on (PW216), and accepts a plain member', async () => {
    const prefix = uniquePrefix();
    const planter = `planter_${uniquePrefix()}`;
    await withClient(adminConnection(), async (c) => {
      await c.query(`create role ${quoteIdent(`${prefix}auth_service`)} nologin noinherit`);
      await c.query(`create role ${quoteIdent(planter)} login`);
      await c.query(`grant ${quoteIdent(`${prefix}auth_service`)} to ${quoteIdent(planter)} with admin option`);
    });
    const db = await emptyDatabase();
    await withClient(db, async (c) => {
      const err = await rejection(install(c, { tier: 'advanced', rolePrefix: prefix }));
      expect(err.code).toBe('PW216');
      expect(err.detail).toContain(`has member ${planter} (with admin option)`);
    });
    await withClient(adminConnection(), async (c) => {
      await c.query(`revoke admin option for ${quoteIdent(`${prefix}auth_service`)} from ${quoteIdent(planter)}`);
    });
    await withClient(db, async (c) => {
      await expect(install(c, { tier: 'advanced', rolePrefix: prefix })).resolves.toBeDefined();
    });
  });

  it('refuses pre-existing roles that someone else planted with members or attributes (PW216)', async () => {
    const db = await emptyDatabase();
    const prefix = uniquePrefix();
    const mallory = `mallory_${uniquePrefix()}`;
    await withClient(adminConnection(), async (c) => {
      await c.query(`create role ${quoteIdent(mallory)} login createrole password 'pw-mallory'`);
    });
    // A CREATEROLE login creates the owner role first, keeping a way into it.
    await withClient({ ...adminConnection(), user: mallory, password: 'pw-mallory' }, async (c) => {
      await c.query(`create role ${quoteIdent(`${prefix}owner`)} nologin`);
      await c.query(`grant ${quoteIdent(`${prefix}owner`)} to ${quoteIdent(mallory)}`).catch(() => undefined);
    });
    await withClient(db, async (c) => {
      const err = await rejection(install(c, { tier: 'advanced', rolePrefix: prefix }));
      expect(err.code).toBe('PW216');
      expect(err.message).toContain(`${prefix}owner`);
      expect(await schemaExists(c, 'pgwarden')).toBe(false);
    });
  });

  it('refuses a pre-existing authenticator that inherits or a per-request role with extra members (PW216)', async () => {
    const db = await emptyDatabase();
    const prefix = uniquePrefix();
    await withClient(adminConnection(), async (c) => {
      await c.query(`create role ${quoteIdent(`${prefix}authenticator`)} login inherit`);
      await c.query(`create role ${quoteIdent(`${prefix}app_user`)} nologin`);
      await c.query(`create role ${quoteIdent(`${prefix}intruder`)} login`);
      await c.query(`grant ${quoteIdent(`${prefix}app_user`)} to ${quoteIdent(`${prefix}intruder`)}`);
    });
    await withClient(db, async (c) => {
      const err = await rejection(install(c, { tier: 'advanced', rolePrefix: prefix }));
      expect(err.code).toBe('PW216');
      expect(err.detail).toContain(`${prefix}authenticator: inherits`);
      expect(err.detail).toContain(`has member ${prefix}intruder`);
    });
  });

  it('refuses a planted table that only claims to be kept by pgwarden (PW213)', async () => {
    const db = await emptyDatabase();
    await withClient(await loginWithCreate(db, 'planter'), async (c) => {
      await c.query('create schema logs');
      await c.query('create table logs.notification_log (id bigint)');
      await c.query(`comment on table logs.notification_log is 'pgwarden: security events'`);
      await c.query('grant all on logs.notification_log to public');
    });
    await withClient(db, async (c) => {
      const err = await rejection(install(c, { tier: 'advanced', rolePrefix: uniquePrefix() }));
      expect(err.code).toBe('PW213');
      expect(await schemaExists(c, 'pgwarden')).toBe(false);
    });
  });

  it("stops waiting for another installer's lock at once when aborted (PW002), and times out with PW207", async () => {
    const db = await installedDatabase();
    const holder = await connect(db);
    try {
      await holder.query(`select pg_advisory_lock(hashtextextended('pgwarden.install', 0))`);
      const controller = new AbortController();
      const started = Date.now();
      setTimeout(() => controller.abort(), 200);
      await withClient(db, async (c) => {
        await c.query(`set statement_timeout = '45s'`);
        const err = await rejection(install(c, { tier: 'advanced', rolePrefix: 'pgw_', signal: controller.signal }));
        expect(err.code).toBe('PW002');
        expect(Date.now() - started).toBeLessThan(5_000);
        expect((await rejection(install(c, { tier: 'advanced', rolePrefix: 'pgw_', lockTimeoutMs: 300 }))).code).toBe(
          'PW207',
        );
        // The library restores the caller's session settings.
        expect((await c.query('show statement_timeout')).rows[0].statement_timeout).toBe('45s');
      });
    } finally {
      await holder.end();
    }
  });
});

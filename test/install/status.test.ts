import { describe, expect, it } from 'vitest';
import { quoteIdent, withClient } from '../../src/db/client.js';
import { captureWal, setupWalCapture } from '../../src/audit/capture/index.js';
import { defaultCatalog, getStatus, install } from '../../src/install/index.js';
import { catalogWithFixture } from '../helpers/catalog.js';
import { adminConnection, emptyDatabase, installedDatabase, serverMajor, uniquePrefix } from '../helpers/db.js';

describe('getStatus', () => {
  it('shows tier, every module current, the server version and the tracked extensions', async () => {
    const db = await installedDatabase();
    const status = await withClient(db, (c) => getStatus(c, { rolePrefix: 'pgw_', tier: 'advanced' }));
    expect(status).toMatchObject({
      installed: true,
      tier: 'advanced',
      rolePrefix: 'pgw_',
      server: { major: serverMajor(), supported: true },
    });
    expect(status.modules.map((m) => [m.module, m.state, m.installedVersion])).toEqual(
      defaultCatalog().modules.map((m) => [
        m.name,
        'installed',
        defaultCatalog().files.filter((f) => f.module === m.name).length,
      ]),
    );
    expect(status.extensions.map((e) => e.name)).toEqual(['pgcrypto', 'pgaudit', 'pg_stat_statements']);
    const pgcrypto = status.extensions.find((e) => e.name === 'pgcrypto');
    expect(pgcrypto?.installedVersion).toBeTruthy();
    expect(status.extensions.find((e) => e.name === 'pg_stat_statements')?.preloaded).toBe(true);
    expect(status.roles.every((r) => r.exists)).toBe(true);
    expect(status.retainedTables).toEqual(['logs.notification_log']);
  });

  it('shows audit capture health: tables per mode, DDL event triggers, the WAL capture slot and its problems', async () => {
    const db = await installedDatabase();
    await withClient(db, async (c) => {
      const read = () => getStatus(c, { rolePrefix: 'pgw_', tier: 'advanced' });
      // The template database was installed by a superuser, so DDL capture is on.
      expect((await read()).audit).toEqual({
        tables: { trigger: 0, wal: 0 },
        ddlCapture: { ok: true, broken: [] },
        walCapture: null,
      });
      await setupWalCapture(c);
      await c.query('create table public.st (id int primary key); create table public.st2 (id int primary key)');
      await c.query(`select audit.enable('public.st'); select audit.enable('public.st2', '{}', '{}', 'trigger')`);
      await c.query('alter table public.st replica identity default');
      await captureWal(c);
      await c.query('alter event trigger pgwarden_ddl_end_1_record disable');
      const status = await read();
      expect(status.audit).toMatchObject({
        tables: { trigger: 1, wal: 1 },
        ddlCapture: { ok: false, broken: ['pgwarden_ddl_end_1_record'] },
        walCapture: { slotStatus: 'reserved', problems: { 'public.st': ['replica_identity'] } },
      });
      await c.query('alter event trigger pgwarden_ddl_end_1_record enable always');
      await c.query(`select pg_drop_replication_slot(slot_name) from audit.wal_state`);
      expect((await read()).audit?.walCapture?.slotStatus).toBe('missing');
    });
  });

  it.runIf(process.env.PGWARDEN_EXPECT_PGAUDIT === '1')(
    'reports pgaudit available and preloaded where the server loads it',
    async () => {
      const db = await installedDatabase();
      const status = await withClient(db, (c) => getStatus(c, { rolePrefix: 'pgw_', tier: 'advanced' }));
      expect(status.extensions.find((e) => e.name === 'pgaudit')).toMatchObject({
        available: true,
        preloaded: true,
      });
    },
  );

  it('lists pending upgrades when the code ships newer files', async () => {
    const db = await installedDatabase();
    const newer = catalogWithFixture(['create schema fixture;', 'create table fixture.t (id int);']);
    const status = await withClient(db, (c) => getStatus(c, { rolePrefix: 'pgw_', tier: 'advanced', catalog: newer }));
    expect(status.modules.find((m) => m.module === 'fixture')).toMatchObject({
      state: 'not-installed',
      pending: ['0001_fixture_1.sql', '0002_fixture_2.sql'],
    });
    await withClient(db, (c) =>
      install(c, {
        tier: 'advanced',
        rolePrefix: 'pgw_',
        catalog: { ...newer, files: newer.files.slice(0, -1) },
      }),
    );
    const after = await withClient(db, (c) => getStatus(c, { rolePrefix: 'pgw_', tier: 'advanced', catalog: newer }));
    expect(after.modules.find((m) => m.module === 'fixture')).toMatchObject({
      state: 'upgrade-pending',
      installedVersion: 1,
      pending: ['0002_fixture_2.sql'],
    });
  });

  it('works for a login that holds only the auditor role', async () => {
    const db = await installedDatabase();
    const login = `aud_${uniquePrefix()}`;
    await withClient(adminConnection(), (c) =>
      c.query(`create role ${quoteIdent(login)} login password 'pw-aud' in role pgw_auditor`),
    );
    const status = await withClient({ ...db, user: login, password: 'pw-aud' }, (c) =>
      getStatus(c, { rolePrefix: 'pgw_', tier: 'advanced' }),
    );
    expect(status.installed).toBe(true);
    expect(status.modules.every((m) => m.state === 'installed' && m.pending.length === 0)).toBe(true);
  });

  it('says what needs a superuser, and marks preload unknown for a role that cannot read it', async () => {
    const db = await emptyDatabase();
    const login = `ro_${uniquePrefix()}`;
    await withClient(adminConnection(), (c) => c.query(`create role ${quoteIdent(login)} login password 'pw-ro'`));
    const status = await withClient({ ...db, user: login, password: 'pw-ro' }, (c) =>
      getStatus(c, { rolePrefix: uniquePrefix(), tier: 'basic' }),
    );
    expect(status.installed).toBe(false);
    expect(status.extensions.every((e) => e.preloaded === undefined)).toBe(true);
    expect(status.needsSuperuser.join('\n')).toContain('pg_read_all_settings');
    expect(status.needsSuperuser.join('\n')).toContain('CREATEROLE');
  });
});

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UntimedEvent } from '../../src/monitor/event.js';
import { RoleAttributes } from '../../src/monitor/role-attributes.js';
import { loadRules, RuleEngine } from '../../src/monitor/rules/index.js';
import { quoteIdent } from '../../src/db/index.js';
import { uniquePrefix } from '../helpers/db.js';
import { adminConnection, installedDatabase } from '../helpers/db.js';

const login = (user: string, fields: UntimedEvent['fields'] = {}): UntimedEvent => ({
  id: `log:x:${user}`,
  source: 'server-log',
  type: 'pg.login',
  severity: 'info',
  user,
  dbUser: user,
  addr: '198.51.100.4',
  fields,
});

describe('RoleAttributes', () => {
  let pool: pg.Pool;
  beforeAll(async () => {
    pool = new pg.Pool({ ...(await installedDatabase()), max: 1 });
  });
  afterAll(async () => {
    await pool.end();
  });

  it('marks server-log logins of superuser roles so the remote-superuser rule can see them', async () => {
    const roles = new RoleAttributes(pool);
    await roles.refresh();
    const [superuser, plain, sampled] = roles.mark([
      login(adminConnection().user),
      login('pgw_app_user'),
      login(adminConnection().user, { superuser: false }),
    ]);
    expect(superuser?.fields.superuser).toBe(true);
    expect(plain?.fields.superuser).toBeUndefined();
    // A flag the source set itself (pg_stat_activity) is kept.
    expect(sampled?.fields.superuser).toBe(false);
  });

  it('reports a role that gained BYPASSRLS and a grant of a server-file role, which the pack raises as escalation [M-07]', async () => {
    const roles = new RoleAttributes(pool);
    const name = `${uniquePrefix()}mallory`;
    await pool.query(`create role ${quoteIdent(name)} nologin`);
    try {
      await roles.refresh();
      expect((await roles.changes()).filter((e) => e.fields.role === name || e.fields.member === name)).toEqual([]);
      await pool.query(`alter role ${quoteIdent(name)} bypassrls`);
      await pool.query(`grant pg_read_server_files to ${quoteIdent(name)}`);
      await pool.query(`grant pg_monitor to ${quoteIdent(name)}`);
      const mine = (await roles.changes()).filter((e) => e.fields.role === name || e.fields.member === name);
      expect(mine.map((e) => [e.type, e.fields.role, e.fields.attribute ?? e.fields.member])).toEqual(
        expect.arrayContaining([
          ['pg.role_changed', name, 'bypassrls'],
          ['pg.role_granted', 'pg_read_server_files', name],
          ['pg.role_granted', 'pg_monitor', name],
        ]),
      );
      expect(mine).toHaveLength(3);
      // Nothing changed since: nothing reported twice.
      expect((await roles.changes()).filter((e) => e.fields.role === name || e.fields.member === name)).toEqual([]);
      const engine = new RuleEngine({ rules: await loadRules(), clock: () => 1_000 });
      const fired = mine.flatMap((e) => engine.process({ ...e, time: 1_000 })).map((s) => s.dedupeKey);
      expect(fired.sort()).toEqual(
        [
          `pg-role-privilege-changed|fields.role=${name}|fields.attribute=bypassrls`,
          `pg-role-privilege-changed|fields.role=pg_read_server_files|fields.member=${name}`,
        ].sort(),
      );
    } finally {
      await pool.query(`drop role ${quoteIdent(name)}`);
    }
  });
});

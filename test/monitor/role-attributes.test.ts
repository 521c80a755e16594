import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UntimedEvent } from '../../src/monitor/event.js';
import { RoleAttributes } from '../../src/monitor/role-attributes.js';
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
});

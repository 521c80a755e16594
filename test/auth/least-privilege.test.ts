import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base32Decode, totpCode } from '../../src/auth/crypto/index.js';
import { quoteIdent } from '../../src/db/client.js';
import { ErrorCodes } from '../../src/errors/index.js';
import { type AuthFixture, authFixture, goodPassword, uniqueEmail } from '../helpers/auth.js';

// The service as it runs in production: a plain login that is only a member of pgw_auth_service.
let f: AuthFixture;
let svcPool: pg.Pool;
let adminPool: pg.Pool;

async function loginIn(role: string): Promise<pg.Pool> {
  const name = `svc_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await f.sql(`create role ${quoteIdent(name)} login password '${password}' in role ${quoteIdent(role)}`);
  const pool = new pg.Pool({ ...f.db, user: name, password, max: 4 });
  pool.on('error', () => undefined);
  return pool;
}

beforeAll(async () => {
  f = await authFixture();
  svcPool = await loginIn('pgw_auth_service');
  adminPool = await loginIn('pgw_security_admin');
});
afterAll(async () => {
  await svcPool?.end();
  await adminPool?.end();
  await f?.close();
});

describe('least privilege', () => {
  it('runs every flow as a login that is only a member of pgw_auth_service', async () => {
    const auth = f.withOptions({ pool: svcPool, adminRequiresMfa: false });
    expect((await auth.jwks()).keys.length).toBeGreaterThan(0);
    const email = uniqueEmail('lp');
    const reg = await auth.register({ email, password: goodPassword, tenant: 'acme', roles: ['admin'] });
    expect(reg.created).toBe(true);
    const login = await auth.login({ email, password: goodPassword }, { source: '192.0.2.9' });
    if (login.kind !== 'session') throw new Error('expected a session');
    const me = await auth.authenticate(login.accessToken);
    const refreshed = await auth.refresh(login.refreshToken);
    expect(await auth.listSessions(me)).toHaveLength(1);
    const enrol = await auth.enrolTotp(me, { currentPassword: goodPassword });
    const activated = await auth.activateTotp(me, {
      code: totpCode(base32Decode(enrol.secret), Date.now()),
    });
    const mfa = await auth.login({ email, password: goodPassword });
    expect(mfa.kind).toBe('mfa_required');
    if (mfa.kind !== 'mfa_required') return;
    const aal2 = await auth.verifyMfa({ mfaToken: mfa.mfaToken, recoveryCode: activated.recoveryCodes[0]! });
    const admin = await auth.authenticate(aal2.accessToken);
    const changed = await auth.changePassword(admin, {
      currentPassword: goodPassword,
      newPassword: 'another fine passphrase',
    });
    await expect(auth.refresh(refreshed.refreshToken)).rejects.toMatchObject({ code: ErrorCodes.AUTH_TOKEN_INVALID });
    const other = await auth.register({ email: uniqueEmail('lp'), password: goodPassword, tenant: 'acme' });
    await auth.setUserStatus(await auth.authenticate(changed.accessToken), other.userId!, 'disabled', 'test');
    expect(await auth.rotateSigningKey()).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(await auth.store.prune(30)).toHaveProperty('sessions');
  });

  it('lets a security admin manage users but not log anyone in on its word', async () => {
    const client = await adminPool.connect();
    try {
      const email = uniqueEmail('lp');
      const { rows } = await client.query<{ user_id: string }>(
        `select * from auth.register_user($1, auth.hash_password($2), 'acme')`,
        [email, 'an admin made this one'],
      );
      await client.query(`select auth.set_user_status($1, 'disabled', 'offboarding')`, [rows[0]!.user_id]);
      await expect(
        client.query(`select * from auth.finish_login($1, null, null, true, null)`, [email]),
      ).rejects.toMatchObject({
        code: '42501',
      });
    } finally {
      client.release();
    }
  });
});

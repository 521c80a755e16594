import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PasswordHasher } from '../../src/auth/password/index.js';
import { ErrorCodes } from '../../src/errors/index.js';
import { type AuthFixture, authFixture, uniqueEmail } from '../helpers/auth.js';

// SQL-only clients: auth.hash_password(), auth.register_user(), auth.authenticate_user(),
// auth.validate_session() and auth.logout() from plain SQL, bcrypt cost lowered for speed.
let f: AuthFixture;
beforeAll(async () => {
  f = await authFixture();
  await f.sql('update auth.policy set bcrypt_cost = 10');
});
afterAll(async () => {
  await f?.close();
});

const register = async (email: string, password: string) =>
  (
    await f.sql<{ user_id: string }>(`select * from auth.register_user($1, auth.hash_password($2), 'acme')`, [
      email,
      password,
    ])
  )[0]!.user_id;
const authenticate = (email: string, password: string) =>
  f.sql<{ session_id: string; session_token: string; aal: string }>(
    'select * from auth.authenticate_user($1, $2, $3)',
    [email, password, 'psql'],
  );

describe('SQL-only use', () => {
  it('registers, logs in, validates and logs out with plain SQL', async () => {
    const email = uniqueEmail('sql');
    await register(email, 'plain sql passphrase');
    const [s] = await authenticate(email, 'plain sql passphrase');
    expect(s!.session_token).toMatch(/^pgws_[A-Za-z0-9_-]{43}$/);
    expect(s!.aal).toBe('aal1');
    const valid = await f.sql('select * from auth.validate_session($1)', [s!.session_token]);
    expect(valid).toHaveLength(1);
    expect((await f.sql<{ ok: boolean }>('select auth.logout($1) as ok', [s!.session_token]))[0]!.ok).toBe(true);
    expect(await f.sql('select * from auth.validate_session($1)', [s!.session_token])).toHaveLength(0);
  });

  it('returns no row for an unknown user or a wrong password, and counts the failure', async () => {
    const email = uniqueEmail('sql');
    await register(email, 'plain sql passphrase');
    expect(await authenticate(email, 'wrong sql passphrase')).toHaveLength(0);
    expect(await authenticate(uniqueEmail('ghost'), 'plain sql passphrase')).toHaveLength(0);
    const rows = await f.sql<{ failures: number }>(
      `select failures from auth.throttle where scope = 'account_source' and key = sha256(auth._account_key($1) || auth._source_key(inet_client_addr()))`,
      [email],
    );
    expect(rows[0]!.failures).toBe(1);
  });

  it('throttles on the end user address the application passes, not on the shared connection', async () => {
    const email = uniqueEmail('sql');
    await register(email, 'plain sql passphrase');
    for (let i = 0; i < 10; i++) {
      await f.sql('select * from auth.authenticate_user($1, $2, null, $3)', [email, `wrong ${i}`, '192.0.2.50']);
      await f.sql(`update auth.throttle set retry_after = null where scope = 'account_source'`);
    }
    const attacker = await f.sql('select * from auth.authenticate_user($1, $2, null, $3)', [
      email,
      'plain sql passphrase',
      '192.0.2.50',
    ]);
    expect(attacker).toHaveLength(0);
    const victim = await f.sql('select * from auth.authenticate_user($1, $2, null, $3)', [
      email,
      'plain sql passphrase',
      '198.51.100.60',
    ]);
    expect(victim).toHaveLength(1);
  });

  it('does not truncate long passwords at 72 bytes the way plain bcrypt does', async () => {
    const email = uniqueEmail('sql');
    const long = 'x'.repeat(80) + 'the part after seventy-two bytes';
    await register(email, long);
    expect(await authenticate(email, 'x'.repeat(80) + 'a different tail after 72 bytes!')).toHaveLength(0);
    expect(await authenticate(email, long)).toHaveLength(1);
  });

  it('refuses a short password in auth.hash_password with PW301', async () => {
    await expect(f.sql(`select auth.hash_password('short')`)).rejects.toMatchObject({
      code: ErrorCodes.AUTH_PASSWORD_REJECTED,
    });
  });

  it('refuses a plaintext password where a hash is expected', async () => {
    await expect(
      f.sql(`select * from auth.register_user($1, 'my plain password', 'acme')`, [uniqueEmail('sql')]),
    ).rejects.toMatchObject({ code: ErrorCodes.AUTH_PASSWORD_REJECTED });
  });

  it('lets the service verify a SQL-made hash and upgrade it to argon2id', async () => {
    const email = uniqueEmail('sql');
    const userId = await register(email, 'made in sql, used in node');
    const r = await f.withOptions({ hasher: new PasswordHasher({ params: { memoryCost: 4096, timeCost: 1 } }) }).login({
      email,
      password: 'made in sql, used in node',
    });
    expect(r.kind).toBe('session');
    const [c] = await f.sql<{ algorithm: string }>('select algorithm from auth.credentials where user_id = $1', [
      userId,
    ]);
    expect(c!.algorithm).toBe('argon2id');
  });
});

describe('grants', () => {
  const asRole = async (role: string, sql: string, params: unknown[] = []) => {
    const client = await f.pool.connect();
    try {
      await client.query('begin');
      await client.query(`set local role ${role}`);
      return await client.query(sql, params);
    } finally {
      await client.query('rollback').catch(() => undefined);
      client.release();
    }
  };

  it('allows the auth service role to call the service functions', async () => {
    await expect(asRole('pgw_auth_service', `select * from auth.begin_login('a@b.c', null)`)).resolves.toBeDefined();
  });

  it('denies the security admin the functions that take the service at its word', async () => {
    for (const sql of [
      `select * from auth.begin_login('a@b.c', null)`,
      `select * from auth.finish_login('a@b.c', null, null, true, null)`,
      `select * from auth.mfa_complete('\\x00', 1, null, null)`,
      `select * from auth.active_signing_key()`,
    ]) {
      await expect(asRole('pgw_security_admin', sql)).rejects.toMatchObject({ code: '42501' });
    }
    await expect(
      asRole('pgw_security_admin', `select auth.set_user_status(gen_random_uuid(), 'active')`),
    ).rejects.toMatchObject({ code: 'PW309' });
  });

  it.each(['pgw_anon', 'pgw_app_user', 'pgw_auditor'])(
    'denies %s the service functions and the tables',
    async (role) => {
      await expect(asRole(role, `select * from auth.begin_login('a@b.c', null)`)).rejects.toMatchObject({
        code: '42501',
      });
      await expect(
        asRole(role, `select * from auth.register_user('a@b.c', '$argon2id$x$y', 't')`),
      ).rejects.toMatchObject({
        code: '42501',
      });
      await expect(asRole(role, 'select password_hash from auth.credentials')).rejects.toMatchObject({ code: '42501' });
      await expect(asRole(role, 'select token_digest from auth.refresh_tokens')).rejects.toMatchObject({
        code: '42501',
      });
    },
  );

  it.each(['pgw_anon', 'pgw_app_user'])('allows %s to validate and end an opaque session token', async (role) => {
    await expect(asRole(role, 'select * from auth.validate_session($1)', ['pgws_nope'])).resolves.toMatchObject({
      rowCount: 0,
    });
    await expect(asRole(role, 'select auth.logout($1)', ['pgws_nope'])).resolves.toBeDefined();
  });

  it('lets the auditor read sessions without token digests', async () => {
    await expect(asRole('pgw_auditor', 'select id, user_id, aal from auth.sessions')).resolves.toBeDefined();
    await expect(asRole('pgw_auditor', 'select token_digest from auth.sessions')).rejects.toMatchObject({
      code: '42501',
    });
  });
});

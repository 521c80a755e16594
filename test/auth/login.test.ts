import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../src/errors/index.js';
import { PasswordHasher } from '../../src/auth/password/index.js';
import { parsePhc } from '../../src/auth/password/index.js';
import { type AuthFixture, authFixture, fastArgon2, goodPassword, nextAddress, uniqueEmail } from '../helpers/auth.js';

let f: AuthFixture;
beforeAll(async () => {
  f = await authFixture();
});
afterAll(async () => {
  await f?.close();
});

const events = async (subject: string, type: string) =>
  f.sql<{ details: Record<string, unknown>; severity: string; source_addr: string | null }>(
    'select details, severity, host(source_addr) as source_addr from logs.notification_log where subject = $1 and event_type = $2 order by id',
    [subject, type],
  );

async function registered(password = goodPassword, tag = 'user') {
  const email = uniqueEmail(tag);
  const r = await f.auth.register({ email, password, tenant: 'acme' }, { source: '192.0.2.1' });
  expect(r.created).toBe(true);
  return { email, userId: r.userId! };
}

describe('register and login', () => {
  it('stores an argon2id hash at the OWASP parameters with a unique salt [P-01]', async () => {
    const strong = f.withOptions({ hasher: new PasswordHasher() });
    const a = uniqueEmail();
    const b = uniqueEmail();
    await strong.register({ email: a, password: goodPassword, tenant: 'acme' });
    await strong.register({ email: b, password: goodPassword, tenant: 'acme' });
    const rows = await f.sql<{ password_hash: string; algorithm: string; params: Record<string, number> }>(
      `select c.password_hash, c.algorithm, c.params from auth.credentials c join auth.users u on u.id = c.user_id
        where lower(u.email) in (lower($1), lower($2))`,
      [a, b],
    );
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      const phc = parsePhc(r.password_hash);
      expect(phc.id).toBe('argon2id');
      expect(Number(phc.params.m)).toBeGreaterThanOrEqual(19456);
      expect(Number(phc.params.t)).toBeGreaterThanOrEqual(2);
      expect(Number(phc.params.p)).toBeGreaterThanOrEqual(1);
      expect(phc.salt.length).toBeGreaterThanOrEqual(16);
      expect(r.algorithm).toBe('argon2id');
      expect(r.params).toMatchObject({ m: 19456, t: 2, p: 1 });
    }
    expect(rows[0]!.password_hash).not.toBe(rows[1]!.password_hash);
  });

  it('upgrades a below-policy hash on a successful login, in the same transaction, and never on a failure [P-02]', async () => {
    const { email, userId } = await registered();
    const hashOf = async () =>
      (await f.sql<{ h: string }>('select password_hash as h from auth.credentials where user_id = $1', [userId]))[0]!
        .h;
    const weak = await hashOf();
    expect(parsePhc(weak).params.m).toBe(fastArgon2.memoryCost);
    const stronger = f.withOptions({ hasher: new PasswordHasher({ params: { memoryCost: 8192, timeCost: 2 } }) });
    await expect(stronger.login({ email, password: 'wrong password here' })).rejects.toMatchObject({
      code: ErrorCodes.AUTH_INVALID_CREDENTIALS,
    });
    expect(await hashOf()).toBe(weak);
    const r = await stronger.login({ email, password: goodPassword });
    expect(r.kind).toBe('session');
    const upgraded = await hashOf();
    expect(upgraded).not.toBe(weak);
    expect(parsePhc(upgraded).params).toMatchObject({ m: 8192, t: 2 });
    expect(await events(userId, 'auth.password_rehashed')).toHaveLength(1);
  });

  it('rejects a 7-character password and accepts 8, 64 and 128 characters [P-04]', async () => {
    await expect(f.auth.register({ email: uniqueEmail(), password: 'zq9#vkp', tenant: 'acme' })).rejects.toMatchObject({
      code: ErrorCodes.AUTH_PASSWORD_REJECTED,
    });
    for (const password of ['zq9#vkpw', 'Qx7'.repeat(21) + 'z', 'Lm4$'.repeat(32)]) {
      const email = uniqueEmail();
      await f.auth.register({ email, password, tenant: 'acme' });
      expect((await f.auth.login({ email, password })).kind).toBe('session');
    }
  });

  it('accepts a passphrase without composition rules and rejects Password1! as blocklisted [P-05]', async () => {
    await registered('correct horse battery staple');
    const err = await f.auth.register({ email: uniqueEmail(), password: 'Password1!', tenant: 'acme' }).catch((e) => e);
    expect(err).toMatchObject({ code: ErrorCodes.AUTH_PASSWORD_REJECTED });
    expect(err.detail).toContain('blocklisted');
    expect(err.detail).not.toContain('composition');
  });

  it('rejects common passwords on register and on change [P-06]', async () => {
    for (const password of ['qwertyuiop', 'password1234']) {
      await expect(f.auth.register({ email: uniqueEmail(), password, tenant: 'acme' })).rejects.toMatchObject({
        code: ErrorCodes.AUTH_PASSWORD_REJECTED,
      });
    }
    const { email } = await registered();
    const login = await f.auth.login({ email, password: goodPassword });
    if (login.kind !== 'session') throw new Error('expected a session');
    const me = await f.auth.authenticate(login.accessToken);
    await expect(
      f.auth.changePassword(me, { currentPassword: goodPassword, newPassword: 'qwertyuiop' }),
    ).rejects.toMatchObject({ code: ErrorCodes.AUTH_PASSWORD_REJECTED });
  });

  it('rejects passwords containing the e-mail local part or the product name [P-07]', async () => {
    const email = uniqueEmail('marguerite');
    const local = email.split('@')[0]!;
    for (const password of [`${local}-and-more`, 'my pgwarden secret words']) {
      const err = await f.auth.register({ email, password, tenant: 'acme' }).catch((e) => e);
      expect(err).toMatchObject({ code: ErrorCodes.AUTH_PASSWORD_REJECTED });
      expect(err.detail).toContain('context_word');
    }
  });

  it('logs in with the NFD spelling of a password registered in NFC, spaces kept [P-08]', async () => {
    const nfc = 'pässwörd lang genug'.normalize('NFC');
    const nfd = nfc.normalize('NFD');
    expect(nfd).not.toBe(nfc);
    const { email } = await registered(nfc);
    expect((await f.auth.login({ email, password: nfd })).kind).toBe('session');
    await expect(f.auth.login({ email, password: nfc.replace(/ /g, '') })).rejects.toMatchObject({
      code: ErrorCodes.AUTH_INVALID_CREDENTIALS,
    });
  });

  it('refuses a case variant and a trailing-space variant [P-09]', async () => {
    const { email } = await registered();
    for (const password of [goodPassword.toUpperCase(), `${goodPassword} `, ` ${goodPassword}`]) {
      await expect(f.auth.login({ email, password })).rejects.toMatchObject({
        code: ErrorCodes.AUTH_INVALID_CREDENTIALS,
      });
    }
    expect((await f.auth.login({ email: email.toUpperCase(), password: goodPassword })).kind).toBe('session');
  });

  it('answers a duplicate registration like a new one and tells the owner through an event', async () => {
    const { email, userId } = await registered();
    const again = await f.auth.register({
      email: email.toUpperCase(),
      password: 'another fine passphrase',
      tenant: 'evil',
    });
    expect(again).toEqual({ created: false, userId: null });
    expect(await events(userId, 'auth.register_duplicate')).toHaveLength(1);
    // the original password still works, the new one does not
    expect((await f.auth.login({ email, password: goodPassword })).kind).toBe('session');
  });

  it('gives unknown, wrong-password and disabled logins the same error and one argon2 verification each', async () => {
    const { email, userId } = await registered();
    const disabled = await registered();
    await f.auth.setUserStatus(null, disabled.userId, 'disabled', 'test');
    const counting = new PasswordHasher({ params: fastArgon2 });
    let verifies = 0;
    const original = counting.verify.bind(counting);
    counting.verify = async (h, p) => {
      verifies += 1;
      return original(h, p);
    };
    const svc = f.withOptions({ hasher: counting });
    const attempts = [
      { email: uniqueEmail('nobody'), password: goodPassword },
      { email, password: 'not the right one' },
      { email: disabled.email, password: goodPassword },
    ];
    const errors = [];
    for (const a of attempts) errors.push(await svc.login(a, { source: nextAddress() }).catch((e) => e));
    expect(verifies).toBe(3);
    expect(new Set(errors.map((e) => JSON.stringify(e.toJSON())))).toHaveProperty('size', 1);
    const reasons = (
      await f.sql<{ reason: string }>(
        `select details->>'reason' as reason from logs.notification_log where event_type = 'auth.login_failed'
          and (subject = $1 or subject = $2 or subject is null) order by id desc limit 3`,
        [userId, disabled.userId],
      )
    ).map((r) => r.reason);
    expect(reasons.sort()).toEqual(['disabled', 'unknown_user', 'wrong_password']);
  });

  it('never logs the typed e-mail of an unknown account, only a digest', async () => {
    const typed = `secret-typed-in-the-email-field-${Date.now()}`;
    await f.auth.login({ email: typed, password: goodPassword }).catch(() => undefined);
    const rows = await f.sql(
      `select 1 from logs.notification_log where details::text like $1 or coalesce(subject, '') like $1`,
      [`%${typed}%`],
    );
    expect(rows).toHaveLength(0);
  });
});

import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base32Decode, recoveryCodeDigest, totpCode } from '../../src/auth/crypto/index.js';
import { ErrorCodes } from '../../src/errors/index.js';
import { PasswordHasher } from '../../src/auth/password/index.js';
import { type AuthFixture, authFixture, fastArgon2, goodPassword, uniqueEmail } from '../helpers/auth.js';

// One frozen clock for TOTP and JWT times: tests move it explicitly.
let clock = Date.now();
const now = () => clock;

let f: AuthFixture;
beforeAll(async () => {
  f = await authFixture({ now });
});
afterAll(async () => {
  await f?.close();
});

async function loggedIn(roles: string[] = []) {
  const email = uniqueEmail('mfa');
  await f.auth.register({ email, password: goodPassword, tenant: 'globex', roles });
  const r = await f.auth.login({ email, password: goodPassword });
  if (r.kind !== 'session') throw new Error('expected a session');
  return { email, tokens: r, me: await f.auth.authenticate(r.accessToken) };
}

async function enrolled() {
  const u = await loggedIn(['admin']);
  const enrol = await f.auth.enrolTotp(u.me, { currentPassword: goodPassword });
  const secret = base32Decode(enrol.secret);
  // The database accepts steps within two of its own clock: start one step behind it, and let
  // freshStep() move forward one step at a time.
  clock = Date.now() - 30_000;
  const activated = await f.auth.activateTotp(u.me, { code: totpCode(secret, clock) });
  return { ...u, secret, enrol, activated };
}

const freshStep = () => {
  clock += 30_000;
};

describe('TOTP second factor', () => {
  it('stores the TOTP secret sealed, never in clear', async () => {
    const { secret, me } = await enrolled();
    const [row] = await f.sql<{ s: Buffer }>('select secret_sealed as s from auth.mfa_factors where user_id = $1', [
      me.userId,
    ]);
    expect(row!.s.includes(secret)).toBe(false);
    expect(row!.s.length).toBeGreaterThan(secret.length + 16);
  });

  it('enrols with a first code, raises the session to aal2 and returns ten single-use recovery codes', async () => {
    const { activated, me } = await enrolled();
    expect(activated.recoveryCodes).toHaveLength(10);
    expect(activated.tokens.aal).toBe('aal2');
    expect(decodeJwt(activated.tokens.accessToken).aal).toBe('aal2');
    expect((await f.auth.authenticate(activated.tokens.accessToken)).aal).toBe('aal2');
    const stored = await f.sql<{ d: Buffer }>('select code_digest as d from auth.recovery_codes where user_id = $1', [
      me.userId,
    ]);
    expect(stored).toHaveLength(10);
    expect(JSON.stringify(stored)).not.toContain(activated.recoveryCodes[0]);
    // keyed digests: a leaked table cannot be searched offline with plain SHA-256
    const plain = recoveryCodeDigest(activated.recoveryCodes[0]!);
    expect(stored.some((r) => r.d.equals(plain))).toBe(false);
  });

  it('asks for the second factor after a right password and issues aal2 tokens for a valid code', async () => {
    const { email, secret } = await enrolled();
    freshStep();
    const first = await f.auth.login({ email, password: goodPassword });
    expect(first.kind).toBe('mfa_required');
    if (first.kind !== 'mfa_required') return;
    const tokens = await f.auth.verifyMfa({ mfaToken: first.mfaToken, code: totpCode(secret, clock) });
    expect(tokens.aal).toBe('aal2');
    expect(decodeJwt(tokens.accessToken)).toMatchObject({ aal: 'aal2' });
  });

  it('refuses a replayed code, even in a later login within the window', async () => {
    const { email, secret } = await enrolled();
    freshStep();
    const code = totpCode(secret, clock);
    const a = await f.auth.login({ email, password: goodPassword });
    const b = await f.auth.login({ email, password: goodPassword });
    if (a.kind !== 'mfa_required' || b.kind !== 'mfa_required') throw new Error('expected challenges');
    await f.auth.verifyMfa({ mfaToken: a.mfaToken, code });
    await expect(f.auth.verifyMfa({ mfaToken: b.mfaToken, code })).rejects.toMatchObject({
      code: ErrorCodes.AUTH_MFA_INVALID,
    });
  });

  it('lets two parallel uses of one code produce exactly one session', async () => {
    const { email, secret } = await enrolled();
    freshStep();
    const code = totpCode(secret, clock);
    const challenges = await Promise.all([1, 2].map(() => f.auth.login({ email, password: goodPassword })));
    const results = await Promise.allSettled(
      challenges.map((c) => (c.kind === 'mfa_required' ? f.auth.verifyMfa({ mfaToken: c.mfaToken, code }) : null)),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('accepts a recovery code once', async () => {
    const { email, activated } = await enrolled();
    const recovery = activated.recoveryCodes[3]!;
    const one = await f.auth.login({ email, password: goodPassword });
    if (one.kind !== 'mfa_required') throw new Error('expected a challenge');
    expect((await f.auth.verifyMfa({ mfaToken: one.mfaToken, recoveryCode: recovery.toUpperCase() })).aal).toBe('aal2');
    const two = await f.auth.login({ email, password: goodPassword });
    if (two.kind !== 'mfa_required') throw new Error('expected a challenge');
    await expect(f.auth.verifyMfa({ mfaToken: two.mfaToken, recoveryCode: recovery })).rejects.toMatchObject({
      code: ErrorCodes.AUTH_MFA_INVALID,
    });
  });

  it('kills a challenge after five wrong codes', async () => {
    const { email, secret } = await enrolled();
    freshStep();
    const c = await f.auth.login({ email, password: goodPassword });
    if (c.kind !== 'mfa_required') throw new Error('expected a challenge');
    for (let i = 0; i < 5; i++) {
      await expect(f.auth.verifyMfa({ mfaToken: c.mfaToken, code: '000000' })).rejects.toMatchObject({
        code: ErrorCodes.AUTH_MFA_INVALID,
      });
    }
    await expect(f.auth.verifyMfa({ mfaToken: c.mfaToken, code: totpCode(secret, clock) })).rejects.toMatchObject({
      code: ErrorCodes.AUTH_MFA_INVALID,
    });
  });

  it('lets an admin who logged in with a second factor act on another user', async () => {
    const { email, secret } = await enrolled();
    const victim = await loggedIn();
    freshStep();
    const c = await f.auth.login({ email, password: goodPassword });
    if (c.kind !== 'mfa_required') throw new Error('expected a challenge');
    const admin = await f.auth.authenticate(
      (await f.auth.verifyMfa({ mfaToken: c.mfaToken, code: totpCode(secret, clock) })).accessToken,
    );
    expect(admin.aal).toBe('aal2');
    expect(await f.auth.revokeUserSessions(admin, victim.me.userId)).toBe(1);
  });

  it('needs the current password to enrol, so a stolen access token cannot bind a factor', async () => {
    const u = await loggedIn();
    await expect(f.auth.enrolTotp(u.me, { currentPassword: 'not the password' })).rejects.toMatchObject({
      code: ErrorCodes.AUTH_INVALID_CREDENTIALS,
    });
    expect(await f.sql('select 1 from auth.mfa_factors where user_id = $1', [u.me.userId])).toHaveLength(0);
  });

  it('ends every older session when a factor is activated, and opens a new aal2 one', async () => {
    const u = await loggedIn();
    const other = await f.auth.login({ email: u.email, password: goodPassword });
    if (other.kind !== 'session') throw new Error('expected a session');
    const enrol = await f.auth.enrolTotp(u.me, { currentPassword: goodPassword });
    const activated = await f.auth.activateTotp(u.me, { code: totpCode(base32Decode(enrol.secret), clock) });
    expect(activated.tokens.sessionId).not.toBe(u.tokens.sessionId);
    for (const old of [u.tokens, other]) {
      await expect(f.auth.authenticate(old.accessToken)).rejects.toMatchObject({
        code: ErrorCodes.AUTH_ACCESS_TOKEN_INVALID,
      });
      await expect(f.auth.refresh(old.refreshToken)).rejects.toMatchObject({ code: ErrorCodes.AUTH_TOKEN_INVALID });
    }
    expect((await f.auth.authenticate(activated.tokens.accessToken)).aal).toBe('aal2');
  });

  it('steps an aal1 session up into a new aal2 session, the old tokens ending', async () => {
    const { activated, secret } = await enrolled();
    // an aal1 session of an enrolled user (one that predates a policy change, say)
    await f.sql(`update auth.sessions set aal = 'aal1' where id = $1`, [activated.tokens.sessionId]);
    const aal1 = await f.auth.authenticate(activated.tokens.accessToken);
    expect(aal1.aal).toBe('aal1');
    freshStep();
    const up = await f.auth.stepUp(aal1, { code: totpCode(secret, clock) });
    expect(up.aal).toBe('aal2');
    expect(up.sessionId).not.toBe(aal1.sessionId);
    await expect(f.auth.refresh(activated.tokens.refreshToken)).rejects.toMatchObject({
      code: ErrorCodes.AUTH_TOKEN_INVALID,
    });
    expect(decodeJwt((await f.auth.refresh(up.refreshToken)).accessToken).aal).toBe('aal2');
  });

  it('locks the second factor after 10 wrong codes, across fresh logins, and keeps counting the password step', async () => {
    const { email, secret, me } = await enrolled();
    const source = '192.0.2.77';
    for (let i = 0; i < 10; i++) {
      const c = await f.auth.login({ email, password: goodPassword }, { source });
      if (c.kind !== 'mfa_required') throw new Error('expected a challenge');
      await expect(f.auth.verifyMfa({ mfaToken: c.mfaToken, code: '000000' }, { source })).rejects.toMatchObject({
        code: ErrorCodes.AUTH_MFA_INVALID,
      });
      // stay below the password step's delay: the attacker would rotate addresses
      await f.sql(`update auth.throttle set retry_after = null where scope = 'account_source'`);
    }
    freshStep();
    const c = await f.auth.login({ email, password: goodPassword }, { source: '192.0.2.78' });
    if (c.kind !== 'mfa_required') throw new Error('expected a challenge');
    await expect(f.auth.verifyMfa({ mfaToken: c.mfaToken, code: totpCode(secret, clock) })).rejects.toMatchObject({
      code: ErrorCodes.AUTH_MFA_INVALID,
    });
    const events = await f.sql<{ event_type: string }>(
      `select event_type from logs.notification_log where subject = $1 and event_type in ('auth.mfa_locked', 'auth.mfa_throttled')`,
      [me.userId],
    );
    expect(events.map((e) => e.event_type)).toEqual(['auth.mfa_locked', 'auth.mfa_throttled']);
    const pair = await f.sql<{ failures: number }>(
      `select failures from auth.throttle where scope = 'account_source'
        and key = sha256(auth._account_key($1) || auth._source_key($2::inet))`,
      [email, source],
    );
    expect(pair[0]!.failures).toBe(10);
  });

  it('counts wrong step-up codes toward the same lock', async () => {
    const { activated, secret } = await enrolled();
    await f.sql(`update auth.sessions set aal = 'aal1' where id = $1`, [activated.tokens.sessionId]);
    const aal1 = await f.auth.authenticate(activated.tokens.accessToken);
    for (let i = 0; i < 10; i++) {
      await expect(f.auth.stepUp(aal1, { code: '111111' })).rejects.toMatchObject({
        code: ErrorCodes.AUTH_MFA_INVALID,
      });
    }
    freshStep();
    await expect(f.auth.stepUp(aal1, { code: totpCode(secret, clock) })).rejects.toMatchObject({
      code: ErrorCodes.AUTH_MFA_INVALID,
    });
  });

  it('keeps recovery codes working while TOTP is locked, and a password reset unlocks TOTP', async () => {
    const { email, secret, activated, me } = await enrolled();
    for (let i = 0; i < 2; i++) {
      const c = await f.auth.login({ email, password: goodPassword }, { source: `192.0.2.${90 + i}` });
      if (c.kind !== 'mfa_required') throw new Error('expected a challenge');
      for (let j = 0; j < 5; j++)
        await f.auth.verifyMfa({ mfaToken: c.mfaToken, code: '999999' }).catch(() => undefined);
    }
    freshStep();
    const locked = await f.auth.login({ email, password: goodPassword }, { source: '192.0.2.95' });
    if (locked.kind !== 'mfa_required') throw new Error('expected a challenge');
    await expect(f.auth.verifyMfa({ mfaToken: locked.mfaToken, code: totpCode(secret, clock) })).rejects.toMatchObject({
      code: ErrorCodes.AUTH_MFA_INVALID,
    });
    const viaRecovery = await f.auth.verifyMfa({
      mfaToken: locked.mfaToken,
      recoveryCode: activated.recoveryCodes[1]!,
    });
    expect(viaRecovery.aal).toBe('aal2');
    // an admin reset (or the owner's, through a password change) unlocks the factor
    const resetHash = await new PasswordHasher({ params: fastArgon2 }).hash('a reset passphrase here');
    await f.auth.store.setPassword(me.userId, resetHash, null);
    const again = await f.auth.login({ email, password: 'a reset passphrase here' }, { source: '192.0.2.96' });
    if (again.kind !== 'mfa_required') throw new Error('expected a challenge');
    freshStep();
    expect((await f.auth.verifyMfa({ mfaToken: again.mfaToken, code: totpCode(secret, clock) })).aal).toBe('aal2');
  });

  it('kills challenges opened before a password reset', async () => {
    const { email, activated, me } = await enrolled();
    const c = await f.auth.login({ email, password: goodPassword });
    if (c.kind !== 'mfa_required') throw new Error('expected a challenge');
    await f.sql(`select auth.set_password($1, $2)`, [
      me.userId,
      '$argon2id$v=19$m=4096,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
    ]);
    await expect(
      f.auth.verifyMfa({ mfaToken: c.mfaToken, recoveryCode: activated.recoveryCodes[2]! }),
    ).rejects.toMatchObject({
      code: ErrorCodes.AUTH_MFA_INVALID,
    });
  });

  it('refuses a step-up of an aal2 session without counting it, and keeps the absolute limit across a step-up', async () => {
    const { activated, secret, me } = await enrolled();
    const aal2 = await f.auth.authenticate(activated.tokens.accessToken);
    await expect(f.auth.stepUp(aal2, { code: '000000' })).rejects.toMatchObject({ code: ErrorCodes.AUTH_MFA_STATE });
    const counted = await f.sql(
      `select 1 from auth.throttle where scope = 'mfa' and key = auth._keyed('mfa:' || $1::text)`,
      [me.userId],
    );
    expect(counted).toHaveLength(0);
    await f.sql(
      `update auth.sessions set aal = 'aal1', absolute_expires_at = clock_timestamp() + interval '5 minutes' where id = $1`,
      [activated.tokens.sessionId],
    );
    freshStep();
    const up = await f.auth.stepUp(await f.auth.authenticate(activated.tokens.accessToken), {
      code: totpCode(secret, clock),
    });
    expect(up.sessionExpiresAt.getTime() - Date.now()).toBeLessThan(6 * 60_000);
  });

  it('needs aal2 and the current password to disable the factor', async () => {
    const { activated } = await enrolled();
    const me = await f.auth.authenticate(activated.tokens.accessToken);
    await expect(f.auth.disableTotp({ ...me, aal: 'aal1' }, { currentPassword: goodPassword })).rejects.toMatchObject({
      code: ErrorCodes.AUTH_INSUFFICIENT_AAL,
    });
    await expect(f.auth.disableTotp(me, { currentPassword: 'wrong one' })).rejects.toMatchObject({
      code: ErrorCodes.AUTH_INVALID_CREDENTIALS,
    });
    await f.auth.disableTotp(me, { currentPassword: goodPassword });
    const email = (await f.auth.store.getUser(me.userId))!.email;
    expect((await f.auth.login({ email, password: goodPassword })).kind).toBe('session');
  });
});

describe('access tokens and signing keys', () => {
  it('signs EdDSA at+jwt tokens under a kid with every claim, valid 15 minutes', async () => {
    const { tokens, me } = await loggedIn(['editor']);
    const header = decodeProtectedHeader(tokens.accessToken);
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });
    expect(typeof header.kid).toBe('string');
    const claims = decodeJwt(tokens.accessToken);
    expect(claims).toMatchObject({
      iss: 'https://auth.test',
      aud: 'test-api',
      sub: me.userId,
      sid: tokens.sessionId,
      tenant: 'globex',
      roles: ['editor'],
      aal: 'aal1',
    });
    expect(claims.exp! - claims.iat!).toBe(900);
    expect(typeof claims.jti).toBe('string');
  });

  it('stores the private key sealed and publishes only public members', async () => {
    const jwks = await f.auth.jwks();
    for (const k of jwks.keys) expect(Object.keys(k)).not.toContain('d');
    const rows = await f.sql<{ s: Buffer; j: Record<string, unknown> }>(
      'select private_key_sealed as s, public_jwk as j from auth.signing_keys',
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(r.s.toString('latin1')).not.toContain('PRIVATE KEY');
  });

  it('keeps the old key in the JWKS after a rotation until its tokens expire, then drops it', async () => {
    const before = await loggedIn();
    const oldKid = decodeProtectedHeader(before.tokens.accessToken).kid;
    const newKid = await f.auth.rotateSigningKey();
    expect(newKid).not.toBe(oldKid);
    const after = await loggedIn();
    expect(decodeProtectedHeader(after.tokens.accessToken).kid).toBe(newKid);
    const kids = (await f.auth.jwks()).keys.map((k) => k.kid);
    expect(kids).toEqual(expect.arrayContaining([oldKid, newKid]));
    expect((await f.auth.authenticate(before.tokens.accessToken)).userId).toBe(before.me.userId);
    // the old key's window (token lifetime + 60 s skew) passes
    await f.sql(`update auth.signing_keys set expires_at = clock_timestamp() - interval '1 second' where kid = $1`, [
      oldKid,
    ]);
    clock += 31_000;
    expect((await f.auth.jwks()).keys.map((k) => k.kid)).not.toContain(oldKid);
    await expect(f.auth.authenticate(before.tokens.accessToken)).rejects.toMatchObject({
      code: ErrorCodes.AUTH_ACCESS_TOKEN_INVALID,
    });
  });

  it('rejects an expired access token by the injected clock', async () => {
    const { tokens } = await loggedIn();
    clock += 901_000;
    await expect(f.auth.authenticate(tokens.accessToken)).rejects.toMatchObject({
      code: ErrorCodes.AUTH_ACCESS_TOKEN_INVALID,
    });
  });
});

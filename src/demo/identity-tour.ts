import { decodeJwt, decodeProtectedHeader } from 'jose';
import pg from 'pg';
import { base32Decode, createAuthService, generateMasterKey, totpCode } from '../auth/index.js';
import { configSchema } from '../config/index.js';
import type { ConnectionConfig } from '../db/client.js';
import { isPgwardenError } from '../errors/index.js';
import { type DemoSection, section } from './report.js';

/**
 * The identity part of the tour, on the real auth module with the default argon2 cost: users in
 * two tenants, a login and its JWT claims, a brute-force burst that is throttled without locking
 * the owner out, MFA, and sessions that stop working when they should.
 */
export async function identityTour(
  db: ConnectionConfig,
  add: (s: DemoSection) => void,
  masterKey: string = generateMasterKey(),
): Promise<void> {
  const pool = new pg.Pool({ ...db, max: 4, application_name: 'pgwarden-demo' });
  pool.on('error', () => undefined);
  try {
    // The service as `pgwarden serve auth` builds it, at the default settings. The demo database
    // is rebuilt on every run, so a master key held in memory is enough here.
    const config = configSchema.parse({
      auth: { masterKey, issuer: 'pgwarden-demo', totpIssuer: 'pgwarden-demo' },
    });
    const auth = await createAuthService(config, pool, '.'); // cwd unused: the key is in the config
    const q = async <T extends pg.QueryResultRow>(text: string, params: unknown[] = []) =>
      (await pool.query<T>(text, params)).rows;
    const alice = { email: 'alice@acme.example', password: 'velvet orchard lantern 42', tenant: 'acme' };
    const bob = { email: 'bob@globex.example', password: 'granite harbor sparrow 7', tenant: 'globex' };
    const home = { source: '198.51.100.7', userAgent: 'pgwarden-demo' };
    const attacker = { source: '203.0.113.66', userAgent: 'hydra' };

    add(
      await section('Identity: users, a login, the access token', async (s) => {
        const a = await auth.register({ ...alice, roles: ['admin'] }, home);
        const b = await auth.register(bob, home);
        s.check(a.created && b.created, 'registered alice (tenant acme, role admin) and bob (tenant globex)');
        const weak = await auth
          .register({ email: 'carol@acme.example', password: 'Password1!', tenant: 'acme' })
          .catch((e) => e);
        s.check(
          isPgwardenError(weak) && weak.code === 'PW301' && String(weak.detail).includes('blocklisted'),
          "'Password1!' refused: on the 1,000,000-entry common-password list (PW301), no composition rules",
        );
        const [cred] = await q<{ algorithm: string; params: Record<string, number> }>(
          `select c.algorithm, c.params from auth.credentials c join auth.users u on u.id = c.user_id where u.email = $1`,
          [alice.email],
        );
        s.check(
          cred?.algorithm === 'argon2id' && cred.params.m === 19456 && cred.params.t === 2,
          'password stored as argon2id m=19456 KiB t=2 p=1 (hashed in Node; the database only sees the hash)',
        );
        const login = await auth.login(bob, home);
        if (login.kind !== 'session') throw new Error('expected a session');
        const header = decodeProtectedHeader(login.accessToken);
        const claims = decodeJwt(login.accessToken);
        s.line(
          `header: ${JSON.stringify({ alg: header.alg, typ: header.typ, kid: `${String(header.kid).slice(0, 12)}…` })}`,
        );
        s.line(
          `claims: ${JSON.stringify({ iss: claims.iss, aud: claims.aud, sub: claims.sub, sid: claims.sid, tenant: claims.tenant, roles: claims.roles, aal: claims.aal })}`,
        );
        s.check(
          header.alg === 'EdDSA' && header.typ === 'at+jwt' && claims.exp! - claims.iat! === 900,
          'EdDSA at+jwt access token under a kid, valid 15 minutes, session id in sid',
        );
        const digests = await q<{ n: string }>(
          `select count(*) as n from auth.refresh_tokens where token_digest = sha256(convert_to($1, 'UTF8'))`,
          [login.refreshToken],
        );
        s.check(Number(digests[0]?.n) === 1, 'refresh token (256 random bits) stored only as its SHA-256 digest');
      }),
    );

    add(
      await section('Brute force is throttled, and cannot lock the owner out', async (s) => {
        let refused = 0;
        for (let i = 0; i < 12; i++) {
          await auth.login({ email: bob.email, password: `guess-${i}-password` }, attacker).catch((e) => {
            if (isPgwardenError(e) && e.code === 'PW300') refused += 1;
          });
        }
        s.check(refused === 12, '12 wrong passwords from 203.0.113.66: all get the same PW300');
        const right = await auth.login(bob, attacker).then(
          () => 'session',
          (e) => (isPgwardenError(e) ? e.code : 'error'),
        );
        s.check(right === 'PW300', 'the right password from the attacking address is refused too, same answer');
        const [ev] = await q<{ locks: string; throttled: string }>(
          `select count(*) filter (where event_type = 'auth.account_locked') as locks,
                  count(*) filter (where event_type = 'auth.login_throttled') as throttled
             from logs.notification_log where source_addr = $1::inet`,
          [attacker.source],
        );
        s.line(`events from the attacker: ${ev?.locks} account_locked, ${ev?.throttled} login_throttled`);
        s.check(Number(ev?.locks) === 1, 'one auth.account_locked event, at the 10th failure');
        const owner = await auth.login(bob, home);
        s.check(owner.kind === 'session', 'bob from his usual address (198.51.100.7) still logs in');
      }),
    );

    add(
      await section('MFA: TOTP with replay protection, aal2 in the token', async (s) => {
        const first = await auth.login(alice, home);
        if (first.kind !== 'session') throw new Error('expected a session');
        const me = await auth.authenticate(first.accessToken);
        const enrol = await auth.enrolTotp(me, { currentPassword: alice.password }, home);
        s.line(`otpauth URI for the authenticator app: ${enrol.otpauthUri.replace(/secret=[A-Z2-7]+/, 'secret=…')}`);
        const secret = base32Decode(enrol.secret);
        const [stored] = await q<{ s: Buffer }>('select secret_sealed as s from auth.mfa_factors where id = $1', [
          enrol.factorId,
        ]);
        s.check(
          stored !== undefined && !stored.s.includes(secret),
          'TOTP secret stored sealed (AES-256-GCM), never in clear',
        );
        const activated = await auth.activateTotp(me, { code: totpCode(secret, Date.now()) }, home);
        s.check(
          activated.recoveryCodes.length === 10 && activated.tokens.aal === 'aal2',
          'enrolled: 10 recovery codes; older sessions ended, a new aal2 session issued',
        );
        const second = await auth.login(alice, home);
        s.check(second.kind === 'mfa_required', 'next login: the password alone gives an MFA challenge, not a session');
        if (second.kind !== 'mfa_required') return;
        const code = totpCode(secret, Date.now() + 30_000);
        const tokens = await auth.verifyMfa({ mfaToken: second.mfaToken, code }, home).catch(async () => {
          // the code of the next 30 s step may be too early on a slow clock; the current one is fine
          return auth.verifyMfa({ mfaToken: second.mfaToken, code: totpCode(secret, Date.now()) }, home);
        });
        s.check(decodeJwt(tokens.accessToken).aal === 'aal2', 'TOTP verified: the new access token says aal2');
        const third = await auth.login(alice, home);
        const replay =
          third.kind === 'mfa_required'
            ? await auth.verifyMfa({ mfaToken: third.mfaToken, code }, home).then(
                () => 'accepted',
                (e) => (isPgwardenError(e) ? e.code : 'error'),
              )
            : 'no challenge';
        s.check(replay === 'PW305', 'the same code again is refused (PW305): each time step is accepted once');
      }),
    );

    add(
      await section('Sessions end when they should', async (s) => {
        const login = await auth.login(bob, home);
        if (login.kind !== 'session') throw new Error('expected a session');
        const next = await auth.refresh(login.refreshToken, home);
        s.check(
          next.refreshToken !== login.refreshToken,
          'refresh rotates: a new refresh token each time, the old one used up',
        );
        await pool.query(
          `update auth.refresh_tokens set used_at = used_at - interval '1 minute' where session_id = $1`,
          [login.sessionId],
        );
        const stolen = await auth.refresh(login.refreshToken, attacker).then(
          () => 'accepted',
          (e) => (isPgwardenError(e) ? e.code : 'error'),
        );
        const after = await auth.authenticate(next.accessToken).then(
          () => 'accepted',
          (e) => (isPgwardenError(e) ? e.code : 'error'),
        );
        s.check(
          stolen === 'PW302' && after === 'PW303',
          'an old refresh token replayed: refused, the whole session revoked, its live access token rejected',
        );
        const other = await auth.login(bob, home);
        if (other.kind !== 'session') throw new Error('expected a session');
        await auth.logout(await auth.authenticate(other.accessToken), home);
        const afterLogout = await auth.authenticate(other.accessToken).then(
          () => 'accepted',
          (e) => (isPgwardenError(e) ? e.code : 'error'),
        );
        s.check(
          afterLogout === 'PW303',
          'after logout the access token is refused at once (sid checked), not in 15 minutes',
        );
        const [reuse] = await q<{ severity: string }>(
          `select severity from logs.notification_log where event_type = 'auth.refresh_reuse_detected' order by id desc limit 1`,
        );
        s.check(reuse?.severity === 'critical', 'the replay is in logs.notification_log as a critical event');
      }),
    );
  } finally {
    await pool.end();
  }
}

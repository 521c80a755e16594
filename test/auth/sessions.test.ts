import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenDigest } from '../../src/auth/crypto/index.js';
import type { TokenSet } from '../../src/auth/types.js';
import { ErrorCodes } from '../../src/errors/index.js';
import { type AuthFixture, authFixture, goodPassword, nextAddress, uniqueEmail } from '../helpers/auth.js';

let f: AuthFixture;
beforeAll(async () => {
  f = await authFixture();
});
afterAll(async () => {
  await f?.close();
});

async function session(): Promise<TokenSet & { email: string }> {
  const email = uniqueEmail('s');
  await f.auth.register({ email, password: goodPassword, tenant: 'acme' });
  const r = await f.auth.login({ email, password: goodPassword }, { source: nextAddress(), userAgent: 'vitest' });
  if (r.kind !== 'session') throw new Error('expected a session');
  return { ...r, email };
}

const invalid = { code: ErrorCodes.AUTH_TOKEN_INVALID };
const accessInvalid = { code: ErrorCodes.AUTH_ACCESS_TOKEN_INVALID };

describe('sessions and refresh tokens', () => {
  it('issues 256-bit opaque refresh tokens and stores only their SHA-256 digests [S-01]', async () => {
    const s = await session();
    expect(s.refreshToken).toMatch(/^pgwr_[A-Za-z0-9_-]{43}$/);
    const rows = await f.sql<{ d: Buffer }>('select token_digest as d from auth.refresh_tokens where session_id = $1', [
      s.sessionId,
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.d.equals(tokenDigest(s.refreshToken))).toBe(true);
    const dump = JSON.stringify(
      await f.sql(
        `select to_jsonb(t)::text as r from auth.refresh_tokens t union all select to_jsonb(s)::text from auth.sessions s`,
      ),
    );
    expect(dump).not.toContain(s.refreshToken.slice(5));
  });

  it('never accepts a token planted before login and issues a new one at every login [S-02]', async () => {
    const planted = 'pgwr_' + 'A'.repeat(43);
    await expect(f.auth.refresh(planted)).rejects.toMatchObject(invalid);
    const s = await session();
    const again = await f.auth.login({ email: s.email, password: goodPassword });
    if (again.kind !== 'session') throw new Error('expected a session');
    expect(again.refreshToken).not.toBe(s.refreshToken);
    expect(again.sessionId).not.toBe(s.sessionId);
  });

  it('ends the refresh token and the access token at logout [S-03]', async () => {
    const s = await session();
    const me = await f.auth.authenticate(s.accessToken);
    await f.auth.logout(me);
    await expect(f.auth.refresh(s.refreshToken)).rejects.toMatchObject(invalid);
    await expect(f.auth.authenticate(s.accessToken)).rejects.toMatchObject(accessInvalid);
  });

  it('revokes every session and rejects outstanding access tokens when a user is disabled [S-04]', async () => {
    const a = await session();
    const b = await f.auth.login({ email: a.email, password: goodPassword });
    if (b.kind !== 'session') throw new Error('expected a session');
    await f.auth.setUserStatus(null, a.userId, 'disabled', 'offboarded');
    for (const t of [a, b]) {
      await expect(f.auth.refresh(t.refreshToken)).rejects.toMatchObject(invalid);
      await expect(f.auth.authenticate(t.accessToken)).rejects.toMatchObject(accessInvalid);
    }
    const states = await f.sql<{ state: string }>(
      'select distinct state from auth.refresh_tokens r join auth.sessions s on s.id = r.session_id where s.user_id = $1',
      [a.userId],
    );
    expect(states.map((s) => s.state)).toEqual(['revoked']);
  });

  it('ends other sessions and rotates the current one on a password change [S-05]', async () => {
    const current = await session();
    const other = await f.auth.login({ email: current.email, password: goodPassword });
    if (other.kind !== 'session') throw new Error('expected a session');
    const me = await f.auth.authenticate(current.accessToken);
    const next = await f.auth.changePassword(me, {
      currentPassword: goodPassword,
      newPassword: 'a whole new passphrase',
    });
    expect(next.sessionId).not.toBe(current.sessionId);
    await expect(f.auth.refresh(other.refreshToken)).rejects.toMatchObject(invalid);
    await expect(f.auth.refresh(current.refreshToken)).rejects.toMatchObject(invalid);
    await expect(f.auth.authenticate(current.accessToken)).rejects.toMatchObject(accessInvalid);
    expect((await f.auth.refresh(next.refreshToken)).sessionId).toBe(next.sessionId);
    await expect(f.auth.login({ email: current.email, password: goodPassword })).rejects.toMatchObject({
      code: ErrorCodes.AUTH_INVALID_CREDENTIALS,
    });
  });

  it('refuses to refresh a session idle past the idle timeout [S-06]', async () => {
    const s = await session();
    await f.sql(
      `update auth.sessions set last_seen_at = last_seen_at - interval '31 minutes',
         idle_expires_at = clock_timestamp() - interval '1 minute' where id = $1`,
      [s.sessionId],
    );
    await expect(f.auth.refresh(s.refreshToken)).rejects.toMatchObject(invalid);
    const [row] = await f.sql<{ revoked_reason: string }>('select revoked_reason from auth.sessions where id = $1', [
      s.sessionId,
    ]);
    expect(row!.revoked_reason).toBe('idle_timeout');
  });

  it('refuses to refresh a session past its absolute lifetime even while active [S-06]', async () => {
    const s = await session();
    const t1 = await f.auth.refresh(s.refreshToken);
    await f.sql(
      `update auth.sessions set absolute_expires_at = clock_timestamp() - interval '1 second' where id = $1`,
      [s.sessionId],
    );
    await expect(f.auth.refresh(t1.refreshToken)).rejects.toMatchObject(invalid);
    const [row] = await f.sql<{ revoked_reason: string }>('select revoked_reason from auth.sessions where id = $1', [
      s.sessionId,
    ]);
    expect(row!.revoked_reason).toBe('absolute_timeout');
  });

  it('makes a refresh token single-use and revokes the family, descendants included, on reuse [S-07]', async () => {
    const s = await session();
    const t1 = await f.auth.refresh(s.refreshToken);
    expect(t1.refreshToken).not.toBe(s.refreshToken);
    const t2 = await f.auth.refresh(t1.refreshToken);
    // outside the grace window, presenting the first token again is a theft signal
    await f.sql(`update auth.refresh_tokens set used_at = used_at - interval '1 minute' where session_id = $1`, [
      s.sessionId,
    ]);
    await expect(f.auth.refresh(s.refreshToken)).rejects.toMatchObject(invalid);
    // the newest descendant dies with the family (the GoTrue report in SECURITY-TESTS.md)
    await expect(f.auth.refresh(t2.refreshToken)).rejects.toMatchObject(invalid);
    await expect(f.auth.authenticate(t2.accessToken)).rejects.toMatchObject(accessInvalid);
    const ev = await f.sql<{ severity: string }>(
      `select severity from logs.notification_log where session_id = $1 and event_type = 'auth.refresh_reuse_detected'`,
      [s.sessionId],
    );
    expect(ev.map((e) => e.severity)).toEqual(['critical']);
  });

  it('treats a second use within the grace window as a race: refused, family kept [S-07]', async () => {
    const s = await session();
    const t1 = await f.auth.refresh(s.refreshToken);
    await expect(f.auth.refresh(s.refreshToken)).rejects.toMatchObject(invalid);
    expect((await f.auth.refresh(t1.refreshToken)).sessionId).toBe(s.sessionId);
  });

  it('lets exactly one of 20 parallel refreshes of one token win, and the family never forks [S-09]', async () => {
    const s = await session();
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => f.auth.refresh(s.refreshToken)));
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const active = await f.sql<{ n: string }>(
      `select count(*) as n from auth.refresh_tokens where session_id = $1 and state = 'active'`,
      [s.sessionId],
    );
    expect(Number(active[0]!.n)).toBe(1);
    const winner = (won[0] as PromiseFulfilledResult<TokenSet>).value;
    expect((await f.auth.refresh(winner.refreshToken)).sessionId).toBe(s.sessionId);
  });

  it('lists sessions and ends one, effective on the next request [S-10]', async () => {
    const a = await session();
    const b = await f.auth.login({ email: a.email, password: goodPassword });
    if (b.kind !== 'session') throw new Error('expected a session');
    const me = await f.auth.authenticate(a.accessToken);
    const listed = await f.auth.listSessions(me);
    expect(listed.map((s) => s.sessionId).sort()).toEqual([a.sessionId, b.sessionId].sort());
    expect(await f.auth.endSession(me, b.sessionId)).toBe(true);
    await expect(f.auth.authenticate(b.accessToken)).rejects.toMatchObject(accessInvalid);
    await expect(f.auth.refresh(b.refreshToken)).rejects.toMatchObject(invalid);
    expect((await f.auth.authenticate(a.accessToken)).sessionId).toBe(a.sessionId);
  });

  it('lets an admin list and end the sessions of another user [S-10]', async () => {
    const victim = await session();
    expect(await f.auth.listUserSessions(null, victim.userId)).toHaveLength(1);
    expect(await f.auth.revokeUserSessions(null, victim.userId)).toBe(1);
    await expect(f.auth.authenticate(victim.accessToken)).rejects.toMatchObject(accessInvalid);
  });

  it('records each auth event in logs.notification_log with the user as subject and the reason kept internal', async () => {
    const s = await session();
    await f.auth.login({ email: s.email, password: 'not the password' }).catch(() => undefined);
    const me = await f.auth.authenticate(s.accessToken);
    const changed = await f.auth.changePassword(me, {
      currentPassword: goodPassword,
      newPassword: 'one more passphrase',
    });
    await f.auth.logout(await f.auth.authenticate(changed.accessToken));
    await f.auth.setUserStatus(null, s.userId, 'disabled', 'left the company');
    const rows = await f.sql<{ event_type: string; details: Record<string, unknown> }>(
      'select event_type, details from logs.notification_log where subject = $1 order by id',
      [s.userId],
    );
    const types = rows.map((r) => r.event_type);
    for (const t of [
      'auth.user_registered',
      'auth.login_succeeded',
      'auth.login_failed',
      'auth.reauthenticated',
      'auth.password_changed',
      'auth.logout',
      'auth.user_disabled',
    ]) {
      expect(types).toContain(t);
    }
    expect(rows.find((r) => r.event_type === 'auth.login_failed')!.details.reason).toBe('wrong_password');
  });

  it('refuses admin endpoints to users without the admin role, and to admins without MFA [S-10]', async () => {
    const user = await session();
    const me = await f.auth.authenticate(user.accessToken);
    await expect(f.auth.revokeUserSessions(me, user.userId)).rejects.toMatchObject({ code: ErrorCodes.AUTH_FORBIDDEN });
    await expect(f.auth.revokeUserSessions({ ...me, roles: ['admin'] }, user.userId)).rejects.toMatchObject({
      code: ErrorCodes.AUTH_INSUFFICIENT_AAL,
    });
  });

  it('refuses admin endpoints to a token whose admin role is not held globally (a tenant grant or a forged claim) [S-10]', async () => {
    const user = await session();
    const me = await f.auth.authenticate(user.accessToken);
    // Roles assigned in one tenant reach that tenant's tokens; the admin endpoints act across
    // tenants, so they check the user's global roles in the database as well.
    await expect(
      f.auth.revokeUserSessions({ ...me, roles: ['admin'], aal: 'aal2' }, user.userId),
    ).rejects.toMatchObject({ code: ErrorCodes.AUTH_FORBIDDEN, message: expect.stringMatching(/globally/) });
  });
});

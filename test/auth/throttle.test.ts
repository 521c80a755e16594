import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PasswordHasher } from '../../src/auth/password/index.js';
import { ErrorCodes, PgwardenError } from '../../src/errors/index.js';
import { type AuthFixture, authFixture, fastArgon2, goodPassword, nextAddress, uniqueEmail } from '../helpers/auth.js';

let f: AuthFixture;
beforeAll(async () => {
  f = await authFixture();
});
afterAll(async () => {
  await f?.close();
});

async function registered() {
  const email = uniqueEmail('victim');
  const r = await f.auth.register({ email, password: goodPassword, tenant: 'acme' });
  return { email, userId: r.userId! };
}

const countEvents = async (subject: string, type: string) =>
  Number(
    (
      await f.sql<{ n: string }>(
        'select count(*) as n from logs.notification_log where subject = $1 and event_type = $2',
        [subject, type],
      )
    )[0]!.n,
  );

const pairFailures = async (email: string, source: string) =>
  (
    await f.sql<{ failures: number; locked: boolean }>(
      `select failures, locked_until > clock_timestamp() as locked from auth.throttle
        where scope = 'account_source' and key = sha256(auth._account_key($1) || auth._source_key($2::inet))`,
      [email, source],
    )
  )[0];

// Progressive delays are real time: tests let time pass by moving the throttle row's clock back.
const expireDelay = (email: string, source: string) =>
  f.sql(
    `update auth.throttle set retry_after = null where scope = 'account_source'
      and key = sha256(auth._account_key($1) || auth._source_key($2::inet))`,
    [email, source],
  );

describe('login throttling', () => {
  it('delays then locks after 10 failures and refuses the right password during the lock with the generic error [P-12]', async () => {
    const { email, userId } = await registered();
    const source = nextAddress();
    for (let i = 1; i <= 10; i++) {
      await expect(f.auth.login({ email, password: `wrong guess ${i}` }, { source })).rejects.toMatchObject({
        code: ErrorCodes.AUTH_INVALID_CREDENTIALS,
      });
      await expireDelay(email, source);
    }
    expect(await pairFailures(email, source)).toEqual({ failures: 10, locked: true });
    expect(await countEvents(userId, 'auth.account_locked')).toBe(1);
    const during = await f.auth.login({ email, password: goodPassword }, { source }).catch((e) => e);
    expect(during.toJSON()).toEqual(
      (await f.auth.login({ email, password: 'wrong again' }, { source }).catch((e) => e)).toJSON(),
    );
    expect(await countEvents(userId, 'auth.login_throttled')).toBeGreaterThanOrEqual(2);
  });

  it('delays the fifth consecutive failure onwards before any lock', async () => {
    const { email } = await registered();
    const source = nextAddress();
    for (let i = 1; i <= 5; i++)
      await f.auth.login({ email, password: `wrong ${i}` }, { source }).catch(() => undefined);
    // within the delay even the right password is refused
    await expect(f.auth.login({ email, password: goodPassword }, { source })).rejects.toMatchObject({
      code: ErrorCodes.AUTH_INVALID_CREDENTIALS,
    });
    await expireDelay(email, source);
    expect((await f.auth.login({ email, password: goodPassword }, { source })).kind).toBe('session');
  });

  it('lets the victim log in from another address while an attacker fails 100 times [P-13]', async () => {
    const { email } = await registered();
    const attacker = nextAddress();
    for (let i = 0; i < 100; i++)
      await f.auth.login({ email, password: `guess ${i}` }, { source: attacker }).catch(() => undefined);
    expect((await pairFailures(email, attacker))!.locked).toBe(true);
    const r = await f.auth.login({ email, password: goodPassword }, { source: nextAddress() });
    expect(r.kind).toBe('session');
  });

  it('caps password checks at 100 per account per hour from unknown sources, still letting known sources in [P-12] [P-13]', async () => {
    const { email, userId } = await registered();
    const home = nextAddress();
    expect((await f.auth.login({ email, password: goodPassword }, { source: home })).kind).toBe('session');
    // 1 success + 99 failures from 25 addresses (4 each, below the delay threshold) fill the hour
    for (let a = 0; a < 25; a++) {
      const source = nextAddress();
      for (let i = 0; i < 4 && a * 4 + i < 99; i++) {
        await f.auth.login({ email, password: `spray ${a}-${i}` }, { source }).catch(() => undefined);
      }
    }
    const window = await f.sql<{ n: number }>(
      `select window_count + prev_count as n from auth.throttle where scope = 'account' and key = auth._account_key($1)`,
      [email],
    );
    expect(window[0]!.n).toBe(100);
    const fresh = nextAddress();
    await expect(f.auth.login({ email, password: goodPassword }, { source: fresh })).rejects.toMatchObject({
      code: ErrorCodes.AUTH_INVALID_CREDENTIALS,
    });
    const reasons = await f.sql<{ reason: string }>(
      `select details->>'reason' as reason from logs.notification_log where subject = $1 and event_type = 'auth.login_throttled'`,
      [userId],
    );
    expect(reasons.map((r) => r.reason)).toContain('account_cap');
    expect((await f.auth.login({ email, password: goodPassword }, { source: home })).kind).toBe('session');
  });

  it('treats IPv4-mapped IPv6 addresses as their IPv4 clients, not as one shared network [P-13]', async () => {
    const { email } = await registered();
    for (let i = 0; i < 10; i++) {
      await f.auth
        .login({ email, password: `mapped ${i}` }, { source: '::ffff:198.51.100.201' })
        .catch(() => undefined);
      await expireDelay(email, '198.51.100.201');
    }
    expect((await pairFailures(email, '198.51.100.201'))!.locked).toBe(true);
    const r = await f.auth.login({ email, password: goodPassword }, { source: '::ffff:203.0.113.205' });
    expect(r.kind).toBe('session');
  });

  it('does not count a login refused because hashing is saturated (PW311)', async () => {
    const { email } = await registered();
    const source = nextAddress();
    const saturated = new PasswordHasher({ params: fastArgon2, concurrency: 1, maxQueue: 1 });
    saturated.verify = () => Promise.reject(new PgwardenError(ErrorCodes.AUTH_BUSY, 'busy'));
    const svc = f.withOptions({ hasher: saturated });
    for (let i = 0; i < 12; i++) {
      await expect(svc.login({ email, password: goodPassword }, { source })).rejects.toMatchObject({
        code: ErrorCodes.AUTH_BUSY,
      });
    }
    expect((await pairFailures(email, source))!.failures).toBe(0);
    expect((await f.auth.login({ email, password: goodPassword }, { source })).kind).toBe('session');
  });

  it('counts 50 parallel wrong passwords exactly and locks exactly once, at the threshold [P-14]', async () => {
    const { email, userId } = await registered();
    const source = nextAddress();
    let verified = 0;
    const svc = f.withOptions({});
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => svc.login({ email, password: `parallel ${i}` }, { source })),
    );
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(await pairFailures(email, source)).toEqual({ failures: 50, locked: true });
    expect(await countEvents(userId, 'auth.account_locked')).toBe(1);
    const failed = await f.sql<{ reason: string; n: string }>(
      `select details->>'reason' as reason, count(*) as n from logs.notification_log
        where subject = $1 and event_type in ('auth.login_failed', 'auth.login_throttled') group by 1`,
      [userId],
    );
    verified = Number(failed.find((r) => r.reason === 'wrong_password')?.n ?? 0);
    // only the attempts before the first delay reached a password check
    expect(verified).toBeLessThanOrEqual(5);
    expect(failed.reduce((n, r) => n + Number(r.n), 0)).toBe(50);
  });

  it('resets the counter on success and reports success after failures [P-15]', async () => {
    const { email, userId } = await registered();
    const source = nextAddress();
    for (let i = 0; i < 3; i++) await f.auth.login({ email, password: `nope ${i}` }, { source }).catch(() => undefined);
    expect((await f.auth.login({ email, password: goodPassword }, { source })).kind).toBe('session');
    expect((await pairFailures(email, source))!.failures).toBe(0);
    const rows = await f.sql<{ details: { failures: number } }>(
      `select details from logs.notification_log where subject = $1 and event_type = 'auth.success_after_failures'`,
      [userId],
    );
    expect(rows.map((r) => r.details.failures)).toEqual([3]);
  });

  it('bounds every policy value and logs each change', async () => {
    await expect(f.sql(`update auth.policy set failure_memory = interval '1 microsecond'`)).rejects.toMatchObject({
      code: '23514',
    });
    await expect(f.sql(`update auth.policy set refresh_reuse_grace = interval '1 day'`)).rejects.toMatchObject({
      code: '23514',
    });
    await f.sql(`update auth.policy set lock_duration = interval '20 minutes'`);
    const [ev] = await f.sql<{ details: { before: { lock_duration: string }; after: { lock_duration: string } } }>(
      `select details from logs.notification_log where event_type = 'auth.policy_changed' order by id desc limit 1`,
    );
    expect([ev!.details.before.lock_duration, ev!.details.after.lock_duration]).toEqual(['00:15:00', '00:20:00']);
    await f.sql(`update auth.policy set lock_duration = interval '15 minutes'`);
  });

  it('needs the current password to change it, and counts a wrong one toward the throttle [P-17]', async () => {
    const { email } = await registered();
    const source = nextAddress();
    const login = await f.auth.login({ email, password: goodPassword }, { source });
    if (login.kind !== 'session') throw new Error('expected a session');
    const me = await f.auth.authenticate(login.accessToken);
    await expect(
      f.auth.changePassword(
        me,
        { currentPassword: 'not my password', newPassword: 'a brand new passphrase' },
        { source },
      ),
    ).rejects.toMatchObject({ code: ErrorCodes.AUTH_INVALID_CREDENTIALS });
    expect((await pairFailures(email, source))!.failures).toBe(1);
    const next = await f.auth.changePassword(
      me,
      { currentPassword: goodPassword, newPassword: 'a brand new passphrase' },
      { source },
    );
    expect(next.refreshToken).toMatch(/^pgwr_/);
    // no periodic expiry: the policy has no such column
    const cols = await f.sql<{ column_name: string }>(
      `select column_name from information_schema.columns where table_schema = 'auth' and table_name = 'policy'`,
    );
    expect(cols.map((c) => c.column_name).filter((c) => /expir|rotat|max_age/.test(c))).toEqual([]);
  });
});

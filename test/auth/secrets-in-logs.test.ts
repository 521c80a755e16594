import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthService } from '../../src/auth/auth-service.js';
import { base32Decode, totpCode } from '../../src/auth/crypto/index.js';
import { withClient } from '../../src/db/client.js';
import { LocalCluster } from '../../src/db/embedded/index.js';
import { install } from '../../src/install/index.js';
import { testAuthOptions } from '../helpers/auth.js';

// Its own cluster, logging every statement with its parameters (and pgaudit with
// log_parameter = on where installed), to prove the Node path sends only derived values.
let dir: string;
let cluster: LocalCluster;
let pool: pg.Pool;
let pgaudit = false;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgwarden-logs-'));
  cluster = new LocalCluster({
    dataDir: join(dir, 'data'),
    bindir: process.env.PGWARDEN_PG_BINDIR || undefined,
    ephemeral: true,
    settings: {
      log_statement: 'all',
      log_min_duration_statement: 0,
      log_min_error_statement: 'debug5',
      log_parameter_max_length: -1,
      log_parameter_max_length_on_error: -1,
      log_connections: true,
    },
  });
  await cluster.init();
  const admin = { ...(await cluster.start()) };
  await withClient(admin, (c) => c.query('create database secrets'));
  const db = { ...admin, database: 'secrets' };
  await withClient(db, async (c) => {
    await install(c, { tier: 'basic', rolePrefix: 'pgw_' });
    await c.query('create extension if not exists pg_stat_statements');
    const preload = (await c.query<{ s: string }>(`select current_setting('shared_preload_libraries') as s`)).rows[0]!
      .s;
    pgaudit = preload
      .split(',')
      .map((s) => s.trim())
      .includes('pgaudit');
    if (pgaudit) {
      await c.query(`alter system set pgaudit.log = 'all'`);
      await c.query(`alter system set pgaudit.log_parameter = on`);
      await c.query('select pg_reload_conf()');
    }
  });
  pool = new pg.Pool({ ...db, max: 4 });
}, 120_000);

afterAll(async () => {
  await pool?.end();
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('secrets never reach PostgreSQL', () => {
  it('keeps passwords, tokens and TOTP secrets out of the server log, pg_stat_statements, pg_stat_activity and the event log', async () => {
    if (process.env.PGWARDEN_EXPECT_PGAUDIT === '1') expect(pgaudit).toBe(true);
    let clock = Date.now() - 30_000;
    const auth = new AuthService({ ...(await testAuthOptions(pool)), now: () => clock });
    const password = 'Canary-Passphrase-7f3a9c';
    const newPassword = 'Second-Canary-Phrase-19be';
    const email = 'owner@example.test';
    const secrets: string[] = [password, newPassword];

    await auth.register({ email, password, tenant: 'acme' });
    await auth.login({ email, password: 'Wrong-Canary-Guess-0042' }).catch(() => undefined);
    secrets.push('Wrong-Canary-Guess-0042');
    const s = await auth.login({ email, password });
    if (s.kind !== 'session') throw new Error('expected a session');
    secrets.push(s.refreshToken, s.accessToken);
    const me = await auth.authenticate(s.accessToken);
    const enrol = await auth.enrolTotp(me, { currentPassword: password });
    secrets.push(enrol.secret);
    const code = totpCode(base32Decode(enrol.secret), clock);
    const activated = await auth.activateTotp(me, { code });
    secrets.push(...activated.recoveryCodes, activated.tokens.accessToken);
    // activation replaced the session: refresh the new one
    const r = await auth.refresh(activated.tokens.refreshToken);
    secrets.push(activated.tokens.refreshToken, r.refreshToken);
    const changed = await auth.changePassword(await auth.authenticate(r.accessToken), {
      currentPassword: password,
      newPassword,
    });
    secrets.push(changed.refreshToken);
    clock += 60_000;
    const challenge = await auth.login({ email, password: newPassword });
    if (challenge.kind !== 'mfa_required') throw new Error('expected a challenge');
    secrets.push(challenge.mfaToken);
    const done = await auth.verifyMfa({ mfaToken: challenge.mfaToken, recoveryCode: activated.recoveryCodes[0]! });
    secrets.push(done.refreshToken);

    await new Promise((ok) => setTimeout(ok, 300)); // let the server flush its log
    const log = await readFile(cluster.logFile, 'utf8');
    expect(log).toContain('auth.begin_login'); // statements really were logged, with parameters
    expect(log).toMatch(/parameters: \$1 = /i);
    if (pgaudit) expect(log).toContain('AUDIT:');
    const places = await withClient({ ...(await cluster.connection()), database: 'secrets' }, async (c) => ({
      statements: JSON.stringify((await c.query('select query from pg_stat_statements')).rows),
      activity: JSON.stringify((await c.query('select query from pg_stat_activity')).rows),
      events: JSON.stringify((await c.query('select * from logs.notification_log')).rows),
      tables: JSON.stringify(
        (
          await c.query(`select to_jsonb(t)::text as r from auth.users t
                          union all select to_jsonb(t)::text from auth.credentials t
                          union all select to_jsonb(t)::text from auth.sessions t
                          union all select to_jsonb(t)::text from auth.refresh_tokens t
                          union all select to_jsonb(t)::text from auth.mfa_factors t
                          union all select to_jsonb(t)::text from auth.recovery_codes t
                          union all select to_jsonb(t)::text from auth.mfa_challenges t`)
        ).rows,
      ),
    }));
    for (const secret of secrets) {
      const probe = secret.replace(/^pgw[srm]_/, '').slice(0, 24);
      expect(log.includes(probe), `server log holds ${probe.slice(0, 6)}…`).toBe(false);
      for (const [where, text] of Object.entries(places)) {
        expect(text.includes(probe), `${where} holds ${probe.slice(0, 6)}…`).toBe(false);
      }
    }
  });
});

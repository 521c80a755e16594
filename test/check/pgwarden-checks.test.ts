import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initLedger, verifyLedger } from '../../src/audit/ledger/index.js';
import { generateMasterKey, parseMasterKey } from '../../src/auth/crypto/index.js';
import { hashBcryptSha256 } from '../../src/auth/password/index.js';
import { type ScanOptions, scanDatabase } from '../../src/check/index.js';
import type { CheckResult, ScanReport } from '../../src/check/types.js';
import { type ConnectionConfig, quoteIdent, withClient } from '../../src/db/client.js';
import { install } from '../../src/install/index.js';
import { adminConnection, emptyDatabase, installedDatabase, uniquePrefix } from '../helpers/db.js';
import { sealAll } from '../helpers/ledger.js';

// The pgwarden-controls checks (PGW-001…007) against real databases: each planted problem found
// with its object and severity, and the healthy form passing; never a pass for what the scanning
// login cannot read [C-02].

const hours = (n: number) => () => new Date(Date.now() + n * 3_600_000);
const scan = (db: ConnectionConfig, options: ScanOptions = {}) => scanDatabase(db, { only: ['pgwarden'], ...options });
const result = (report: ScanReport, id: string): CheckResult => {
  const r = report.results.find((x) => x.id === id);
  if (!r) throw new Error(`${id} did not run`);
  return r;
};
const sql = (db: ConnectionConfig, text: string, values: unknown[] = []) =>
  withClient(db, (c) => c.query(text, values));

/** A login role with a password, optionally granted `roles`; dropped by nobody (names are unique). */
async function login(db: ConnectionConfig, roles: string[] = []): Promise<ConnectionConfig> {
  const user = `scan_${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(6).toString('hex')}`;
  await sql(adminConnection(), `create role ${quoteIdent(user)} login password '${password}'`);
  for (const r of roles) await sql(db, `grant ${quoteIdent(r)} to ${quoteIdent(user)}`);
  return { ...db, user, password };
}

describe('on a database without pgwarden', () => {
  it('reports every PGW check not applicable, none failed or passed', async () => {
    const report = await scan(await emptyDatabase());
    expect(report.results.map((r) => r.id)).toEqual([
      'PGW-001',
      'PGW-002',
      'PGW-003',
      'PGW-004',
      'PGW-005',
      'PGW-006',
      'PGW-007',
    ]);
    for (const r of report.results) {
      expect(r.verdict).toBe('not_applicable');
      expect(r.reason).toBe('pgwarden is not installed in this database');
    }
  });
});

describe('a fresh advanced install, scanned as a superuser', () => {
  it('passes the installation, audit and DDL checks, finds the ledger not initialised, and has nothing to judge in auth', async () => {
    const report = await scan(await installedDatabase());
    const verdicts = Object.fromEntries(report.results.map((r) => [r.id, r.verdict]));
    expect(verdicts).toEqual({
      'PGW-001': 'pass',
      'PGW-002': 'pass',
      'PGW-003': 'pass',
      'PGW-004': 'fail',
      'PGW-005': 'not_applicable',
      'PGW-006': 'pass',
      'PGW-007': 'not_applicable',
    });
    expect(result(report, 'PGW-004').findings).toMatchObject([{ object: 'ledger.state', severity: 'medium' }]);
  });
});

describe('PGW-001 installation health', () => {
  it('finds a pending migration, a module of the tier never installed and an edited migration (PW202)', async () => {
    const db = await installedDatabase();
    await sql(
      db,
      `delete from pgwarden.migrations where (module = 'audit' and version = 6) or module = 'compliance';
       update pgwarden.migrations set sha256 = repeat('0', 64) where module = 'core' and version = 2;`,
    );
    const r = result(await scan(db, { only: ['PGW-001'] }), 'PGW-001');
    expect(r.verdict).toBe('fail');
    expect(r.findings.map((f) => [f.object, f.severity])).toEqual([
      ['module audit', 'high'],
      ['module compliance', 'high'],
      ['pgwarden.migrations', 'high'],
    ]);
    expect(r.findings[0]!.message).toBe('module audit is at version 5 of 6: 1 migration(s) pending');
    expect(r.findings[1]!.message).toBe('module compliance of the advanced tier is not installed');
    expect(r.findings[2]!.evidence.code).toBe('PW202');
  });

  it('finds a missing group role, and leaves modules beyond a basic install not applicable', async () => {
    const db = await emptyDatabase();
    const prefix = uniquePrefix();
    await withClient(db, (c) => install(c, { tier: 'basic', rolePrefix: prefix }));
    const healthy = await scan(db, { rolePrefix: prefix });
    expect(result(healthy, 'PGW-001').verdict).toBe('pass');
    expect(result(healthy, 'PGW-002')).toMatchObject({
      verdict: 'not_applicable',
      reason: "pgwarden's audit module is not installed here (standard tier)",
    });
    expect(result(healthy, 'PGW-004').reason).toBe("pgwarden's ledger module is not installed here (advanced tier)");
    await sql(db, `drop owned by ${quoteIdent(`${prefix}auditor`)}; drop role ${quoteIdent(`${prefix}auditor`)}`);
    const r = result(await scan(db, { only: ['PGW-001'] }), 'PGW-001');
    expect(r.verdict).toBe('fail');
    expect(r.findings).toMatchObject([{ object: `role ${prefix}auditor`, severity: 'high' }]);
  });
});

describe('what the scanning login may read [C-02]', () => {
  let db: ConnectionConfig;
  beforeAll(async () => {
    db = await installedDatabase();
  });

  it('reports every check not evaluated, never passed, for a login without pgwarden roles', async () => {
    const report = await scan(await login(db));
    for (const r of report.results) {
      expect(r.verdict, r.id).toBe('not_evaluated');
      expect(r.reason, r.id).toMatch(/insufficient privilege/);
    }
    expect(result(report, 'PGW-001').reason).toMatch(/grant the pgwarden auditor role/);
  });

  it('evaluates the controls an auditor can see and leaves credentials and keys not evaluated', async () => {
    const report = await scan(await login(db, ['pgw_auditor']));
    const verdicts = Object.fromEntries(report.results.map((r) => [r.id, r.verdict]));
    expect(verdicts).toMatchObject({
      'PGW-001': 'pass',
      'PGW-002': 'pass',
      'PGW-003': 'pass',
      'PGW-004': 'fail',
      'PGW-006': 'not_evaluated',
      'PGW-007': 'not_evaluated',
    });
    expect(result(report, 'PGW-006').reason).toMatch(/grant select \(algorithm, params\) on auth.credentials/);
  });
});

describe('PGW-002 row audit coverage', () => {
  let db: ConnectionConfig;
  beforeAll(async () => {
    db = await installedDatabase();
    await sql(
      db,
      `create schema api;
       grant usage on schema api to pgw_anon;
       create table api.orders (id int primary key, tenant text);
       alter table api.orders enable row level security;
       create table api.lookup (id int primary key);
       create table api.nokey (tenant text);
       alter table api.nokey enable row level security;
       create schema internal;
       create table internal.ledger (id int primary key);
       alter table internal.ledger enable row level security;`,
    );
  });

  it('finds each table with row-level security in an exposed schema that has no row audit', async () => {
    const r = result(await scan(db, { only: ['PGW-002'] }), 'PGW-002');
    expect(r.verdict).toBe('fail');
    expect(r.findings.map((f) => [f.object, f.severity])).toEqual([
      ['api.nokey', 'medium'],
      ['api.orders', 'medium'],
    ]);
    expect(r.findings[1]!.fix).toEqual([{ sql: "select audit.enable('api.orders');", safety: 'manual' }]);
    // audit.enable() refuses a table without a primary key: no statement to run.
    expect(r.findings[0]!.fix).toBeUndefined();
  });

  it('uses the configured exposed schemas instead of guessing', async () => {
    const r = result(await scan(db, { only: ['PGW-002'], exposedSchemas: ['internal'] }), 'PGW-002');
    expect(r.findings.map((f) => f.object)).toEqual(['internal.ledger']);
  });

  it('passes once the tables are audited, and fails high when a capture trigger is disabled', async () => {
    await sql(db, `select audit.enable('api.orders'); alter table api.nokey disable row level security;`);
    expect(result(await scan(db, { only: ['PGW-002'] }), 'PGW-002').verdict).toBe('pass');
    await sql(db, 'alter table api.orders disable trigger pgw_audit_update');
    const r = result(await scan(db, { only: ['PGW-002'] }), 'PGW-002');
    expect(r.findings).toMatchObject([
      {
        object: 'api.orders',
        severity: 'high',
        evidence: {
          triggers: { pgw_audit_insert: 'enabled', pgw_audit_update: 'disabled', pgw_audit_delete: 'enabled' },
        },
      },
    ]);
    await sql(db, 'alter table api.orders enable trigger pgw_audit_update');
  });

  it('finds a lost WAL capture slot and a WAL-captured table whose changes cannot reach the trail', async () => {
    const slot = `pgw_gone_${randomBytes(3).toString('hex')}`;
    await sql(db, `create table api.events (id int primary key)`);
    await sql(
      db,
      `insert into audit.wal_state (slot_name, database_oid) select $1, oid from pg_database where datname = current_database()`,
      [slot],
    );
    await sql(db, `insert into audit.audited_tables (table_oid, capture) values ('api.events'::regclass, 'wal')`);
    const r = result(await scan(db, { only: ['PGW-002'] }), 'PGW-002');
    expect(r.findings).toMatchObject([
      {
        object: 'api.events',
        severity: 'high',
        evidence: { problems: ['not_published', 'replica_identity', 'context_triggers'] },
      },
      { object: `replication slot ${slot}`, severity: 'high', evidence: { walStatus: 'missing' } },
    ]);
  });
});

describe('PGW-003 DDL capture', () => {
  it('finds a disabled DDL event trigger and passes once it is enabled ALWAYS again', async () => {
    const db = await installedDatabase();
    await sql(db, 'alter event trigger pgwarden_ddl_end_1_record disable');
    const r = result(await scan(db, { only: ['PGW-003'] }), 'PGW-003');
    expect(r.verdict).toBe('fail');
    expect(r.findings).toMatchObject([
      {
        object: 'event trigger pgwarden_ddl_end_1_record',
        severity: 'medium',
        evidence: { enabled: 'disabled' },
        fix: [{ sql: 'select audit.ddl_capture_enable();', safety: 'manual' }],
      },
    ]);
    await sql(db, 'alter event trigger pgwarden_ddl_end_1_record enable always');
    expect(result(await scan(db, { only: ['PGW-003'] }), 'PGW-003').verdict).toBe('pass');
  });
});

describe('PGW-004 ledger verification and PGW-005 sealer lag', () => {
  const masterKey = parseMasterKey(generateMasterKey());
  let db: ConnectionConfig;
  let admin: pg.Client;
  beforeAll(async () => {
    db = await installedDatabase();
    admin = new pg.Client(db);
    await admin.connect();
    await initLedger(admin, { masterKey });
    await admin.query(`create table public.notes (id int primary key, body text);
                       select audit.enable('public.notes');
                       insert into public.notes select g, 'note ' || g from generate_series(1, 20) g;`);
  });
  afterAll(async () => admin?.end());

  it('finds rows left unsealed longer than sealerMaxLagSeconds, in both sources, and passes once sealed', async () => {
    expect(result(await scan(db, { only: ['PGW-005'] }), 'PGW-005').verdict).toBe('pass');
    const late = result(await scan(db, { only: ['PGW-005'], now: hours(1) }), 'PGW-005');
    expect(late.findings.map((f) => [f.object, f.severity])).toEqual([
      ['audit.row_changes', 'high'],
      ['logs.notification_log', 'high'],
    ]);
    expect(late.findings[0]!.evidence.lagSeconds).toBeGreaterThan(3500);
    expect(late.findings[0]!.evidence.maxLagSeconds).toBe(300);
    await sealAll(admin, masterKey);
    expect(result(await scan(db, { only: ['PGW-005'], now: hours(1) }), 'PGW-005').verdict).toBe('pass');
  });

  it('passes a new ledger until its first verification is due, then fails it as never verified', async () => {
    expect(result(await scan(db, { only: ['PGW-004'] }), 'PGW-004').verdict).toBe('pass');
    const r = result(await scan(db, { only: ['PGW-004'], now: hours(25) }), 'PGW-004');
    expect(r.findings).toMatchObject([{ object: 'ledger', severity: 'high' }]);
    expect(r.findings[0]!.message).toMatch(/^the ledger has never been verified/);
  });

  it('passes after a recorded verification, and fails once it is older than ledgerMaxAgeHours', async () => {
    await admin.query(`select logs.log_event('ledger.verified', 'notice', null, null, null, '{"status": "ok"}')`);
    expect(result(await scan(db, { only: ['PGW-004'], now: hours(25) }), 'PGW-004').verdict).toBe('fail');
    expect(result(await scan(db, { only: ['PGW-004'] }), 'PGW-004').verdict).toBe('pass');
    const stale = result(await scan(db, { only: ['PGW-004'], now: hours(30) }), 'PGW-004');
    expect(stale.findings[0]!.message).toMatch(
      /^the ledger was last verified (29|30) hours ago \(at most 24 allowed\)$/,
    );
    const relaxed = await scan(db, { only: ['PGW-004'], now: hours(30), ledgerMaxAgeHours: 48 });
    expect(result(relaxed, 'PGW-004').verdict).toBe('pass');
  });

  it('reports tampering found by the last verification as critical', async () => {
    await sealAll(admin, masterKey);
    await admin.query('begin');
    await admin.query('set local session_replication_role = replica');
    await admin.query(
      `update audit.row_changes set new_data = '{"id": 1, "body": "forged"}' where new_data->>'id' = '1'`,
    );
    await admin.query('commit');
    const report = await verifyLedger(admin, { masterKey });
    expect(report.status).toBe('tampered');
    const r = result(await scan(db, { only: ['PGW-004'] }), 'PGW-004');
    expect(r.findings).toMatchObject([{ object: 'ledger', severity: 'critical' }]);
  });
});

describe('PGW-006 stored password hashes', () => {
  const argon2 = (alg: string, m: number, t: number) =>
    `$${alg}$v=19$m=${m},t=${t},p=1$${Buffer.alloc(16, 1).toString('base64').replace(/=+$/, '')}$${Buffer.alloc(32, 2).toString('base64').replace(/=+$/, '')}`;
  const addUser = (db: ConnectionConfig, hash: string) =>
    sql(
      db,
      `with u as (insert into auth.users (email, tenant) values ($1, 't1') returning id)
       insert into auth.credentials (user_id, password_hash, algorithm, params)
       select u.id, $2, pg_catalog.split_part($2, '$', 2), auth._phc_params($2) from u`,
      [`u${randomBytes(4).toString('hex')}@example.com`, hash],
    );

  it('passes hashes at or above the OWASP minimums, and finds each weaker kind without showing a hash', async () => {
    const db = await installedDatabase();
    await addUser(db, argon2('argon2id', 19_456, 2));
    await addUser(db, argon2('argon2id', 9_216, 4));
    await addUser(db, await hashBcryptSha256('correct horse battery staple', 12));
    const healthy = result(await scan(db, { only: ['PGW-006'] }), 'PGW-006');
    expect(healthy).toMatchObject({ verdict: 'pass', evidence: { accounts: 3 } });

    const weakBcrypt = await hashBcryptSha256('correct horse battery staple', 8);
    await addUser(db, weakBcrypt);
    await addUser(db, argon2('argon2id', 4_096, 1));
    await addUser(db, argon2('argon2id', 4_096, 1));
    await addUser(db, argon2('argon2i', 19_456, 2));
    const r = result(await scan(db, { only: ['PGW-006'] }), 'PGW-006');
    expect(r.findings.map((f) => [f.object, f.severity, f.evidence.accounts])).toEqual([
      ['auth.credentials: argon2i v=19,m=19456,t=2,p=1', 'low', 1],
      ['auth.credentials: argon2id v=19,m=4096,t=1,p=1', 'medium', 2],
      ['auth.credentials: bcrypt-sha256 v=2,t=2a,r=8', 'medium', 1],
    ]);
    expect(r.findings[2]!.message).toBe('1 password hash(es) use bcrypt-sha256: bcrypt cost 8 below 10');
    expect(JSON.stringify(r)).not.toContain(weakBcrypt.split('$')[3]);
  });
});

describe('PGW-007 JWT signing keys', () => {
  let db: ConnectionConfig;
  const jwk = JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: Buffer.alloc(32, 7).toString('base64url') });
  const addKey = (kid: string, keep: string) =>
    sql(db, `select auth.add_signing_key($1, 'EdDSA', $2::jsonb, '\\x00'::bytea, 'mk-test', $3::interval)`, [
      kid,
      jwk,
      keep,
    ]);
  beforeAll(async () => {
    db = await installedDatabase();
  });

  it('is not applicable before the first key exists, and passes one fresh key', async () => {
    expect(result(await scan(db, { only: ['PGW-007'] }), 'PGW-007').verdict).toBe('not_applicable');
    await addKey('key-a-0000000000000001', '960 seconds');
    expect(result(await scan(db, { only: ['PGW-007'] }), 'PGW-007').verdict).toBe('pass');
  });

  it('finds a retired key published past the longest token lifetime, and an active key never rotated', async () => {
    await addKey('key-b-0000000000000002', '30 days');
    await addKey('key-c-0000000000000003', '960 seconds');
    const r = result(await scan(db, { only: ['PGW-007'] }), 'PGW-007');
    expect(r.findings.map((f) => [f.object, f.severity])).toEqual([['signing key key-a-0000000000000001', 'medium']]);
    expect(r.findings[0]!.fix?.[0]?.sql).toMatch(/^update auth.signing_keys set expires_at = retired_at/);
    const later = result(await scan(db, { only: ['PGW-007'], now: hours(400 * 24) }), 'PGW-007');
    expect(later.findings.map((f) => [f.object, f.severity])).toEqual([['signing key key-c-0000000000000003', 'low']]);
    expect(later.findings[0]!.message).toMatch(/has signed for 40\d days without rotation$/);
  });

  it('finds private key material in a published JWK, two active keys, and an expired key that still signs', async () => {
    await sql(
      db,
      `alter table auth.signing_keys drop constraint signing_keys_public_jwk_check;
       drop index auth.signing_keys_one_active;
       update auth.signing_keys set public_jwk = public_jwk || '{"d": "c2VjcmV0"}' where kid = 'key-c-0000000000000003';
       update auth.signing_keys set retired_at = null, expires_at = now() - interval '1 hour' where kid = 'key-a-0000000000000001';`,
    );
    const r = result(await scan(db, { only: ['PGW-007'] }), 'PGW-007');
    expect(r.findings.map((f) => [f.object, f.severity])).toEqual([
      ['auth.signing_keys', 'medium'],
      ['signing key key-a-0000000000000001', 'medium'],
      ['signing key key-c-0000000000000003', 'critical'],
    ]);
    expect(r.findings[0]!.evidence.active).toEqual(['key-a-0000000000000001', 'key-c-0000000000000003']);
    expect(JSON.stringify(r)).not.toContain('c2VjcmV0');
  });
});

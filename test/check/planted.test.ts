import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bySeverity, type CheckResult, scanDatabase, type ScanReport, type Severity } from '../../src/check/index.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { detectPreloadLibraries } from '../../src/db/embedded/binaries.js';
import { resolveEmbeddedBindir } from '../../src/db/embedded/index.js';
import { HardenedCluster, type Plant, scannerGroup } from './helpers/hardened-cluster.js';

// C-01 / C-02 on a cluster hardened to every CIS check pgwarden runs over a connection. Only the
// cis and version families run here; the others have their own files.
const hasPgaudit = (await detectPreloadLibraries(process.env.PGWARDEN_PG_BINDIR || resolveEmbeddedBindir())).includes(
  'pgaudit',
);

let cluster: HardenedCluster;
/** True findings of these binaries: what hardening cannot fix here. */
let accepted: Record<string, Severity>;

beforeAll(async () => {
  cluster = await HardenedCluster.start();
  accepted = {
    ...(cluster.limits.pgaudit ? {} : { 'CIS-3.2': 'medium' as const }),
    ...(cluster.limits.checksums ? {} : { 'CIS-1.4.3': 'medium' as const }),
  };
});
afterAll(async () => cluster?.stop());

const scan = (conn: ConnectionConfig = cluster.conn(), options: { dbaRoles?: string[] } = {}) =>
  scanDatabase(conn, { only: ['cis', 'version'], host: 'off', ...options });

/** Each failing check with the worst severity among its findings. */
function failing(report: ScanReport): Record<string, Severity> {
  const out: Record<string, Severity> = {};
  for (const r of report.results) {
    if (r.verdict !== 'fail') continue;
    out[r.id] = r.findings.map((f) => f.severity).sort(bySeverity)[0]!;
  }
  return out;
}

const result = (report: ScanReport, id: string): CheckResult => {
  const r = report.results.find((x) => x.id === id);
  if (!r) throw new Error(`no result for ${id}`);
  return r;
};

/** Plants one misconfiguration, scans, undoes it; the failing checks must be exactly the accepted ones plus `expected`. */
async function planted(plant: Plant, expected: Record<string, Severity>): Promise<ScanReport> {
  const undo = await cluster.plant(plant);
  try {
    const report = await scan();
    expect(failing(report)).toEqual({ ...accepted, ...expected });
    return report;
  } finally {
    await undo();
  }
}

const password = 'Plant-3xq-9zk';

describe('the CIS checks on a hardened cluster', () => {
  it('report no failing check apart from the true findings of these binaries [C-01]', async () => {
    const report = await scan();
    expect(failing(report)).toEqual(accepted);
    expect(report.results.filter((r) => r.verdict === 'not_evaluated')).toEqual([]);
    expect(result(report, 'CIS-3.2').verdict).toBe(cluster.limits.pgaudit ? 'pass' : 'fail');
    expect(result(report, 'CIS-1.4.3').verdict).toBe(cluster.limits.checksums ? 'pass' : 'fail');
    // pgdsat's defects, fixed: initdb's Etc/UTC is UTC; ssl_ciphers is moot under TLS 1.3; a primary has no primary_conninfo to judge.
    expect(result(report, 'CIS-3.1.26').verdict).toBe('pass');
    expect(result(report, 'CIS-6.10').verdict).toBe('pass');
    expect(result(report, 'CIS-7.5').verdict).toBe('not_applicable');
  });

  it('finds trust authentication in pg_hba.conf [C-01]', async () => {
    const report = await planted(
      { hbaLines: ['hostssl postgres cis_app 127.0.0.1/32 trust'] },
      { 'CIS-5.4': 'critical' },
    );
    const [finding] = result(report, 'CIS-5.4').findings;
    expect(finding?.object).toBe('pg_hba.conf line 5');
    expect(finding?.message).toMatch(/trust/);
    expect(finding?.fix).toBeUndefined();
  });

  it('finds trust on a local line under its own id, 5.3 [C-01]', async () => {
    await planted({ hbaLines: ['local all all trust'] }, { 'CIS-5.3': 'critical' });
  });

  it('rates md5 in pg_hba.conf medium [C-01]', async () => {
    await planted({ hbaLines: ['hostssl postgres cis_app 127.0.0.1/32 md5'] }, { 'CIS-5.4': 'medium' });
  });

  it('finds password_encryption = md5, with a manual fix [C-01]', async () => {
    const report = await planted({ settings: { password_encryption: 'md5' } }, { 'CIS-5.12': 'high' });
    expect(result(report, 'CIS-5.12').findings[0]?.fix).toEqual([
      { sql: "alter system set password_encryption = 'scram-sha-256'", safety: 'manual' },
    ]);
  });

  it('finds ssl = off, and leaves the cipher list out of it [C-01]', async () => {
    const report = await planted(
      // A loopback line without TLS keeps the scanner able to connect; loopback is not a TLS exposure.
      { hbaLines: ['host postgres postgres 127.0.0.1/32 scram-sha-256'], settings: { ssl: 'off' } },
      { 'CIS-6.8': 'high' },
    );
    expect(report.results.find((r) => r.id === 'CIS-6.10')?.verdict).toBe('not_applicable');
  });

  it('finds log_connections = off once, with a safe fix that needs no restart [C-01]', async () => {
    const report = await planted({ settings: { log_connections: 'off' } }, { 'CIS-3.1.20': 'medium' });
    expect(result(report, 'CIS-3.1.20').findings[0]?.fix).toEqual([
      { sql: "alter system set log_connections = 'on'", safety: 'safe' },
    ]);
    expect(result(report, 'CIS-6.2').verdict).toBe('pass');
  });

  it.runIf(hasPgaudit)('finds pgaudit not loaded, with a fix that needs a restart [C-01]', async () => {
    const report = await planted(
      { settings: { shared_preload_libraries: ['pg_stat_statements', 'passwordcheck', 'auth_delay'] } },
      { 'CIS-3.2': 'medium' },
    );
    expect(result(report, 'CIS-3.2').findings[0]?.message).toMatch(/not loaded/);
    expect(result(report, 'CIS-3.2').findings[0]?.fix?.[0]?.restart).toBe(true);
  });

  it.runIf(hasPgaudit)('finds pgaudit.log without the write class [C-01]', async () => {
    const report = await planted({ settings: { 'pgaudit.log': 'ddl, role' } }, { 'CIS-3.2': 'medium' });
    expect(result(report, 'CIS-3.2').findings[0]?.message).toMatch(/does not audit write/);
  });

  it.skipIf(hasPgaudit)('fails CIS-3.2 where pgaudit is not installed [C-01]', async () => {
    const report = await scan();
    expect(result(report, 'CIS-3.2').findings.map((f) => [f.severity, f.message])).toEqual([
      ['medium', 'pgAudit is not loaded (shared_preload_libraries)'],
    ]);
  });

  it('finds an extra superuser, and accepts it when listed as a DBA role [C-01]', async () => {
    const undo = await cluster.plant({
      sql: `create role cis_extra_admin superuser login password '${password}'`,
      undoSql: 'drop role cis_extra_admin',
    });
    try {
      const report = await scan();
      expect(failing(report)).toEqual({ ...accepted, 'CIS-4.3': 'high' });
      expect(result(report, 'CIS-4.3').findings.map((f) => f.object)).toEqual(['role cis_extra_admin']);
      expect(failing(await scan(cluster.conn(), { dbaRoles: ['cis_extra_admin'] }))).toEqual(accepted);
    } finally {
      await undo();
    }
  });

  it('finds a login that can SET ROLE to a superuser [C-01]', async () => {
    const report = await planted(
      {
        sql: `create role cis_ops login connection limit 2 password '${password}'; grant postgres to cis_ops`,
        undoSql: 'drop role cis_ops',
      },
      { 'CIS-4.3': 'high' },
    );
    expect(result(report, 'CIS-4.3').findings.map((f) => f.object)).toEqual(['role cis_ops -> postgres']);
  });

  it('finds PUBLIC CREATE on the public schema, with a safe revoke [C-01]', async () => {
    const report = await planted(
      { sql: 'grant create on schema public to public', undoSql: 'revoke create on schema public from public' },
      { 'CIS-4.10': 'high' },
    );
    expect(result(report, 'CIS-4.10').findings[0]?.fix).toEqual([
      { sql: 'revoke create on schema "public" from public', safety: 'safe' },
    ]);
  });

  it('finds log_statement = none [C-01]', async () => {
    await planted({ settings: { log_statement: 'none' } }, { 'CIS-3.1.25': 'medium' });
  });

  it('finds a log time zone that leaves UTC for summer time [C-01]', async () => {
    await planted({ settings: { log_timezone: 'Europe/Paris' } }, { 'CIS-3.1.26': 'low' });
  });

  it('finds a pg_hba.conf line open to 0.0.0.0/0 [C-01]', async () => {
    await planted({ hbaLines: ['hostssl postgres cis_app 0.0.0.0/0 scram-sha-256'] }, { 'CIS-5.9': 'critical' });
  });

  it('finds superusers allowed remotely through the user "all" [C-01]', async () => {
    const report = await planted(
      { hbaLines: ['hostssl postgres all 10.20.0.0/16 scram-sha-256'] },
      { 'CIS-5.11': 'high', 'CIS-5.10': 'low' },
    );
    expect(result(report, 'CIS-5.11').findings[0]?.evidence.superusers).toEqual(['postgres']);
  });

  it('finds a host line without TLS from another network [C-01]', async () => {
    await planted({ hbaLines: ['host postgres cis_app 192.168.10.0/24 scram-sha-256'] }, { 'CIS-5.8': 'high' });
  });

  it('finds a pg_hba.conf line the server cannot parse while it keeps running [C-01]', async () => {
    const report = await planted(
      { hbaLines: ['hostssl postgres cis_app 10.1.2.3/24x scram-sha-256'] },
      { 'CIS-5.4': 'high' },
    );
    expect(result(report, 'CIS-5.4').findings[0]?.message).toMatch(/invalid line .*did not load/);
  });

  it('rates a TLS 1.2 minimum low and the default cipher list medium [C-01]', async () => {
    const report = await planted(
      { settings: { ssl_min_protocol_version: 'TLSv1.2' } },
      { 'CIS-6.8': 'low', 'CIS-6.10': 'medium' },
    );
    expect(
      result(report, 'CIS-6.10')
        .findings.map((f) => f.object)
        .sort(),
    ).toEqual(['forward secrecy', 'weak ciphers']);
  });

  it('is back to the hardened state once every plant is undone [C-01]', async () => {
    expect(failing(await scan())).toEqual(accepted);
  });
});

describe('the CIS checks under a least-privilege login', () => {
  it('evaluate every setting and catalog check, and never pass the pg_hba.conf checks [C-02]', async () => {
    const monitor = await cluster.createLogin('cis_monitor', [scannerGroup, 'pg_monitor', 'pg_read_all_settings']);
    try {
      const admin = await scan();
      const report = await scan(monitor);
      expect(report.target.user).toBe('cis_monitor');
      const hba = report.results.filter((r) => r.source === 'hba');
      expect(hba.map((r) => r.id)).toEqual(['CIS-5.3', 'CIS-5.4', 'CIS-5.8', 'CIS-5.9', 'CIS-5.10', 'CIS-5.11']);
      for (const r of hba)
        expect([r.id, r.verdict, r.reason]).toEqual([
          r.id,
          'not_evaluated',
          expect.stringMatching(/pg_hba_file_rules/),
        ]);
      const sql = report.results.filter((r) => r.source === 'sql');
      expect(sql.filter((r) => r.verdict === 'not_evaluated')).toEqual([]);
      expect(Object.fromEntries(sql.map((r) => [r.id, r.verdict]))).toEqual(
        Object.fromEntries(admin.results.filter((r) => r.source === 'sql').map((r) => [r.id, r.verdict])),
      );
    } finally {
      await cluster.sql('drop role cis_monitor');
    }
  });

  it('reports settings hidden from a login without pg_read_all_settings as not evaluated, never as passed [C-02]', async () => {
    const bare = await cluster.createLogin('cis_bare', [scannerGroup]);
    try {
      const report = await scan(bare);
      // data_directory, shared_preload_libraries and ssl_min_protocol_version are hidden from it.
      for (const id of ['CIS-1.9', 'CIS-3.2', 'CIS-5.6', 'CIS-6.8']) {
        expect([id, result(report, id).verdict, result(report, id).reason]).toEqual([
          id,
          'not_evaluated',
          expect.stringMatching(/pg_read_all_settings/),
        ]);
      }
      expect(result(report, 'CIS-3.1.20').verdict).toBe('pass');
    } finally {
      await cluster.sql('drop role cis_bare');
    }
  });
});

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cisChecks } from '../../src/check/checks/cis.js';
import { insideDataDirectory, zoneKeepsUtc } from '../../src/check/checks/cis-audit.js';
import {
  hbaAddress,
  loginSuperusers,
  methodSeverity,
  rangeSeverity,
  stayOnHost,
  superusersAllowed,
} from '../../src/check/checks/cis-hba.js';
import {
  auditedClasses,
  levelWithin,
  missingConnectionAspects,
  missingPrefixElements,
  prefixEscapes,
} from '../../src/check/checks/cis-log-format.js';
import { parseConninfo } from '../../src/check/checks/cis-replication.js';
import { alterSystem } from '../../src/check/checks/cis-support.js';
import { readCipherList } from '../../src/check/checks/cis-tls.js';
import { defaultScanSettings, ScanContext, scanDatabase } from '../../src/check/index.js';
import { adminConnection, serverMajor } from '../helpers/db.js';

// Evaluation logic of the CIS checks, on pure functions and, read-only, on the shared test
// cluster (never ALTER SYSTEM there: other files use it at the same time).

describe('the CIS catalog', () => {
  it('has one check per automated SQL/HBA benchmark row and no host-only row', () => {
    const ids = cisChecks.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    const logging = Array.from({ length: 26 }, (_, i) => `CIS-3.1.${i + 2}`);
    expect([...ids].sort()).toEqual(
      [
        ...['1.4.3', '1.4.4', '1.8', '1.9', '3.2', '4.3', '4.4', '4.5', '4.6', '4.8', '4.9', '4.10'].map(
          (n) => `CIS-${n}`,
        ),
        ...logging,
        ...['5.2', '5.3', '5.4', '5.5', '5.6', '5.7', '5.8', '5.9', '5.10', '5.11', '5.12'].map((n) => `CIS-${n}`),
        ...['6.2', '6.3', '6.4', '6.5', '6.6', '6.8', '6.9', '6.10', '6.11', '7.1', '7.2', '7.4', '7.5', '8.3'].map(
          (n) => `CIS-${n}`,
        ),
      ].sort(),
    );
    for (const c of cisChecks) {
      expect([c.id, c.family, c.source]).toEqual([`CIS-${c.cis}`, 'cis', expect.stringMatching(/^(sql|hba)$/)]);
    }
  });
});

describe('log_line_prefix parsing (CIS-3.1.24)', () => {
  it('reads escapes with padding and ignores %%', () => {
    expect([...prefixEscapes('%m [%-10p] %5u@%d %%h')].sort()).toEqual(['d', 'm', 'p', 'u']);
  });

  it("names what PostgreSQL's default prefix lacks", () => {
    expect(missingPrefixElements('%m [%p] ')).toEqual(['database', 'user', 'application', 'client']);
  });

  it('accepts %r for the client and %c for the process, and lets syslog supply time and process', () => {
    expect(missingPrefixElements('%n %c %d %u %a %r')).toEqual([]);
    expect(missingPrefixElements('%d %u %a %h', true)).toEqual([]);
    expect(missingPrefixElements('%d %u %a %h')).toEqual(['time', 'process']);
  });
});

describe('log_connections (CIS-3.1.20)', () => {
  it('accepts on (15–17) and the full PostgreSQL 18 list, and names what a partial list leaves out', () => {
    expect(missingConnectionAspects('on')).toEqual([]);
    expect(missingConnectionAspects('all')).toEqual([]);
    expect(missingConnectionAspects('receipt, authentication,authorization')).toEqual([]);
    expect(missingConnectionAspects('receipt,authorization')).toEqual(['authentication']);
    expect(missingConnectionAspects('off')).toEqual(['receipt', 'authentication', 'authorization']);
    expect(missingConnectionAspects('')).toEqual(['receipt', 'authentication', 'authorization']);
  });
});

describe('pgaudit.log classes (CIS-3.2)', () => {
  it('applies all, exclusions and order as pgAudit does', () => {
    expect([...auditedClasses('ddl, write')].sort()).toEqual(['ddl', 'write']);
    expect(auditedClasses('all, -write').has('write')).toBe(false);
    expect(auditedClasses('all, -write').has('role')).toBe(true);
    expect(auditedClasses('-ddl, all').has('ddl')).toBe(true);
    expect(auditedClasses('none').size).toBe(0);
  });
});

describe('message levels (CIS-3.1.14, 3.1.15)', () => {
  it('tells too verbose from too quiet', () => {
    expect(levelWithin('warning', 'info', 'warning')).toBe('ok');
    expect(levelWithin('debug1', 'info', 'warning')).toBe('too_verbose');
    expect(levelWithin('error', 'info', 'warning')).toBe('too_quiet');
    expect(levelWithin('LOG', 'info', 'error')).toBe('too_quiet');
  });
});

describe('pg_hba.conf addresses (CIS-5.8, 5.9, 5.11)', () => {
  it('reads prefixes from the netmask column, IPv4 and IPv6', () => {
    expect(hbaAddress('10.0.0.0', '255.0.0.0')).toEqual({ kind: 'cidr', family: 4, prefix: 8, loopback: false });
    expect(hbaAddress('fe80::', 'ffc0::')).toEqual({ kind: 'cidr', family: 6, prefix: 10, loopback: false });
    expect(
      hbaAddress('::1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')?.kind === 'cidr' &&
        stayOnHost(hbaAddress('::1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')),
    ).toBe(true);
    expect(hbaAddress(null, null)).toBeNull();
  });

  it('treats loopback, localhost and samehost as staying on the machine, and nothing wider', () => {
    expect(stayOnHost(hbaAddress('127.0.0.1', '255.255.255.255'))).toBe(true);
    expect(stayOnHost(hbaAddress('127.0.0.0', '255.0.0.0'))).toBe(true);
    expect(stayOnHost(hbaAddress('::ffff:127.0.0.1', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'))).toBe(true);
    expect(stayOnHost(hbaAddress('localhost', null))).toBe(true);
    expect(stayOnHost(hbaAddress('samehost', null))).toBe(true);
    expect(stayOnHost(hbaAddress('0.0.0.0', '0.0.0.0'))).toBe(false);
    expect(stayOnHost(hbaAddress('samenet', null))).toBe(false);
    expect(stayOnHost(hbaAddress('db.example.com', null))).toBe(false);
  });

  it('rates range sizes: any address critical, over 65,536 IPv4 addresses or wider than an IPv6 /64 medium', () => {
    const sev = (a: string, m: string | null) => rangeSeverity(hbaAddress(a, m));
    expect(sev('0.0.0.0', '0.0.0.0')).toBe('critical');
    expect(sev('::', '::')).toBe('critical');
    expect(sev('all', null)).toBe('critical');
    expect(sev('10.0.0.0', '255.0.0.0')).toBe('medium');
    expect(sev('10.0.0.0', '255.254.0.0')).toBe('medium');
    expect(sev('10.1.0.0', '255.255.0.0')).toBeNull();
    expect(sev('2001:db8::', 'ffff:ffff:ffff::')).toBe('medium');
    expect(sev('2001:db8::', 'ffff:ffff:ffff:ffff::')).toBeNull();
    expect(sev('samenet', null)).toBe('low');
    expect(sev('db.example.com', null)).toBeNull();
  });

  it('rates authentication methods, reading ident over TCP as high', () => {
    expect(['trust', 'password', 'md5', 'scram-sha-256', 'cert'].map((m) => methodSeverity('hostssl', m))).toEqual([
      'critical',
      'high',
      'medium',
      null,
      null,
    ]);
    expect(methodSeverity('host', 'ident')).toBe('high');
    expect(methodSeverity('local', 'peer')).toBeNull();
  });
});

describe('superusers named by a pg_hba.conf user column (CIS-5.11)', () => {
  const supers = [
    { name: 'postgres', memberOf: ['postgres'] },
    { name: 'ops_admin', memberOf: ['ops_admin', 'ops', 'staff'] },
  ];

  it('expands all, +group (through nested groups), /regex and names', () => {
    expect(superusersAllowed(['all'], supers)).toEqual(['ops_admin', 'postgres']);
    expect(superusersAllowed(['+staff'], supers)).toEqual(['ops_admin']);
    expect(superusersAllowed(['+postgres'], supers)).toEqual(['postgres']);
    expect(superusersAllowed(['/_admin$'], supers)).toEqual(['ops_admin']);
    expect(superusersAllowed(['app', '+readers'], supers)).toEqual([]);
  });

  it('assumes an unreadable regex matches', () => {
    expect(superusersAllowed(['/(unclosed'], supers)).toEqual(['ops_admin', 'postgres']);
  });
});

describe('ssl_ciphers (CIS-6.10)', () => {
  it("finds MEDIUM and static RSA in PostgreSQL's default list", () => {
    expect(readCipherList('HIGH:MEDIUM:+3DES:!aNULL')).toEqual({ weak: ['MEDIUM'], nonForwardSecret: true });
  });

  it('passes forward-secret AEAD lists and honours permanent exclusions', () => {
    expect(readCipherList('ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL')).toEqual({
      weak: [],
      nonForwardSecret: false,
    });
    expect(readCipherList('HIGH:MEDIUM:!MEDIUM:!kRSA:!aNULL')).toEqual({ weak: [], nonForwardSecret: false });
  });

  it('reads explicit suite names', () => {
    expect(readCipherList('DES-CBC3-SHA:ECDHE-RSA-AES128-GCM-SHA256').weak).toEqual(['3DES']);
    expect(readCipherList('AES128-GCM-SHA256').nonForwardSecret).toBe(true);
    expect(readCipherList('ECDHE-ECDSA-AES256-GCM-SHA384')).toEqual({ weak: [], nonForwardSecret: false });
    expect(readCipherList('EXP-RC4-MD5').weak).toEqual(['EXPORT', 'MD5', 'RC4']);
  });
});

describe('primary_conninfo (CIS-7.1, 7.5)', () => {
  it('reads keyword and URI forms', () => {
    const kw = parseConninfo("host=primary port=5432 user=replicator password='p\\'w d' sslmode=verify-full");
    expect([kw.host, kw.user, kw.sslmode]).toEqual(['primary', 'replicator', 'verify-full']);
    const uri = parseConninfo('postgresql://rep:secret@10.0.0.5:5433/postgres?sslmode=require&application_name=s1');
    expect([uri.host, uri.port, uri.user, uri.sslmode]).toEqual(['10.0.0.5', '5433', 'rep', 'require']);
    expect(parseConninfo('').sslmode).toBeUndefined();
  });
});

describe('paths and fixes', () => {
  it('places relative and nested directories inside the data directory', () => {
    expect(insideDataDirectory('log', '/var/lib/pg/data')).toBe(true);
    expect(insideDataDirectory('/var/lib/pg/data/log/', '/var/lib/pg/data')).toBe(true);
    expect(insideDataDirectory('/var/lib/pg/data-logs', '/var/lib/pg/data')).toBe(false);
    expect(insideDataDirectory('/var/log/postgresql', '/var/lib/pg/data/')).toBe(false);
  });

  it('writes list settings as one literal per item, and restarts for postmaster settings', () => {
    expect(
      alterSystem(
        { name: 'shared_preload_libraries', context: 'postmaster' },
        ['pg_stat_statements', 'pgaudit'],
        'manual',
      ),
    ).toEqual([
      {
        sql: "alter system set shared_preload_libraries = 'pg_stat_statements', 'pgaudit'",
        safety: 'manual',
        restart: true,
      },
    ]);
    expect(alterSystem({ name: 'log_line_prefix', context: 'sighup' }, "%m 'x' ", 'safe')[0]?.sql).toBe(
      "alter system set log_line_prefix = '%m ''x'' '",
    );
  });
});

describe('on the shared test cluster (read-only)', () => {
  let client: pg.Client;
  let ctx: ScanContext;
  beforeAll(async () => {
    client = new pg.Client(adminConnection());
    await client.connect();
    await client.query('set default_transaction_read_only = on');
    ctx = new ScanContext(
      client,
      {
        version: '',
        versionNum: 0,
        major: serverMajor(),
        database: 'postgres',
        user: 'postgres',
        superuser: true,
        memberOf: [],
      },
      defaultScanSettings,
      new Date(),
    );
  });
  afterAll(async () => client?.end());

  it("judges log time zones with the server's zone database: UTC aliases and zero-offset zones keep UTC, DST zones do not", async () => {
    for (const zone of ['UTC', 'Etc/UTC', 'Zulu', 'GMT', 'Etc/GMT', 'Africa/Abidjan']) {
      expect([zone, await zoneKeepsUtc(ctx, zone)]).toEqual([zone, true]);
    }
    for (const zone of ['Europe/London', 'America/New_York', 'Etc/GMT+1']) {
      expect([zone, await zoneKeepsUtc(ctx, zone)]).toEqual([zone, false]);
    }
  });

  it('expands the hba user "all" to the login superusers of the cluster', async () => {
    const supers = await loginSuperusers(ctx);
    expect(supers.map((s) => s.name)).toContain(adminConnection().user);
    expect(superusersAllowed(['all'], supers)).toContain(adminConnection().user);
    expect(superusersAllowed(['pgw_authenticator'], supers)).toEqual([]);
  });

  it("reads initdb's loopback host lines as local logins: no TLS or remote-superuser finding, but all/all is named", async () => {
    const report = await scanDatabase(adminConnection(), { only: ['CIS-5.'], host: 'off' });
    const verdict = (id: string) => report.results.find((r) => r.id === id)?.verdict;
    expect([verdict('CIS-5.4'), verdict('CIS-5.8'), verdict('CIS-5.9'), verdict('CIS-5.11')]).toEqual([
      'pass',
      'pass',
      'pass',
      'pass',
    ]);
    const wide = report.results.find((r) => r.id === 'CIS-5.10');
    expect(wide?.verdict).toBe('fail');
    expect(wide?.findings.every((f) => f.severity === 'low' && /^pg_hba\.conf line \d+$/.test(f.object ?? ''))).toBe(
      true,
    );
  });
});

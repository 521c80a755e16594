import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allChecks,
  type CheckDefinition,
  missingFixes,
  parseBaseline,
  type ScanReport,
  scanDatabase,
  selectChecks,
  summarize,
} from '../../src/check/index.js';
import type { ConnectionConfig } from '../../src/db/client.js';
import { quoteIdent, withClient } from '../../src/db/client.js';
import { adminConnection, installedDatabase, uniquePrefix } from '../helpers/db.js';
import { quietInstalledDatabase } from './helpers/quiet-cluster.js';

let db: ConnectionConfig;
let scanner: ConnectionConfig;
const scannerRole = `${uniquePrefix()}scanner`;

beforeAll(async () => {
  db = await installedDatabase();
  await withClient(adminConnection(), (c) =>
    c.query(`create role ${quoteIdent(scannerRole)} login password 'pw-scan' in role pg_monitor, pg_read_all_settings`),
  );
  scanner = { ...db, user: scannerRole, password: 'pw-scan' };
});

afterAll(async () => {
  await withClient(adminConnection(), async (c) => {
    await c.query(`drop owned by ${quoteIdent(scannerRole)}`).catch(() => undefined);
    await c.query(`drop role if exists ${quoteIdent(scannerRole)}`);
  });
});

const check = (
  id: string,
  evaluate: CheckDefinition['evaluate'],
  extra: Partial<CheckDefinition> = {},
): CheckDefinition => ({
  id,
  family: 'cis',
  section: 'Test',
  title: `test check ${id}`,
  severity: 'high',
  source: 'sql',
  rationale: 'test',
  remediation: 'test',
  evaluate,
  ...extra,
});

const stable = (r: ScanReport) => ({ ...r, startedAt: '', durationMs: 0 });

describe('scanDatabase', () => {
  it('runs every statement read-only and under the statement timeout [C-04]', async () => {
    const probes = [
      check('T-1', async (ctx) => {
        const rows = await ctx.query<{ ro: string; st: string }>(
          't.session',
          `select current_setting('transaction_read_only') as ro, current_setting('statement_timeout') as st`,
        );
        return { verdict: 'pass', evidence: rows[0]! };
      }),
      check('T-2', async (ctx) => {
        await ctx.query('t.write', 'create table public.scanner_was_here (id int)');
        return { verdict: 'pass' };
      }),
      check('T-3', async (ctx) => {
        await ctx.query('t.sleep', 'select pg_sleep(5)');
        return { verdict: 'pass' };
      }),
    ];
    const report = await scanDatabase(db, { checks: probes, statementTimeoutMs: 300 });
    const [session, write, sleep] = report.results;
    expect(session!.evidence).toEqual({ ro: 'on', st: '300ms' });
    expect(write).toMatchObject({ verdict: 'not_evaluated' });
    expect(write!.reason).toMatch(/SQLSTATE 25006/);
    expect(sleep).toMatchObject({ verdict: 'not_evaluated' });
    expect(sleep!.reason).toMatch(/SQLSTATE 57014/);
    const exists = await withClient(db, (c) => c.query(`select to_regclass('public.scanner_was_here') as t`));
    expect(exists.rows[0].t).toBeNull();
  });

  it('leaves no DDL or DML in pg_stat_statements from a full scan [C-04]', async () => {
    // The scanner's login is new: every statement recorded under it is the scan's own (no reset,
    // which would also wipe what other test files look at).
    await withClient(db, (c) => c.query('create extension if not exists pg_stat_statements'));
    await scanDatabase(scanner, {});
    const { rows } = await withClient(db, (c) =>
      c.query<{ query: string }>(
        `select query from pg_stat_statements s join pg_roles r on r.oid = s.userid
          where r.rolname = $1 and s.dbid = (select oid from pg_database where datname = current_database())`,
        [scannerRole],
      ),
    );
    expect(rows.length).toBeGreaterThan(0);
    const writes = rows.filter((r) => !/^\s*(select|with|show)\b/i.test(r.query));
    expect(writes).toEqual([]);
  });

  it('leaves no WRITE or DDL audit record in pgaudit from a full scan [C-04]', async (t) => {
    const loaded = await withClient(db, (c) =>
      c.query(`select setting from pg_settings where name = 'shared_preload_libraries'`),
    );
    if (!String(loaded.rows[0].setting).includes('pgaudit')) {
      if (process.env.PGWARDEN_EXPECT_PGAUDIT) throw new Error('pgaudit expected but not loaded');
      t.skip();
      return;
    }
    await withClient(adminConnection(), (c) =>
      c.query(`alter role ${quoteIdent(scannerRole)} set pgaudit.log = 'write, ddl'`),
    );
    const dataDir = (await withClient(db, (c) => c.query('show data_directory'))).rows[0].data_directory as string;
    const logFile = join(dirname(dataDir), 'server.log');
    const before = (await readFile(logFile, 'utf8')).length;
    // Positive control: the same role's write outside the scanner is audited.
    await withClient(scanner, (c) => c.query('create temp table pgaudit_probe (id int)'));
    await scanDatabase(scanner, {});
    await withClient(adminConnection(), (c) => c.query(`alter role ${quoteIdent(scannerRole)} reset pgaudit.log`));
    const lines = (await readFile(logFile, 'utf8'))
      .slice(before)
      .split('\n')
      .filter((l) => l.includes('AUDIT: SESSION'));
    expect(lines.some((l) => l.includes('pgaudit_probe'))).toBe(true);
    expect(lines.filter((l) => !l.includes('pgaudit_probe'))).toEqual([]);
  });

  it('reports a check that cannot look as not evaluated, never as a pass [C-02]', async () => {
    const report = await scanDatabase(scanner, {
      checks: [
        check('T-1', async (ctx) => {
          await ctx.hbaRules();
          return { verdict: 'pass' };
        }),
        check('T-2', async (ctx) => {
          await ctx.query('t.secret', 'select * from pg_authid');
          return { verdict: 'pass' };
        }),
        check('T-3', async () => ({ verdict: 'fail', findings: [] })),
        check('T-4', async () => {
          throw new Error('boom');
        }),
      ],
    });
    expect(report.results.map((r) => r.verdict)).toEqual([
      'not_evaluated',
      'not_evaluated',
      'not_evaluated',
      'not_evaluated',
    ]);
    expect(report.results[0]!.reason).toMatch(/pg_hba_file_rules/);
    expect(report.results[1]!.reason).toMatch(/insufficient privilege/);
    expect(report.summary).toMatchObject({ pass: 0, notEvaluated: 4, score: 0 });
  });

  it('gives the same report for the same state, in a fixed order [C-04]', async () => {
    // A cluster of its own: on the shared one, other test files create and drop roles meanwhile.
    // Host checks off: the machine's processes are not part of the server's state.
    const quiet = await quietInstalledDatabase('determinism');
    let a: ScanReport;
    let b: ScanReport;
    try {
      a = await scanDatabase(quiet.db, { host: 'off' });
      b = await scanDatabase(quiet.db, { host: 'off' });
    } finally {
      await quiet.remove();
    }
    expect(JSON.stringify(stable(b))).toBe(JSON.stringify(stable(a)));
    const ids = a.results.map((r) => r.id);
    expect(ids.length).toBe(allChecks.length);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('refuses an --only or --skip that matches no check (PW502)', () => {
    expect(() => selectChecks(allChecks, ['CIS-99.99'])).toThrow(expect.objectContaining({ code: 'PW502' }));
    expect(selectChecks(allChecks, ['version']).every((c) => c.family === 'version')).toBe(true);
    expect(selectChecks(allChecks, ['VER-'.slice(0, 3) + '-001'])).toHaveLength(1);
  });

  it('gives every check a unique stable id, a rationale and a remediation', () => {
    const ids = new Set<string>();
    for (const c of allChecks) {
      expect(c.id).toMatch(/^(CIS|HOST|RLS|PRIV|PGW|VER)-[0-9.]+[a-z-]*$/);
      expect(ids.has(c.id)).toBe(false);
      ids.add(c.id);
      expect(c.rationale.length).toBeGreaterThan(10);
      expect(c.remediation.length).toBeGreaterThan(5);
    }
  });
});

describe('baselines and waivers', () => {
  const failing = [
    check('T-9', async () => ({
      verdict: 'fail',
      findings: [
        { object: 'role a', message: 'a', evidence: {} },
        { object: 'role b', message: 'b', evidence: {}, severity: 'medium' },
      ],
    })),
  ];

  it('accepts a waived finding until its expiry day ends, then reports it again with a note', async () => {
    const baseline = parseBaseline(
      `waivers:\n  - { check: T-9, object: role a, reason: "second DBA until March", expires: 2026-03-31 }\n`,
      'b.yaml',
    );
    const during = await scanDatabase(db, { checks: failing, baseline, now: () => new Date('2026-03-31T23:00:00Z') });
    expect(during.results[0]!.findings[0]!.suppressed).toEqual({
      kind: 'waiver',
      reason: 'second DBA until March',
      expires: '2026-03-31',
    });
    expect(during.summary.findings).toMatchObject({ high: 0, medium: 1 });
    expect(during.summary.suppressed).toBe(1);
    const after = await scanDatabase(db, { checks: failing, baseline, now: () => new Date('2026-04-01T00:00:01Z') });
    expect(after.results[0]!.findings[0]!.suppressed).toBeUndefined();
    expect(after.notes).toEqual(['waiver for T-9 on role a expired on 2026-03-31: it no longer applies']);
  });

  it('counts a check whose every finding is accepted as passing in the score', async () => {
    const baseline = parseBaseline(`accepted:\n  - { check: T-9, reason: "known" }\n`, 'b.yaml');
    const report = await scanDatabase(db, { checks: failing, baseline });
    expect(report.summary).toMatchObject({ fail: 0, accepted: 1, suppressed: 2, score: 100 });
  });

  it('rejects a waiver without reason or expiry, naming the entry (PW500)', () => {
    expect(() => parseBaseline('waivers:\n  - { check: T-9 }\n', 'b.yaml')).toThrow(
      expect.objectContaining({
        code: 'PW500',
        detail: expect.stringMatching(/waivers\.0\.reason[\s\S]*waivers\.0\.expires/),
      }),
    );
    expect(() => parseBaseline('accepted: [', 'b.yaml')).toThrow(expect.objectContaining({ code: 'PW500' }));
  });
});

describe('summarize', () => {
  it('weights the score by severity and leaves unevaluated checks out of it', () => {
    const base = { family: 'cis', section: 's', title: 't', source: 'sql', rationale: 'r', remediation: 'r' } as const;
    const s = summarize([
      { ...base, id: 'A', severity: 'critical', verdict: 'pass', findings: [] },
      {
        ...base,
        id: 'B',
        severity: 'low',
        verdict: 'fail',
        findings: [{ checkId: 'B', severity: 'low', fingerprint: 'f', message: 'm', evidence: {} }],
      },
      { ...base, id: 'C', severity: 'high', verdict: 'not_evaluated', reason: 'no', findings: [] },
    ]);
    expect(s).toMatchObject({ pass: 1, fail: 1, notEvaluated: 1, score: Math.round((100 * 10) / 11) });
  });
});

describe('version advisories', () => {
  it('names the row-security CVEs an unpatched minor version lacks, as high [C-03] [R-22]', () => {
    expect(missingFixes(150002).map((m) => m.cve)).toEqual([
      'CVE-2023-2455',
      'CVE-2023-39418',
      'CVE-2024-10976',
      'CVE-2024-10978',
      'CVE-2025-8713',
    ]);
    expect(missingFixes(160004).map((m) => m.cve)).toEqual(['CVE-2024-10976', 'CVE-2024-10978', 'CVE-2025-8713']);
    expect(missingFixes(170006)).toEqual([]);
    expect(allChecks.find((c) => c.id === 'VER-001')!.severity).toBe('high');
  });

  it('finds nothing missing on the server under test, and says when a major reaches its end of life', async () => {
    const report = await scanDatabase(db, { only: ['version'] });
    expect(report.results.find((r) => r.id === 'VER-001')!.verdict).toBe('pass');
    const later = await scanDatabase(db, { only: ['VER-002'], now: () => new Date('2031-01-01T00:00:00Z') });
    expect(later.results[0]!.verdict).toBe('fail');
  });
});

import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ajvDraft04 from 'ajv-draft-04';
import ajvFormats from 'ajv-formats';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderFleet, renderReport, reportFormats } from '../../src/check/format/index.js';
import {
  baselineFrom,
  type CheckResult,
  fingerprintOf,
  orderResults,
  type ReportedFinding,
  type ScanReport,
  scanDatabase,
  summarize,
} from '../../src/check/index.js';
import { installedDatabase } from '../helpers/db.js';
import { expectChromium, findChromium } from '../helpers/chromium.js';
import { quietInstalledDatabase } from './helpers/quiet-cluster.js';

const evil = '<script>alert(1)</script>';
const tricky = `a < b & "c" 'd' | e \u0001 \u001b[31mred`;

/** Every verdict, a waiver with expiry, a baseline entry, per-finding severities and hostile text. */
function fixtureReport(): ScanReport {
  const check = (id: string, family: CheckResult['family'], extra: Partial<CheckResult>): CheckResult => ({
    id,
    family,
    section: 'Fixture section',
    title: `Fixture check ${id}`,
    severity: 'medium',
    source: 'sql',
    rationale: `Why ${id} matters.`,
    remediation: `Step one for ${id}.\nStep two: ALTER SYSTEM SET x = 'y';`,
    verdict: 'pass',
    findings: [],
    ...extra,
  });
  const finding = (
    checkId: string,
    object: string | undefined,
    message: string,
    extra: Partial<ReportedFinding> = {},
  ) => ({
    checkId,
    ...(object !== undefined ? { object } : {}),
    message,
    severity: 'high' as const,
    evidence: { seen: message },
    fingerprint: fingerprintOf(checkId, object),
    ...extra,
  });
  const results = [
    check('VER-001', 'version', {
      severity: 'high',
      cis: '1.5',
      references: ['CVE-2024-10976', 'https://www.postgresql.org/support/versioning/'],
      evidence: { serverVersion: '17.6' },
    }),
    check('CIS-3.1.2', 'cis', {
      verdict: 'fail',
      cis: '3.1.2',
      stig: ['V-TEST-1'],
      findings: [
        finding('CIS-3.1.2', undefined, 'log_connections is off', {
          severity: 'medium',
          fix: [{ sql: 'ALTER SYSTEM SET log_connections = on', safety: 'safe' }],
        }),
      ],
    }),
    check('CIS-4.3', 'cis', {
      verdict: 'fail',
      severity: 'high',
      findings: [
        finding('CIS-4.3', 'role alice', 'alice is superuser', { severity: 'critical' }),
        finding('CIS-4.3', 'role dba2', 'dba2 is superuser', {
          suppressed: { kind: 'waiver', reason: 'second DBA until the migration', expires: '2027-03-31' },
        }),
      ],
    }),
    check('CIS-5.1', 'cis', {
      verdict: 'fail',
      severity: 'low',
      findings: [
        finding('CIS-5.1', 'role old', 'old has no expiry', {
          suppressed: { kind: 'baseline', reason: 'known at adoption' },
        }),
      ],
    }),
    check('CIS-2.5', 'cis', { verdict: 'not_evaluated', reason: 'not run on the database host' }),
    check('CIS-1.8', 'cis', { verdict: 'manual', severity: 'low', evidence: { extensions: ['pgcrypto'] } }),
    check('CIS-3.1.5', 'cis', { verdict: 'not_applicable', reason: 'logging to files, not syslog' }),
    check('RLS-001', 'rls', {
      verdict: 'fail',
      severity: 'high',
      findings: [
        finding('RLS-001', `app.${evil}`, `table app.${evil} has no RLS: ${tricky}`, {
          evidence: { table: evil, note: tricky },
        }),
      ],
    }),
    check('PRIV-001', 'privilege', {
      verdict: 'fail',
      severity: 'info',
      findings: [finding('PRIV-001', 'schema public', 'public is owned by postgres', { severity: 'info' })],
    }),
    check('PGW-001', 'pgwarden', {
      verdict: 'not_evaluated',
      reason: `permission denied for table logs.ledger (${tricky})`,
    }),
  ];
  const ordered = orderResults(results);
  return {
    tool: { name: 'pgwarden', version: '0.1.0' },
    target: {
      name: `fixture <db> & "co"`,
      database: 'app db',
      user: 'scanner',
      serverVersion: '17.6',
      serverVersionNum: 170006,
    },
    startedAt: '2025-01-02T03:04:05.678Z',
    durationMs: 1234,
    host: false,
    results: ordered,
    summary: summarize(ordered),
    notes: ['waiver for CIS-9.9 expired on 2024-01-01: it no longer applies'],
  };
}

const fixture = fixtureReport();
let real: ScanReport;
// Two scans of an unchanged server: on a cluster of its own (on the shared one, other test
// files create and drop roles meanwhile), host checks off (the machine's processes change).
let dbOnly: [ScanReport, ScanReport];
let realBaselined: ScanReport;

beforeAll(async () => {
  const db = await installedDatabase();
  real = await scanDatabase(db, { name: 'formats-test' });
  const quiet = await quietInstalledDatabase('formats');
  try {
    dbOnly = [
      await scanDatabase(quiet.db, { name: 'formats-test', host: 'off' }),
      await scanDatabase(quiet.db, { name: 'formats-test', host: 'off' }),
    ];
    realBaselined = await scanDatabase(quiet.db, {
      name: 'formats-test',
      host: 'off',
      baseline: baselineFrom(dbOnly[0].results, 'accepted in a test'),
    });
  } finally {
    await quiet.remove();
  }
});

const schema = JSON.parse(readFileSync('test/fixtures/sarif/sarif-schema-2.1.0.json', 'utf8')) as object;
// CommonJS packages: their default export is the module, whose `default` is the class/plugin.
const ajv = new ajvDraft04.default({ allErrors: true, strict: false });
ajvFormats.default(ajv);
const validateSarif = ajv.compile(schema);

// eslint-disable-next-line no-control-regex
const stripAnsi = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');

interface SarifLog {
  $schema: string;
  version: string;
  runs: Array<{
    tool: {
      driver: { name: string; version: string; rules?: Array<{ id: string; properties: Record<string, unknown> }> };
    };
    automationDetails?: { id: string };
    invocations: Array<{
      executionSuccessful: boolean;
      toolExecutionNotifications: Array<{ level: string; descriptor: { id: string }; message: { text: string } }>;
    }>;
    results: Array<{
      ruleId: string;
      ruleIndex: number;
      level: string;
      message: { text: string };
      locations: Array<{
        physicalLocation: { artifactLocation: { uri: string } };
        logicalLocations: Array<{ name: string }>;
      }>;
      partialFingerprints: Record<string, string>;
      suppressions?: Array<{ kind: string; status: string; justification: string }>;
    }>;
  }>;
}

function sarifOf(report: ScanReport): SarifLog {
  const text = renderReport(report, 'sarif');
  const log = JSON.parse(text) as SarifLog;
  expect(validateSarif(log), JSON.stringify(validateSarif.errors, null, 2)).toBe(true);
  return log;
}

describe('sarif', () => {
  it('validates against the SARIF 2.1.0 schema, for the fixture and a real scan [C-04]', () => {
    for (const report of [fixture, real, realBaselined]) {
      const log = sarifOf(report);
      expect(log.version).toBe('2.1.0');
      expect(log.runs).toHaveLength(1);
      expect(log.runs[0]!.tool.driver.name).toBe('pgwarden');
      expect(log.runs[0]!.tool.driver.rules!.map((r) => r.id)).toEqual(report.results.map((r) => r.id));
    }
  });

  it('reports each finding under its stable check id, with a fingerprint and a location GitHub accepts [C-04]', () => {
    for (const report of [fixture, real]) {
      const run = sarifOf(report).runs[0]!;
      const findings = report.results.flatMap((r) => r.findings);
      expect(run.results.map((r) => r.ruleId)).toEqual(findings.map((f) => f.checkId));
      for (const [i, res] of run.results.entries()) {
        expect(run.tool.driver.rules![res.ruleIndex]!.id).toBe(res.ruleId);
        expect(res.partialFingerprints['pgwardenFinding/v1']).toBe(findings[i]!.fingerprint);
        expect(res.locations[0]!.physicalLocation.artifactLocation.uri).toMatch(/^postgresql\//);
        expect(res.locations[0]!.logicalLocations[0]!.name).toBe(findings[i]!.object ?? 'server');
      }
    }
    const run = sarifOf(fixture).runs[0]!;
    expect(run.results.find((r) => r.message.text.includes('alice'))!.level).toBe('error');
    expect(run.results.find((r) => r.ruleId === 'CIS-3.1.2')!.level).toBe('warning');
    expect(run.results.find((r) => r.ruleId === 'PRIV-001')!.level).toBe('note');
  });

  it('marks baselined and waived findings as accepted suppressions with the reason', () => {
    const run = sarifOf(fixture).runs[0]!;
    const suppressed = run.results.filter((r) => r.suppressions);
    expect(suppressed.map((r) => r.ruleId).sort()).toEqual(['CIS-4.3', 'CIS-5.1']);
    expect(suppressed.find((r) => r.ruleId === 'CIS-4.3')!.suppressions).toEqual([
      expect.objectContaining({
        kind: 'external',
        status: 'accepted',
        justification: 'second DBA until the migration (expires 2027-03-31)',
      }),
    ]);
    // A real scan with everything baselined: every result carries its suppression.
    const baselined = sarifOf(realBaselined).runs[0]!;
    expect(baselined.results.length).toBeGreaterThan(0);
    expect(baselined.results.every((r) => r.suppressions?.[0]?.justification === 'accepted in a test')).toBe(true);
    expect(baselined.results).toHaveLength(dbOnly[0].results.flatMap((r) => r.findings).length);
  });

  it('gives rules a security severity, tags and help, and lists not-evaluated checks as notifications', () => {
    const run = sarifOf(fixture).runs[0]!;
    const rule = run.tool.driver.rules!.find((r) => r.id === 'CIS-3.1.2')!;
    expect(rule.properties['security-severity']).toBe('5.5');
    expect(rule.properties.tags).toEqual(['cis', 'CIS-3.1.2', 'V-TEST-1', 'security']);
    expect(run.tool.driver.rules!.find((r) => r.id === 'CIS-4.3')!.properties['security-severity']).toBe('8.0');
    const invocation = run.invocations[0]!;
    expect(invocation.executionSuccessful).toBe(true);
    expect(invocation.toolExecutionNotifications.map((n) => [n.level, n.descriptor.id, n.message.text])).toEqual([
      ['warning', 'CIS-2.5', 'not run on the database host'],
      ['warning', 'PGW-001', `permission denied for table logs.ledger (${tricky})`],
    ]);
    const realRun = sarifOf(real).runs[0]!;
    expect(realRun.invocations[0]!.toolExecutionNotifications.map((n) => n.descriptor.id)).toEqual(
      real.results.filter((r) => r.verdict === 'not_evaluated').map((r) => r.id),
    );
  });
});

describe('determinism', () => {
  it('renders the same report byte-identically in every format [C-04]', () => {
    for (const format of reportFormats) {
      for (const report of [fixture, real]) {
        expect(renderReport(report, format, { verbose: true })).toBe(
          renderReport(structuredClone(report), format, { verbose: true }),
        );
      }
    }
  });

  it('renders two scans of an unchanged database identically once the start time and duration are aligned [C-04]', () => {
    const [first, second] = dbOnly;
    expect(first.results.length).toBeGreaterThan(0);
    const aligned = { ...second, startedAt: first.startedAt, durationMs: first.durationMs };
    for (const format of reportFormats) expect(renderReport(aligned, format)).toBe(renderReport(first, format));
  });
});

describe('table', () => {
  const plain = renderReport(fixture, 'table');

  it('starts with the target, server version, score and counts, then failing checks worst first with remediation', () => {
    const lines = plain.split('\n');
    expect(lines[0]).toContain('fixture <db> & "co"');
    expect(lines[0]).toContain('PostgreSQL 17.6');
    expect(lines[0]).toContain(`score ${fixture.summary.score}/100`);
    expect(lines[1]).toMatch(/10 checks: 1 pass, 4 fail, 2 not evaluated, 1 manual, 1 not applicable, 1 accepted/);
    const order = ['CRITICAL (1)', 'HIGH (1)', 'MEDIUM (1)', 'INFO (1)'].map((h) => lines.indexOf(h));
    expect(order.every((i, k) => i > 0 && (k === 0 || i > order[k - 1]!))).toBe(true);
    expect(plain).toContain('role alice: alice is superuser [critical]');
    expect(plain).toMatch(/remediation: Step one for CIS-4\.3\.\n\s+Step two/);
  });

  it('lists not-evaluated checks with their reasons and never calls them a pass [C-02]', () => {
    for (const report of [fixture, real]) {
      for (const verbose of [false, true]) {
        const text = renderReport(report, 'table', { verbose });
        for (const r of report.results.filter((x) => x.verdict === 'not_evaluated')) {
          const lines = text.split('\n').filter((l) => l.includes(r.id));
          expect(lines.length).toBeGreaterThan(0);
          for (const l of lines) expect(l).not.toMatch(/\bpass(ed|es)?\b/i);
        }
      }
    }
    expect(plain).toContain('NOT EVALUATED (2): these checks could not look and are not counted as passing');
    expect(plain).toContain('CIS-2.5  Fixture check CIS-2.5: not run on the database host');
    expect(plain).toContain('MANUAL (1)');
  });

  it('shows suppressed findings with their reason and expiry, dimmed when coloured', () => {
    expect(plain).toContain(
      'CIS-4.3 role dba2: dba2 is superuser [waiver: second DBA until the migration (expires 2027-03-31)]',
    );
    expect(plain).toContain('[baseline: known at adoption (no expiry)]');
    const colored = renderReport(fixture, 'table', { color: true });
    expect(colored).toContain('\u001b[2m  ~ CIS-4.3 role dba2');
    expect(plain).not.toContain('\u001b');
  });

  it('spells out control characters from the database instead of sending them to the terminal', () => {
    const colored = renderReport(fixture, 'table', { color: true });
    // eslint-disable-next-line no-control-regex
    expect(stripAnsi(colored)).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
    expect(plain).toContain('\\u0001 \\u001b[31mred');
  });

  it('keeps lines within 120 columns and lists every check with --verbose', () => {
    for (const report of [fixture, real]) {
      const verbose = stripAnsi(renderReport(report, 'table', { verbose: true, color: true }));
      for (const line of verbose.split('\n')) expect(line.length).toBeLessThanOrEqual(120);
      for (const r of report.results)
        expect(verbose).toMatch(new RegExp(`^  \\S.*${r.id.replace(/\./g, '\\.')}  `, 'm'));
    }
    const verbose = renderReport(fixture, 'table', { verbose: true });
    expect(verbose).toMatch(/^ {2}NOT EVALUATED {2}CIS-2\.5 /m);
    expect(verbose).toMatch(/^ {2}accepted {7}CIS-5\.1 /m);
    expect(verbose).toMatch(/^ {2}n\/a {12}CIS-3\.1\.5 /m);
  });
});

describe('json and markdown', () => {
  it('json is the report itself', () => {
    for (const report of [fixture, real]) expect(JSON.parse(renderReport(report, 'json'))).toEqual(report);
  });

  it('markdown has the score, counts, an escaped findings table, remediation and the not-evaluated list', () => {
    const md = renderReport(fixture, 'markdown');
    expect(md).toContain(`**Score: ${fixture.summary.score}/100**`);
    expect(md).toContain('| 10 | 1 | 4 | 1 | 2 | 1 | 1 |');
    expect(md).toContain('| CIS-4.3 | critical | role alice | alice is superuser |');
    expect(md).toContain('app.&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(md).not.toContain('<script>');
    expect(md).toContain('#### CIS-4.3: Fixture check CIS-4.3');
    expect(md).toContain('- **CIS-2.5** Fixture check CIS-2.5: not run on the database host');
    expect(md).toContain(
      '| CIS-4.3 | role dba2 | dba2 is superuser | waiver | second DBA until the migration | 2027-03-31 |',
    );
    // Every table row keeps its column count: no value breaks out of its cell.
    const findingRows = md.split('\n').filter((l) => /^\| [A-Z]+-[\d.]+ \| (critical|high|medium|low|info) \|/.test(l));
    expect(findingRows).toHaveLength(4);
    for (const line of findingRows) expect(line.replace(/\\\|/g, '').split('|')).toHaveLength(6);
    expect(md).toContain('has no RLS: a &lt; b &amp; "c" \'d\' \\| e \\\\u0001');
    expect(renderReport(real, 'markdown')).toContain(`**Score: ${real.summary.score}/100**`);
  });
});

describe('renderFleet', () => {
  const entries = () => [
    { target: 'eu <1>', report: fixture },
    { target: 'real', report: real },
    { target: 'down', error: { code: 'PW001', message: 'connection refused' } },
  ];

  it('summarises each target in table, markdown and json, with the error of a failed scan', () => {
    const table = renderFleet(entries(), 'table');
    const [header, ...rows] = table.split('\n');
    expect(header).toMatch(/^TARGET +SCORE +CRITICAL +HIGH +MEDIUM +LOW +NOT EVALUATED +ERROR$/);
    expect(rows[0]).toMatch(new RegExp(`^eu <1> +${fixture.summary.score} +1 +1 +1 +0 +2$`));
    expect(rows[2]).toMatch(/^down +- +- +- +- +- +- +PW001: connection refused$/);
    expect(renderFleet(entries(), 'markdown')).toContain(
      '| eu &lt;1&gt; | ' + `${fixture.summary.score} | 1 | 1 | 1 | 0 | 2 |  |`,
    );
    const json = JSON.parse(renderFleet(entries(), 'json')) as {
      targets: Array<{ target: string; ok: boolean; score: number | null }>;
    };
    expect(json.targets.map((t) => [t.target, t.ok, t.score])).toEqual([
      ['eu <1>', true, fixture.summary.score],
      ['real', true, real.summary.score],
      ['down', false, null],
    ]);
  });

  it('writes one valid SARIF run per target, each with its own category', () => {
    const log = JSON.parse(renderFleet(entries(), 'sarif')) as SarifLog;
    expect(validateSarif(log), JSON.stringify(validateSarif.errors, null, 2)).toBe(true);
    expect(log.runs.map((r) => r.automationDetails?.id)).toEqual([
      'pgwarden/eu <1>/',
      'pgwarden/real/',
      'pgwarden/down/',
    ]);
    expect(log.runs[2]!.invocations[0]!.executionSuccessful).toBe(false);
    expect(log.runs[2]!.invocations[0]!.toolExecutionNotifications[0]!.message.text).toBe('connection refused');
  });
});

const chromiumPath = findChromium();

// Minimal DOM shapes for code that runs inside the page (the test compiles without the DOM lib).
interface XmlEl {
  nodeName: string;
  textContent: string | null;
  getAttribute(name: string): string | null;
  getElementsByTagName(name: string): ArrayLike<XmlEl>;
}
interface ParsedJunit {
  error: string | null;
  tests: number;
  failures: number;
  skipped: number;
  errors: number;
  suites: Array<{ name: string; tests: number; cases: number; failures: number; skipped: number }>;
  failureText: string[];
}

describe.skipIf(!chromiumPath && !expectChromium)('in Chromium', () => {
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    if (!chromiumPath) {
      throw new Error(
        'Chromium is required (CI or PGWARDEN_EXPECT_CHROMIUM is set) but not installed: apt-get install chromium',
      );
    }
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
    dir = await mkdtemp(join(tmpdir(), 'pgwarden-formats-'));
  });
  afterAll(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function open(name: string, html: string) {
    const file = join(dir, name);
    await writeFile(file, html);
    const page = await browser.newPage();
    const seen = { requests: [] as string[], dialogs: [] as string[], errors: [] as string[] };
    page.on('request', (r) => seen.requests.push(r.url()));
    page.on('dialog', (d) => {
      seen.dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('console', (m) => {
      if (m.type() === 'error') seen.errors.push(m.text());
    });
    page.on('pageerror', (err) => seen.errors.push(err.message));
    const url = pathToFileURL(file).href;
    await page.goto(url);
    return { page, seen, url };
  }

  it('shows the score and findings as text, runs no injected script and fetches nothing [C-04]', async () => {
    const { page, seen, url } = await open('fixture.html', renderReport(fixture, 'html'));
    await expect.poll(() => page.locator('#score .score-value').textContent()).toBe(String(fixture.summary.score));
    expect(await page.locator('.finding .message', { hasText: 'alice is superuser' }).isVisible()).toBe(true);
    expect(await page.getByText(`app.${evil}`, { exact: true }).first().isVisible()).toBe(true);
    expect(await page.locator('pre.evidence', { hasText: `"table": "${evil}"` }).count()).toBe(1);
    expect(await page.locator('script').count()).toBe(0);
    expect(await page.locator('.reason', { hasText: 'Not evaluated: not run on the database host' }).isVisible()).toBe(
      true,
    );
    expect(
      await page
        .locator('.suppression', { hasText: 'waiver: second DBA until the migration (expires 2027-03-31)' })
        .isVisible(),
    ).toBe(true);
    expect(await page.locator('.refs', { hasText: 'CIS 3.1.2 · STIG V-TEST-1' }).isVisible()).toBe(true);
    expect(await page.title()).toBe('pgwarden check: fixture <db> & "co"');
    expect(await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content')).toBe(
      "default-src 'none'; style-src 'unsafe-inline'",
    );
    expect(seen).toEqual({ requests: [url], dialogs: [], errors: [] });
    await page.close();
  });

  it('opens the report of a real scan offline without errors', async () => {
    const { page, seen, url } = await open('real.html', renderReport(real, 'html'));
    expect(await page.locator('#score .score-value').textContent()).toBe(String(real.summary.score));
    expect(await page.locator('details.check').count()).toBe(real.results.length);
    for (const r of real.results.filter((x) => x.verdict === 'not_evaluated')) {
      expect(await page.locator(`details.v-not_evaluated .reason`, { hasText: r.reason! }).first().isVisible()).toBe(
        true,
      );
    }
    const fleet = await open(
      'fleet.html',
      renderFleet(
        [
          { target: evil, report: real },
          { target: 'down', error: { code: 'PW001', message: 'refused' } },
        ],
        'html',
      ),
    );
    expect(await fleet.page.locator('td', { hasText: evil }).count()).toBe(1);
    expect(seen).toEqual({ requests: [url], dialogs: [], errors: [] });
    expect(fleet.seen).toEqual({ requests: [fleet.url], dialogs: [], errors: [] });
    await page.close();
    await fleet.page.close();
  });

  it('writes well-formed JUnit XML whose counts match the report, also for a fleet', async () => {
    const page = await browser.newPage();
    const parse = (xml: string) =>
      page.evaluate((text): ParsedJunit => {
        const Parser = (
          globalThis as unknown as {
            DOMParser: new () => {
              parseFromString(
                s: string,
                t: string,
              ): { documentElement: XmlEl; getElementsByTagName(n: string): ArrayLike<XmlEl> };
            };
          }
        ).DOMParser;
        const doc = new Parser().parseFromString(text, 'application/xml');
        const error = doc.getElementsByTagName('parsererror')[0];
        const num = (el: XmlEl, name: string) => Number(el.getAttribute(name));
        const root = doc.documentElement;
        return {
          error: error ? error.textContent : null,
          tests: num(root, 'tests'),
          failures: num(root, 'failures'),
          skipped: num(root, 'skipped'),
          errors: num(root, 'errors'),
          suites: Array.from(doc.getElementsByTagName('testsuite')).map((s) => ({
            name: s.getAttribute('name') ?? '',
            tests: num(s, 'tests'),
            cases: s.getElementsByTagName('testcase').length,
            failures: s.getElementsByTagName('failure').length,
            skipped: s.getElementsByTagName('skipped').length,
          })),
          failureText: Array.from(doc.getElementsByTagName('failure')).map((f) => f.textContent ?? ''),
        };
      }, xml);
    // The parser is strict: a raw control character is rejected, so passing below means escaped.
    expect((await parse('<a>\u0001</a>')).error).not.toBeNull();

    for (const report of [fixture, real]) {
      const parsed = await parse(renderReport(report, 'junit'));
      expect(parsed.error).toBeNull();
      const s = report.summary;
      expect([parsed.tests, parsed.failures, parsed.skipped, parsed.errors]).toEqual([
        s.checks,
        s.fail,
        s.notEvaluated + s.manual + s.notApplicable,
        0,
      ]);
      for (const suite of parsed.suites) expect([suite.cases]).toEqual([suite.tests]);
    }
    const fx = await parse(renderReport(fixture, 'junit'));
    expect(fx.suites.map((x) => x.name)).toEqual([
      'version: Version and security fixes',
      'cis: CIS PostgreSQL benchmark',
      'rls: Row-level security',
      'privilege: Privileges',
      'pgwarden: pgwarden controls',
    ]);
    expect(fx.failureText.find((t) => t.includes('has no RLS'))).toContain(
      `table app.${evil} has no RLS: a < b & "c" 'd' | e \\u0001`,
    );

    const fleet = await parse(
      renderFleet(
        [
          { target: 'a & b', report: fixture },
          { target: 'down', error: { code: 'PW001', message: '<refused>' } },
        ],
        'junit',
      ),
    );
    expect(fleet.error).toBeNull();
    expect(fleet.suites.map((x) => [x.name, x.cases])).toEqual([
      ['a & b', fixture.results.length],
      ['down', 1],
    ]);
    expect([fleet.tests, fleet.errors]).toEqual([fixture.results.length + 1, 1]);
    await page.close();
  });
});

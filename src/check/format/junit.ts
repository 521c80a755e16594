import { openFindings } from '../summary.js';
import { type CheckResult, families, type ScanReport } from '../types.js';
import { type FleetEntry, familyTitles, referenceList, shownVerdict, suppressionText, visible } from './shared.js';

/**
 * XML 1.0 text: the five markup characters as entities, and control characters (which XML 1.0
 * cannot carry at all, not even as references) spelled out as `\u0001`.
 */
export function xmlText(text: string): string {
  return visible(text, true).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An attribute value: also quotes, and tab and newline as references so parsers keep them. */
export function xmlAttr(text: string): string {
  return xmlText(text).replace(/"/g, '&quot;').replace(/'/g, '&apos;').replace(/\n/g, '&#10;').replace(/\t/g, '&#9;');
}

const attrs = (values: Record<string, string | number>) =>
  Object.entries(values)
    .map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`)
    .join('');

interface Counts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

const compactJson = (value: unknown) => JSON.stringify(value);

function failureBody(r: CheckResult): string {
  const lines = openFindings(r).map(
    (f) => `[${f.severity}] ${f.object ? `${f.object}: ` : ''}${f.message}\n  evidence: ${compactJson(f.evidence)}`,
  );
  for (const f of r.findings.filter((x) => x.suppressed)) {
    lines.push(`[suppressed] ${f.object ? `${f.object}: ` : ''}${f.message} (${suppressionText(f)})`);
  }
  lines.push(`Remediation: ${r.remediation}`);
  const refs = referenceList(r);
  if (refs.length > 0) lines.push(`References: ${refs.join(', ')}`);
  return lines.join('\n');
}

function testcase(r: CheckResult, classname: string, counts: Counts): string {
  counts.tests++;
  const open = `    <testcase${attrs({ classname, name: `${r.id} ${r.title}`, time: 0 })}`;
  const verdict = shownVerdict(r);
  if (verdict === 'fail') {
    counts.failures++;
    const findings = openFindings(r);
    const message = `${findings.length} open finding${findings.length === 1 ? '' : 's'}: ${findings[0]?.message ?? ''}`;
    return `${open}>\n      <failure${attrs({ message, type: r.severity })}>${xmlText(failureBody(r))}</failure>\n    </testcase>`;
  }
  if (verdict === 'not_evaluated' || verdict === 'manual' || verdict === 'not_applicable') {
    counts.skipped++;
    const what = { not_evaluated: 'not evaluated', manual: 'manual check', not_applicable: 'not applicable' }[verdict];
    const reason = r.reason ?? (verdict === 'manual' ? 'a person must judge the evidence' : 'no reason given');
    const evidence = r.evidence ? `\n      <system-out>${xmlText(compactJson(r.evidence))}</system-out>` : '';
    return `${open}>\n      <skipped${attrs({ message: `${what}: ${reason}` })}/>${evidence}\n    </testcase>`;
  }
  if (verdict === 'accepted') {
    return `${open}>\n      <system-out>${xmlText(failureBody(r))}</system-out>\n    </testcase>`;
  }
  return `${open}/>`;
}

const zero = (): Counts => ({ tests: 0, failures: 0, errors: 0, skipped: 0 });

function add(total: Counts, c: Counts): void {
  total.tests += c.tests;
  total.failures += c.failures;
  total.errors += c.errors;
  total.skipped += c.skipped;
}

const timestamp = (report: ScanReport) => report.startedAt.slice(0, 19);
const seconds = (report: ScanReport) => (report.durationMs / 1000).toFixed(3);

function properties(report: ScanReport, indent: string): string {
  const props = {
    target: report.target.name,
    database: report.target.database,
    serverVersion: report.target.serverVersion,
    score: report.summary.score,
    pgwarden: report.tool.version,
  };
  const rows = Object.entries(props).map(([name, value]) => `${indent}  <property${attrs({ name, value })}/>`);
  return `${indent}<properties>\n${rows.join('\n')}\n${indent}</properties>`;
}

function suite(name: string, cases: string[], counts: Counts, report: ScanReport, props: boolean): string {
  const head = `  <testsuite${attrs({ name, ...counts, time: '0', timestamp: timestamp(report) })}>`;
  return [head, ...(props ? [properties(report, '    ')] : []), ...cases, '  </testsuite>'].join('\n');
}

const junitDocument = (name: string, counts: Counts, time: string, suites: string[]) =>
  [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attrs({ name, ...counts, time })}>`,
    ...suites,
    '</testsuites>',
  ].join('\n');

/**
 * JUnit XML for CI test reports: a testsuite per family, a testcase per check; failing checks
 * carry their open findings and remediation, and not-evaluated, manual and not-applicable checks
 * are skipped with the reason (never passed).
 *
 * @example
 * await writeFile('pgwarden-junit.xml', renderJunit(report));
 */
export function renderJunit(report: ScanReport): string {
  const total = zero();
  const suites = families.flatMap((family) => {
    const results = report.results.filter((r) => r.family === family);
    if (results.length === 0) return [];
    const counts = zero();
    const cases = results.map((r) => testcase(r, `pgwarden.${family}`, counts));
    add(total, counts);
    return [suite(`${family}: ${familyTitles[family]}`, cases, counts, report, true)];
  });
  return junitDocument(`pgwarden check ${report.target.name}`, total, seconds(report), suites);
}

/**
 * A fleet as JUnit XML: a testsuite per target; a target whose scan failed is one testcase in error.
 *
 * @example
 * await writeFile('fleet-junit.xml', renderFleetJunit(entries));
 */
export function renderFleetJunit(entries: readonly FleetEntry[]): string {
  const total = zero();
  let time = 0;
  const suites = entries.map((e) => {
    const counts = zero();
    if (!e.report || e.error) {
      counts.tests = 1;
      counts.errors = 1;
      add(total, counts);
      const message = e.error ? `${e.error.code}: ${e.error.message}` : 'the scan produced no report';
      return [
        `  <testsuite${attrs({ name: e.target, ...counts, time: '0' })}>`,
        `    <testcase${attrs({ classname: `pgwarden.${e.target}`, name: 'scan', time: 0 })}>`,
        `      <error${attrs({ message, type: e.error?.code ?? 'no-report' })}/>`,
        '    </testcase>',
        '  </testsuite>',
      ].join('\n');
    }
    const report = e.report;
    time += report.durationMs;
    const cases = report.results.map((r) => testcase(r, `pgwarden.${e.target}.${r.family}`, counts));
    add(total, counts);
    return suite(e.target, cases, counts, report, true);
  });
  return junitDocument('pgwarden check fleet', total, (time / 1000).toFixed(3), suites);
}

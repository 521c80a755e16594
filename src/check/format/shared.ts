import { bySeverity, openFindings } from '../summary.js';
import {
  type CheckResult,
  type Family,
  type ReportedFinding,
  type ScanReport,
  type Severity,
  severities,
} from '../types.js';

/**
 * One target of a fleet scan: its report, or why the scan failed.
 *
 * @example
 * const entry: FleetEntry = { target: 'eu-1', error: { code: 'PW001', message: 'connection refused' } };
 */
export interface FleetEntry {
  target: string;
  report?: ScanReport;
  error?: { code: string; message: string };
}

/** Headings of the families, in report order. */
export const familyTitles: Record<Family, string> = {
  version: 'Version and security fixes',
  cis: 'CIS PostgreSQL benchmark',
  host: 'Database host',
  rls: 'Row-level security',
  privilege: 'Privileges',
  pgwarden: 'pgwarden controls',
};

/**
 * How a check's verdict is shown. A failure whose every finding is accepted shows as `accepted`,
 * and a not-evaluated check never uses a word a reader could take for a pass.
 */
export type ShownVerdict = 'fail' | 'accepted' | 'not_evaluated' | 'manual' | 'pass' | 'not_applicable';

export const verdictLabels: Record<ShownVerdict, string> = {
  fail: 'FAIL',
  accepted: 'accepted',
  not_evaluated: 'NOT EVALUATED',
  manual: 'MANUAL',
  pass: 'pass',
  not_applicable: 'n/a',
};

export const shownVerdict = (r: CheckResult): ShownVerdict =>
  r.verdict === 'fail' && openFindings(r).length === 0 ? 'accepted' : r.verdict;

/** The worst severity among a check's open findings (its own severity when it has none). */
export function worstSeverity(r: CheckResult): Severity {
  return openFindings(r).reduce<Severity>(
    (worst, f) => (bySeverity(f.severity, worst) < 0 ? f.severity : worst),
    openFindings(r)[0]?.severity ?? r.severity,
  );
}

/** Checks with open findings, grouped by their worst open severity, worst first; report order inside. */
export function failingBySeverity(report: ScanReport): Array<{ severity: Severity; results: CheckResult[] }> {
  const failing = report.results.filter((r) => shownVerdict(r) === 'fail');
  return severities
    .map((severity) => ({ severity, results: failing.filter((r) => worstSeverity(r) === severity) }))
    .filter((g) => g.results.length > 0);
}

/** Every suppressed finding with its check, in report order. */
export const suppressedFindings = (report: ScanReport): Array<{ result: CheckResult; finding: ReportedFinding }> =>
  report.results.flatMap((result) =>
    result.findings.filter((f) => f.suppressed).map((finding) => ({ result, finding })),
  );

export const withVerdict = (report: ScanReport, verdict: CheckResult['verdict']): CheckResult[] =>
  report.results.filter((r) => r.verdict === verdict);

/** The check's references as labelled strings: `CIS 3.1.2`, `STIG V-233…`, then the others. */
export function referenceList(r: CheckResult): string[] {
  return [...(r.cis ? [`CIS ${r.cis}`] : []), ...(r.stig ?? []).map((s) => `STIG ${s}`), ...(r.references ?? [])];
}

/** `waiver: reason (expires 2027-03-31)` */
export function suppressionText(f: ReportedFinding): string {
  const s = f.suppressed;
  if (!s) return '';
  return `${s.kind}: ${s.reason}${s.expires ? ` (expires ${s.expires})` : ' (no expiry)'}`;
}

/**
 * Makes control characters visible (`\u001b`): names and messages come from the scanned
 * database, and a table name holding an escape sequence must not drive the reader's terminal or
 * make an XML document ill-formed. Zero-width and bidirectional formatting characters are spelled
 * out too: they would make one name look like another, or reorder what a reader sees. Tab and
 * newline are kept only when `keepLayout` is set.
 *
 * @example
 * visible('orders\u001b[2J'); // 'orders\\u001b[2J'
 */
export function visible(text: string, keepLayout = false): string {
  return text.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    (c) => {
      if (keepLayout && (c === '\n' || c === '\t')) return c;
      return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    },
  );
}

/** Evidence as indented JSON (pure data: never a secret, see Finding.evidence). */
export const prettyJson = (value: unknown): string => JSON.stringify(value, null, 2);

/** `1 critical, 2 high, …` from a findings-by-severity record, skipping zeros unless all are. */
export function severityCounts(findings: Record<Severity, number>, keepZeros = false): string {
  const parts = severities.filter((s) => keepZeros || findings[s] > 0).map((s) => `${findings[s]} ${s}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

/** A fleet entry's one-line status for summaries. */
export function fleetRow(entry: FleetEntry): {
  target: string;
  score: string;
  counts: Record<Severity, number> | null;
  notEvaluated: number | null;
  error: string;
} {
  const s = entry.report?.summary;
  return {
    target: entry.target,
    score: s ? String(s.score) : '-',
    counts: s ? s.findings : null,
    notEvaluated: s ? s.notEvaluated : null,
    error: entry.error ? `${entry.error.code}: ${entry.error.message}` : entry.report ? '' : 'no report',
  };
}

/**
 * Text for Markdown: punctuation that would start emphasis, a link, a table cell or a code span
 * is backslash-escaped and `<`, `>`, `&` become entities, so a value from the database renders as
 * the text it is. Newlines become spaces, or hard line breaks with `multiline`.
 */
export function mdText(text: string, multiline = false): string {
  const one = (line: string) =>
    visible(line)
      .replace(/[\\`*_[\]|~#]/g, (c) => `\\${c}`)
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;');
  const lines = text.split(/\r?\n/);
  return multiline ? lines.map(one).join('  \n') : lines.map(one).join(' ');
}

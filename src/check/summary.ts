import {
  type CheckResult,
  families,
  type ReportedFinding,
  type ScanSummary,
  type Severity,
  severities,
} from './types.js';

/** Weight of a check's severity in the score. */
export const severityWeight: Record<Severity, number> = { critical: 10, high: 6, medium: 3, low: 1, info: 0 };

/** Compares severities: negative when `a` is worse than `b`. */
export const bySeverity = (a: Severity, b: Severity): number => severities.indexOf(a) - severities.indexOf(b);

/** Whether `s` is at least as bad as `threshold`. */
export const atLeast = (s: Severity, threshold: Severity): boolean => bySeverity(s, threshold) <= 0;

const collator = new Intl.Collator('en', { numeric: true });

/** Natural order of ids: CIS-3.1.2 before CIS-3.1.10. */
export const compareIds = (a: string, b: string): number => collator.compare(a, b);

/**
 * Results in the report's fixed order (family, then id), findings by object then message, so two
 * scans of the same state print byte-identical output.
 */
export function orderResults(results: CheckResult[]): CheckResult[] {
  for (const r of results) {
    r.findings.sort((a, b) => cmp(a.object ?? '', b.object ?? '') || cmp(a.message, b.message));
  }
  return [...results].sort((a, b) => families.indexOf(a.family) - families.indexOf(b.family) || compareIds(a.id, b.id));
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Findings nobody accepted. */
export const openFindings = (r: CheckResult): ReportedFinding[] => r.findings.filter((f) => !f.suppressed);

/**
 * Counts and the score: the severity-weighted share of evaluated checks that pass, where a check
 * failing only on accepted findings passes. Not-evaluated and manual checks are outside the score
 * and counted separately, so a low-privilege scan cannot score higher by seeing less.
 *
 * @example
 * summarize(report.results).score; // 87
 */
export function summarize(results: readonly CheckResult[]): ScanSummary {
  const findings = Object.fromEntries(severities.map((s) => [s, 0])) as Record<Severity, number>;
  const s: ScanSummary = {
    checks: results.length,
    pass: 0,
    fail: 0,
    notEvaluated: 0,
    manual: 0,
    notApplicable: 0,
    findings,
    suppressed: 0,
    accepted: 0,
    score: 0,
  };
  let passWeight = 0;
  let totalWeight = 0;
  for (const r of results) {
    const weight = severityWeight[r.severity] || 0.5;
    if (r.verdict === 'pass') {
      s.pass++;
      passWeight += weight;
      totalWeight += weight;
    } else if (r.verdict === 'fail') {
      const open = openFindings(r);
      s.suppressed += r.findings.length - open.length;
      for (const f of open) findings[f.severity]++;
      totalWeight += weight;
      if (open.length === 0) {
        s.accepted++;
        passWeight += weight;
      } else s.fail++;
    } else if (r.verdict === 'not_evaluated') s.notEvaluated++;
    else if (r.verdict === 'manual') s.manual++;
    else s.notApplicable++;
  }
  s.score = totalWeight === 0 ? 0 : Math.round((100 * passWeight) / totalWeight);
  return s;
}

import { openFindings } from '../summary.js';
import { type ScanReport, severities } from '../types.js';
import {
  type FleetEntry,
  failingBySeverity,
  fleetRow,
  mdText,
  referenceList,
  suppressedFindings,
  withVerdict,
} from './shared.js';

const row = (cells: Array<string | number>) => `| ${cells.map(String).join(' | ')} |`;
const rule = (n: number, align = '---') => row(Array.from({ length: n }, () => align));

function countsTables(report: ScanReport): string[] {
  const s = report.summary;
  return [
    row(['Checks', 'Pass', 'Fail', 'Accepted', 'Not evaluated', 'Manual', 'Not applicable']),
    rule(7, '---:'),
    row([s.checks, s.pass, s.fail, s.accepted, s.notEvaluated, s.manual, s.notApplicable]),
    '',
    row([...severities.map((x) => x.charAt(0).toUpperCase() + x.slice(1)), 'Suppressed']),
    rule(severities.length + 1, '---:'),
    row([...severities.map((x) => s.findings[x]), s.suppressed]),
  ];
}

function findingsSection(report: ScanReport): string[] {
  const groups = failingBySeverity(report);
  if (groups.length === 0) return ['### Findings', '', 'No open findings.'];
  const rows = groups.flatMap((g) =>
    g.results.flatMap((r) =>
      openFindings(r).map((f) => row([mdText(r.id), f.severity, mdText(f.object ?? '(server)'), mdText(f.message)])),
    ),
  );
  const remediation = groups.flatMap((g) =>
    g.results.flatMap((r) => {
      const refs = referenceList(r);
      return [
        `#### ${mdText(r.id)}: ${mdText(r.title)}`,
        '',
        mdText(r.remediation, true),
        ...(refs.length ? ['', `References: ${refs.map((x) => mdText(x)).join(' · ')}`] : []),
        '',
      ];
    }),
  );
  return [
    '### Findings',
    '',
    row(['Check', 'Severity', 'Object', 'Message']),
    rule(4),
    ...rows,
    '',
    '### Remediation',
    '',
    ...remediation,
  ];
}

function listSection(
  report: ScanReport,
  verdict: 'not_evaluated' | 'manual',
  heading: string,
  intro: string,
): string[] {
  const results = withVerdict(report, verdict);
  if (results.length === 0) return [];
  return [
    '',
    `### ${heading}`,
    '',
    intro,
    '',
    ...results.map((r) => `- **${mdText(r.id)}** ${mdText(r.title)}${r.reason ? `: ${mdText(r.reason)}` : ''}`),
  ];
}

function suppressedSection(report: ScanReport): string[] {
  const rows = suppressedFindings(report);
  if (rows.length === 0) return [];
  return [
    '',
    '### Suppressed findings',
    '',
    row(['Check', 'Object', 'Message', 'Accepted by', 'Reason', 'Expires']),
    rule(6),
    ...rows.map(({ result, finding }) =>
      row([
        mdText(result.id),
        mdText(finding.object ?? '(server)'),
        mdText(finding.message),
        finding.suppressed?.kind ?? '',
        mdText(finding.suppressed?.reason ?? ''),
        mdText(finding.suppressed?.expires ?? 'never'),
      ]),
    ),
  ];
}

/**
 * A GitHub-flavoured Markdown summary (for `$GITHUB_STEP_SUMMARY` or a pull-request comment):
 * score, counts, findings, remediation per failing check, not-evaluated and manual checks,
 * suppressed findings. Every value from the database is escaped to render as text.
 *
 * @example
 * await appendFile(process.env.GITHUB_STEP_SUMMARY!, renderMarkdown(report));
 */
export function renderMarkdown(report: ScanReport): string {
  const t = report.target;
  return [
    `## pgwarden check: ${mdText(t.name)}`,
    '',
    `**Score: ${report.summary.score}/100** · PostgreSQL ${mdText(t.serverVersion)} · database ${mdText(t.database)} ` +
      `as ${mdText(t.user)} · scanned ${mdText(report.startedAt)} · host checks ${report.host ? 'ran' : 'did not run'}`,
    '',
    ...countsTables(report),
    '',
    ...findingsSection(report),
    ...listSection(
      report,
      'not_evaluated',
      'Not evaluated',
      'These checks could not look; they are not counted as passing.',
    ),
    ...listSection(
      report,
      'manual',
      'Manual review',
      'A person must judge these from the evidence in the JSON or HTML report.',
    ),
    ...suppressedSection(report),
    ...(report.notes.length ? ['', '### Notes', '', ...report.notes.map((n) => `- ${mdText(n)}`)] : []),
  ]
    .join('\n')
    .replace(/\n{3,}/g, '\n\n');
}

/**
 * A fleet's summary as a Markdown table, one row per target in the fleet's order.
 *
 * @example
 * await appendFile(process.env.GITHUB_STEP_SUMMARY!, renderFleetMarkdown(entries));
 */
export function renderFleetMarkdown(entries: readonly FleetEntry[]): string {
  const rows = entries.map((e) => {
    const r = fleetRow(e);
    const n = (s: 'critical' | 'high' | 'medium' | 'low') => (r.counts ? r.counts[s] : '-');
    return row([
      mdText(r.target),
      r.score,
      n('critical'),
      n('high'),
      n('medium'),
      n('low'),
      r.notEvaluated ?? '-',
      r.error ? mdText(r.error) : '',
    ]);
  });
  return [
    '## pgwarden check: fleet',
    '',
    row(['Target', 'Score', 'Critical', 'High', 'Medium', 'Low', 'Not evaluated', 'Error']),
    row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---']),
    ...rows,
  ].join('\n');
}

import { openFindings } from '../summary.js';
import type { CheckResult, ReportedFinding, ScanReport, Severity } from '../types.js';
import {
  type FleetEntry,
  failingBySeverity,
  fleetRow,
  severityCounts,
  shownVerdict,
  suppressedFindings,
  suppressionText,
  verdictLabels,
  visible,
  withVerdict,
} from './shared.js';

/** Options of the terminal renderers. */
export interface TableOptions {
  color?: boolean;
  verbose?: boolean;
}

const width = 120;

const ansi = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], yellow: [33, 39], cyan: [36, 39] } as const;
type Style = keyof typeof ansi;

// The library must not import the CLI, so it carries its own two-line painter.
const painter =
  (color: boolean) =>
  (style: Style, text: string): string =>
    color ? `\u001b[${ansi[style][0]}m${text}\u001b[${ansi[style][1]}m` : text;
type Paint = ReturnType<typeof painter>;

const severityStyle: Record<Severity, Style> = {
  critical: 'red',
  high: 'red',
  medium: 'yellow',
  low: 'cyan',
  info: 'dim',
};

/**
 * Word-wraps `text` to the terminal width with a hanging indent; newlines in the text are kept.
 * Callers pass report values through `visible` first (wrap sees painted text too).
 */
function wrap(text: string, indent: string, first = indent): string[] {
  const lines: string[] = [];
  let prefix = first;
  for (const paragraph of text.replace(/\t/g, '  ').split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      if (line !== '' && prefix.length + line.length + 1 + word.length > width) {
        lines.push(prefix + line);
        prefix = indent;
        line = word;
      } else line = line === '' ? word : `${line} ${word}`;
    }
    lines.push((prefix + line).trimEnd());
    prefix = indent;
  }
  return lines;
}

const scoreStyle = (score: number): Style => (score >= 90 ? 'green' : score >= 70 ? 'yellow' : 'red');

function header(report: ScanReport, paint: Paint): string[] {
  const s = report.summary;
  const t = report.target;
  return [
    ...wrap(
      `${paint('bold', 'pgwarden check')}  ${visible(t.name)}  PostgreSQL ${visible(t.serverVersion)}  ` +
        `score ${paint(scoreStyle(s.score), paint('bold', `${s.score}/100`))}`,
      '  ',
      '',
    ),
    ...wrap(
      `${s.checks} checks: ${s.pass} pass, ${s.fail} fail, ${s.notEvaluated} not evaluated, ${s.manual} manual, ` +
        `${s.notApplicable} not applicable${s.accepted ? `, ${s.accepted} accepted` : ''}; ` +
        `open findings: ${severityCounts(s.findings)}${s.suppressed ? `; ${s.suppressed} suppressed` : ''}`,
      '  ',
      '',
    ),
    ...wrap(
      `scanned ${report.startedAt} as ${visible(t.user)}; host checks ${report.host ? 'ran' : 'did not run'}`,
      '  ',
      '',
    ),
  ];
}

function findingLine(f: ReportedFinding, r: CheckResult, paint: Paint): string[] {
  const tag = f.severity !== r.severity ? ` [${f.severity}]` : '';
  // One line per finding: a newline in a name must not forge a line of the report.
  const text = `${f.object ? `${visible(f.object)}: ` : ''}${visible(f.message)}${tag}`;
  return wrap(text, '      ', '    - ').map((l, i) => (i === 0 ? l : paint('dim', l)));
}

function failingSection(report: ScanReport, paint: Paint): string[] {
  const lines: string[] = [];
  for (const group of failingBySeverity(report)) {
    lines.push(
      '',
      paint(severityStyle[group.severity], paint('bold', `${group.severity.toUpperCase()} (${group.results.length})`)),
    );
    for (const r of group.results) {
      lines.push(...wrap(`${paint('bold', visible(r.id))}  ${visible(r.title)}`, '    ', '  '));
      for (const f of openFindings(r)) lines.push(...findingLine(f, r, paint));
      lines.push(...wrap(visible(r.remediation, true), '      ', `    ${paint('green', 'remediation:')} `));
    }
  }
  return lines;
}

function notEvaluatedSection(report: ScanReport, paint: Paint): string[] {
  const results = withVerdict(report, 'not_evaluated');
  if (results.length === 0) return [];
  return [
    '',
    paint(
      'yellow',
      paint('bold', `NOT EVALUATED (${results.length}): these checks could not look and are not counted as passing`),
    ),
    ...results.flatMap((r) =>
      wrap(`${visible(r.id)}  ${visible(r.title)}: ${visible(r.reason ?? 'no reason given')}`, '      ', '  ? '),
    ),
  ];
}

function manualSection(report: ScanReport, paint: Paint): string[] {
  const results = withVerdict(report, 'manual');
  if (results.length === 0) return [];
  return [
    '',
    ...wrap(
      `${paint('bold', `MANUAL (${results.length})`)}: a person must judge these; the JSON or HTML report lists ` +
        `their evidence: ${results.map((r) => visible(r.id)).join(', ')}`,
      '  ',
      '',
    ),
  ];
}

function suppressedSection(report: ScanReport, paint: Paint): string[] {
  const rows = suppressedFindings(report);
  if (rows.length === 0) return [];
  return [
    '',
    paint('dim', `SUPPRESSED (${rows.length}): accepted by the baseline or a waiver`),
    ...rows.flatMap(({ result, finding }) =>
      wrap(
        `${visible(result.id)} ${finding.object ? `${visible(finding.object)}: ` : ''}${visible(finding.message)} ` +
          `[${visible(suppressionText(finding), true)}]`,
        '      ',
        '  ~ ',
      ).map((l) => paint('dim', l)),
    ),
  ];
}

function verboseSection(report: ScanReport, paint: Paint): string[] {
  const labelWidth = Math.max(...Object.values(verdictLabels).map((l) => l.length));
  return [
    '',
    paint('bold', 'ALL CHECKS'),
    ...report.results.flatMap((r) => {
      const v = shownVerdict(r);
      const label = verdictLabels[v].padEnd(labelWidth);
      const styled =
        v === 'fail'
          ? paint('red', label)
          : v === 'pass' || v === 'accepted'
            ? paint('green', label)
            : paint('yellow', label);
      const why = r.reason && v !== 'pass' ? `: ${r.reason}` : '';
      return wrap(visible(`${r.id}  ${r.title}${why}`), ' '.repeat(labelWidth + 4), `  ${styled}  `);
    }),
  ];
}

/**
 * The report for a terminal: header, failing checks by severity with their remediation, the
 * checks that could not be evaluated (never shown as passing), manual checks, suppressed
 * findings; with `verbose`, every check and its verdict.
 *
 * @example
 * console.log(renderTable(report, { color: process.stdout.isTTY }));
 */
export function renderTable(report: ScanReport, options: TableOptions = {}): string {
  const paint = painter(options.color === true);
  const lines = [
    ...header(report, paint),
    ...failingSection(report, paint),
    ...notEvaluatedSection(report, paint),
    ...manualSection(report, paint),
    ...suppressedSection(report, paint),
    ...(options.verbose ? verboseSection(report, paint) : []),
  ];
  if (report.summary.fail === 0) lines.push('', paint('green', 'No open findings.'));
  if (report.notes.length > 0)
    lines.push('', ...report.notes.flatMap((n) => wrap(visible(n, true), '    ', '  note: ')));
  return lines.join('\n');
}

/**
 * One line per fleet target: score, open findings by severity, not-evaluated count, or the
 * reason its scan failed.
 *
 * @example
 * console.log(renderFleetTable([{ target: 'eu', report }, { target: 'us', error }]));
 */
export function renderFleetTable(entries: readonly FleetEntry[], options: TableOptions = {}): string {
  const paint = painter(options.color === true);
  const headers = ['TARGET', 'SCORE', 'CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'NOT EVALUATED', 'ERROR'];
  const rows = entries.map((e) => {
    const row = fleetRow(e);
    const n = (s: Severity) => (row.counts ? String(row.counts[s]) : '-');
    return [
      visible(row.target),
      row.score,
      n('critical'),
      n('high'),
      n('medium'),
      n('low'),
      row.notEvaluated === null ? '-' : String(row.notEvaluated),
      visible(row.error),
    ];
  });
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[], styles: Array<Style | null> = []) =>
    cells
      .map((c, i) => {
        const padded = i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0);
        const style = styles[i];
        return style && c !== '0' && c !== '-' && c !== '' ? paint(style, padded) : padded;
      })
      .join('  ')
      .trimEnd();
  return [
    line(
      headers,
      headers.map(() => 'bold'),
    ),
    ...rows.map((r) => line(r, [null, null, 'red', 'red', 'yellow', 'cyan', 'yellow', 'red'])),
  ].join('\n');
}

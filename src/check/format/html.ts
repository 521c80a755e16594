import { openFindings } from '../summary.js';
import { type CheckResult, families, type ReportedFinding, type ScanReport, severities } from '../types.js';
import { htmlStyle } from './html-style.js';
import {
  type FleetEntry,
  failingBySeverity,
  familyTitles,
  fleetRow,
  prettyJson,
  shownVerdict,
  suppressedFindings,
  suppressionText,
  verdictLabels,
  withVerdict,
  visible,
} from './shared.js';

/** Text or attribute value for HTML: markup characters as entities, control characters spelled out. */
export const escapeHtml = (text: string): string =>
  visible(text, true)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');

const e = escapeHtml;

// Nothing is fetched, nothing runs: only inline style is allowed, and no referrer leaves on a click.
const csp = `default-src 'none'; style-src 'unsafe-inline'`;

function page(title: string, body: string[]): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    '<meta name="referrer" content="no-referrer">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${e(title)}</title>`,
    `<style>${htmlStyle}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
  ].join('\n');
}

const isUrl = (s: string) => /^https?:\/\/[^\s"'<>]+$/.test(s);
const scoreClass = (score: number) => (score >= 90 ? 'score-good' : score >= 70 ? 'score-fair' : 'score-poor');

function references(r: CheckResult): string {
  const refs = [
    ...(r.cis ? [`CIS ${e(r.cis)}`] : []),
    ...(r.stig ?? []).map((s) => `STIG ${e(s)}`),
    ...(r.references ?? []).map((ref) =>
      isUrl(ref) ? `<a href="${e(ref)}" rel="noopener noreferrer">${e(ref)}</a>` : e(ref),
    ),
  ];
  return refs.length ? `<p class="refs"><strong>References:</strong> ${refs.join(' · ')}</p>` : '';
}

function finding(f: ReportedFinding): string {
  const fixes = (f.fix ?? []).map(
    (x) =>
      `<p class="muted">Fix (${x.safety === 'safe' ? 'safe to apply' : 'review first'}` +
      `${x.restart ? ', needs a restart' : ''}):</p><pre class="fix">${e(x.sql)}</pre>`,
  );
  return [
    `<div class="finding${f.suppressed ? ' suppressed' : ''}">`,
    `<p><span class="tag sev-${f.severity}">${f.severity}</span> ` +
      `${f.object ? `<strong class="object">${e(f.object)}</strong>: ` : ''}<span class="message">${e(f.message)}</span></p>`,
    ...(f.suppressed ? [`<p class="suppression">Suppressed by ${e(suppressionText(f))}</p>`] : []),
    `<pre class="evidence">${e(prettyJson(f.evidence))}</pre>`,
    ...fixes,
    '</div>',
  ].join('\n');
}

function check(r: CheckResult): string {
  const v = shownVerdict(r);
  const open = v === 'fail' || v === 'not_evaluated' ? ' open' : '';
  const reasonLabel = { not_evaluated: 'Not evaluated', not_applicable: 'Not applicable', manual: 'For review' };
  return [
    `<details class="check v-${v}" id="check-${e(r.id)}"${open}>`,
    `<summary><span class="verdict">${verdictLabels[v]}</span><span class="id">${e(r.id)}</span>` +
      `<span class="title">${e(r.title)}</span><span class="tag sev-${r.severity}">${r.severity}</span></summary>`,
    '<div class="body">',
    ...(r.reason && r.verdict !== 'pass' && r.verdict !== 'fail'
      ? [`<p class="reason"><strong>${reasonLabel[r.verdict]}:</strong> ${e(r.reason)}</p>`]
      : []),
    ...r.findings.map(finding),
    ...(r.evidence ? [`<p class="muted">Evidence:</p><pre class="evidence">${e(prettyJson(r.evidence))}</pre>`] : []),
    `<p><strong>Why:</strong> ${e(r.rationale)}</p>`,
    `<p class="remediation"><strong>Remediation:</strong> ${e(r.remediation)}</p>`,
    references(r),
    '</div>',
    '</details>',
  ].join('\n');
}

function overview(report: ScanReport): string[] {
  const s = report.summary;
  const counts: Array<[string, number]> = [
    ['Checks', s.checks],
    ['Pass', s.pass],
    ['Fail', s.fail],
    ['Accepted', s.accepted],
    ['Not evaluated', s.notEvaluated],
    ['Manual', s.manual],
    ['Not applicable', s.notApplicable],
    ['Suppressed findings', s.suppressed],
  ];
  return [
    '<section class="overview">',
    `<div class="score ${scoreClass(s.score)}" id="score"><span class="score-value">${s.score}</span>` +
      '<span class="muted">score out of 100</span></div>',
    '<div class="breakdown">',
    '<h2>Open findings by severity</h2>',
    '<ul class="severities">',
    ...severities.map((x) => `<li class="sev-${x}"><span class="n">${s.findings[x]}</span>${x}</li>`),
    '</ul>',
    '<table class="counts">',
    `<tr>${counts.map(([k]) => `<th>${k}</th>`).join('')}</tr>`,
    `<tr>${counts.map(([, n]) => `<td>${n}</td>`).join('')}</tr>`,
    '</table>',
    '</div>',
    '</section>',
  ];
}

const checkLink = (r: CheckResult) => `<a href="#check-${e(r.id)}" class="id">${e(r.id)}</a> ${e(r.title)}`;

function attention(report: ScanReport): string[] {
  const out: string[] = [];
  if (report.notes.length) out.push('<h2>Notes</h2>', '<ul>', ...report.notes.map((n) => `<li>${e(n)}</li>`), '</ul>');
  const failing = failingBySeverity(report);
  if (failing.length) {
    out.push(
      '<h2 id="failing">Failing checks</h2>',
      '<ul>',
      ...failing.flatMap((g) =>
        g.results.map((r) => {
          const n = openFindings(r).length;
          return `<li><span class="tag sev-${g.severity}">${g.severity}</span> ${checkLink(r)}: ${n} finding${n === 1 ? '' : 's'}</li>`;
        }),
      ),
      '</ul>',
    );
  }
  const ne = withVerdict(report, 'not_evaluated');
  if (ne.length) {
    out.push(
      '<h2 id="not-evaluated">Not evaluated</h2>',
      '<p class="muted">These checks could not look; they are not counted as passing.</p>',
      '<ul>',
      ...ne.map(
        (r) => `<li><a href="#check-${e(r.id)}" class="id">${e(r.id)}</a> ${e(r.title)}: ${e(r.reason ?? '')}</li>`,
      ),
      '</ul>',
    );
  }
  const sup = suppressedFindings(report);
  if (sup.length) {
    out.push(
      '<h2 id="suppressed">Suppressed findings</h2>',
      '<table><tr><th>Check</th><th>Object</th><th>Message</th><th>Accepted by</th><th>Reason</th><th>Expires</th></tr>',
      ...sup.map(
        ({ result, finding: f }) =>
          `<tr><td class="id">${e(result.id)}</td><td>${e(f.object ?? '(server)')}</td><td>${e(f.message)}</td>` +
          `<td>${f.suppressed?.kind ?? ''}</td><td>${e(f.suppressed?.reason ?? '')}</td>` +
          `<td>${e(f.suppressed?.expires ?? 'never')}</td></tr>`,
      ),
      '</table>',
    );
  }
  return out;
}

function familySections(report: ScanReport): string[] {
  return families.flatMap((family) => {
    const results = report.results.filter((r) => r.family === family);
    if (results.length === 0) return [];
    const sections = [...new Set(results.map((r) => r.section))];
    return [
      `<section class="family" id="family-${family}">`,
      `<h2>${e(familyTitles[family])}</h2>`,
      ...sections.flatMap((section) => [
        `<h3>${e(section)}</h3>`,
        ...results.filter((r) => r.section === section).map(check),
      ]),
      '</section>',
    ];
  });
}

/**
 * The report as one self-contained HTML page (inline style, no script, no fetch): the score, the
 * severity breakdown, every check by family and section with its verdict, findings with their
 * evidence and remediation, references, not-evaluated reasons and suppressed findings.
 *
 * @example
 * await writeFile('pgwarden-report.html', renderHtml(report));
 */
export function renderHtml(report: ScanReport): string {
  const t = report.target;
  return page(`pgwarden check: ${t.name}`, [
    '<header>',
    `<h1>pgwarden check <span class="target">${e(t.name)}</span></h1>`,
    `<p class="meta">PostgreSQL ${e(t.serverVersion)} · database ${e(t.database)} as ${e(t.user)} · ` +
      `scanned ${e(report.startedAt)} in ${(report.durationMs / 1000).toFixed(1)} s · ` +
      `host checks ${report.host ? 'ran' : 'did not run'}</p>`,
    '</header>',
    ...overview(report),
    ...attention(report),
    '<main>',
    ...familySections(report),
    '</main>',
    `<footer>pgwarden ${e(report.tool.version)}</footer>`,
  ]);
}

/**
 * A fleet's summary as one self-contained HTML page: a row per target with its score, open
 * findings by severity, not-evaluated count, or the error that stopped its scan.
 *
 * @example
 * await writeFile('fleet.html', renderFleetHtml(entries));
 */
export function renderFleetHtml(entries: readonly FleetEntry[]): string {
  const rows = entries.map((entry) => {
    const r = fleetRow(entry);
    const n = (s: 'critical' | 'high' | 'medium' | 'low') => (r.counts ? String(r.counts[s]) : '-');
    const score = entry.report ? `<span class="${scoreClass(entry.report.summary.score)}">${r.score}</span>` : '-';
    return (
      `<tr><td>${e(r.target)}</td><td>${score}</td><td class="sev-critical">${n('critical')}</td>` +
      `<td class="sev-high">${n('high')}</td><td class="sev-medium">${n('medium')}</td><td class="sev-low">${n('low')}</td>` +
      `<td>${r.notEvaluated ?? '-'}</td><td>${e(r.error)}</td></tr>`
    );
  });
  return page('pgwarden check: fleet', [
    '<header><h1>pgwarden check: fleet</h1></header>',
    '<main>',
    '<table class="fleet">',
    '<tr><th>Target</th><th>Score</th><th>Critical</th><th>High</th><th>Medium</th><th>Low</th>' +
      '<th>Not evaluated</th><th>Error</th></tr>',
    ...rows,
    '</table>',
    '</main>',
  ]);
}

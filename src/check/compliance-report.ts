import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { isExpired } from './baseline.js';
import type { SavedScan } from './history.js';
import { bySeverity, compareIds, openFindings } from './summary.js';
import { families, type Severity, severities, type Verdict } from './types.js';

/** Options of `renderComplianceReport`. */
export interface ComplianceReportOptions {
  /** The date waivers are judged against; default the newest scan's start (keeps output deterministic). */
  now?: Date;
  title?: string;
}

interface OpenFinding {
  severity: Severity;
  checkId: string;
  title: string;
  object?: string | undefined;
  message: string;
  evidence: Record<string, unknown>;
  remediation: string;
  fix: string[];
}

interface TargetModel {
  target: string;
  latest: SavedScan;
  /** Oldest first. */
  runs: SavedScan[];
  open: OpenFinding[];
  accepted: Array<{
    checkId: string;
    object?: string | undefined;
    kind: string;
    reason: string;
    expires?: string | undefined;
    expired: boolean;
  }>;
  unseen: Array<{ id: string; title: string; verdict: Verdict; reason: string }>;
  families: Array<{ family: string; evaluated: number; passing: number; other: number }>;
}

// Code-unit order on ISO strings, never the locale's: the same input must render the same bytes.
const byStart = (a: SavedScan, b: SavedScan) =>
  a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : a.id - b.id;

function model(history: readonly SavedScan[], now: Date): TargetModel[] {
  const targets = [...new Set(history.map((r) => r.target))].sort();
  return targets.map((target) => {
    const runs = history.filter((r) => r.target === target).sort(byStart);
    const latest = runs.at(-1)!;
    const m: TargetModel = { target, latest, runs, open: [], accepted: [], unseen: [], families: [] };
    for (const r of latest.report.results) {
      for (const f of r.findings) {
        if (f.suppressed) {
          const { kind, reason, expires } = f.suppressed;
          const expired = expires !== undefined && isExpired({ check: r.id, reason, expires }, now);
          m.accepted.push({ checkId: r.id, object: f.object, kind, reason, expires, expired });
          continue;
        }
        m.open.push({
          severity: f.severity,
          checkId: r.id,
          title: r.title,
          object: f.object,
          message: f.message,
          evidence: f.evidence,
          remediation: r.remediation,
          fix: (f.fix ?? []).map((x) => x.sql),
        });
      }
      if (r.verdict === 'not_evaluated' || r.verdict === 'manual') {
        m.unseen.push({ id: r.id, title: r.title, verdict: r.verdict, reason: r.reason ?? '' });
      }
    }
    // Not evaluated first: those are gaps in the evidence; manual checks wait for a person.
    m.unseen.sort((a, b) => Number(a.verdict === 'manual') - Number(b.verdict === 'manual'));
    // Stable sort: within a check, findings keep the report's order (by object).
    m.open.sort((a, b) => bySeverity(a.severity, b.severity) || compareIds(a.checkId, b.checkId));
    for (const family of families) {
      const rs = latest.report.results.filter((r) => r.family === family);
      if (rs.length === 0) continue;
      const evaluated = rs.filter((r) => r.verdict === 'pass' || r.verdict === 'fail');
      const passing = evaluated.filter((r) => r.verdict === 'pass' || openFindings(r).length === 0).length;
      m.families.push({ family, evaluated: evaluated.length, passing, other: rs.length - evaluated.length });
    }
    return m;
  });
}

const rate = (f: { evaluated: number; passing: number }) =>
  f.evaluated === 0 ? '–' : `${Math.round((100 * f.passing) / f.evaluated)}%`;
const openCounts = (r: SavedScan) => severities.slice(0, 4).map((s) => r.summary.findings[s] ?? 0);
const change = (runs: SavedScan[], i: number) => {
  if (i === 0) return '';
  const d = runs[i]!.score - runs[i - 1]!.score;
  return d > 0 ? `+${d}` : `${d}`;
};
/** JSON with object keys sorted: evidence read back from jsonb has its keys in another order. */
const json = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : x,
  );
/** Control and bidirectional-override characters in names could hide or reorder what an auditor reads. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const visible = (s: string) => s.replace(/[\u0000-\u0008\u000b-\u001f\u007f\u202a-\u202e\u2066-\u2069]/g, '\ufffd');
const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * Renders the auditors' compliance report from saved scans (as `readHistory` returns them):
 * per target, the score trend, the newest scan's open findings by severity with evidence and
 * remediation, accepted findings and waivers (expired ones flagged), checks not evaluated and
 * pass rates by family. HTML is one self-contained page (inline CSS and SVG, a CSP allowing
 * nothing else, every value escaped); the same input always gives the same output. PW504 on an
 * empty history.
 *
 * @example
 * const runs = await withClient(connection, (c) => readHistory(c, { target: 'prod' }));
 * await writeFile('compliance.html', renderComplianceReport(runs, 'html', { title: 'Q3 review' }));
 */
export function renderComplianceReport(
  history: readonly SavedScan[],
  format: 'html' | 'markdown',
  options: ComplianceReportOptions = {},
): string {
  if (history.length === 0) {
    throw new PgwardenError(ErrorCodes.CHECK_NO_HISTORY, 'No saved scan to report on', {
      hint: 'save scans with `pgwarden check --save`',
    });
  }
  const newest = [...history].sort(byStart).at(-1)!;
  const now = options.now ?? new Date(newest.startedAt);
  const title = options.title ?? 'pgwarden compliance report';
  const targets = model(history, now);
  const head = { title, asOf: now.toISOString(), runs: history.length };
  return format === 'html' ? renderHtml(head, targets) : renderMarkdown(head, targets);
}

interface Head {
  title: string;
  asOf: string;
  runs: number;
}

// ---- Markdown -------------------------------------------------------------------------------

/** Untrusted text in Markdown: one line, every character with Markdown or HTML meaning escaped. */
const md = (s: string | undefined) => visible((s ?? '').replace(/[\r\n]+/g, ' ')).replace(/[\\`*_[\]<>&|~]/g, '\\$&');
const fence = (code: string) => '`'.repeat(Math.max(3, ...[...code.matchAll(/`+/g)].map((m) => m[0].length + 1)));
const row = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;

function renderMarkdown(h: Head, targets: TargetModel[]): string {
  const out = [`# ${md(h.title)}`, '', `As of ${h.asOf}; ${h.runs} saved scan(s).`];
  for (const t of targets) {
    const l = t.latest;
    out.push('', `## Target ${md(t.target)}`, '');
    out.push(
      row(['Latest scan', 'Database', 'Server', 'pgwarden', 'Score']),
      row(['---', '---', '---', '---', '---:']),
    );
    out.push(row([l.startedAt, md(l.database), md(l.serverVersion), md(l.toolVersion), l.score]));
    out.push('', '### Score trend', '');
    out.push(row(['Run', 'Scanned at', 'Score', 'Change', 'Critical', 'High', 'Medium', 'Low']));
    out.push(row(['---:', '---', '---:', '---:', '---:', '---:', '---:', '---:']));
    t.runs.forEach((r, i) => out.push(row([r.id, r.startedAt, r.score, change(t.runs, i), ...openCounts(r)])));
    out.push('', '### Open findings');
    if (t.open.length === 0) out.push('', 'None.');
    for (const s of severities) {
      const list = t.open.filter((f) => f.severity === s);
      if (list.length === 0) continue;
      out.push('', `#### ${capital(s)} (${list.length})`, '');
      for (const f of list) {
        out.push(`- **${md(f.checkId)}** ${md(f.title)}${f.object ? ` — ${md(f.object)}` : ''}: ${md(f.message)}`);
        out.push(`  - Evidence: ${md(json(f.evidence))}`, `  - Remediation: ${md(f.remediation)}`);
        if (f.fix.length > 0) {
          const code = visible(f.fix.join('\n'));
          out.push('', `  ${fence(code)}sql`, ...code.split('\n').map((x) => `  ${x}`), `  ${fence(code)}`);
        }
      }
    }
    out.push('', '### Accepted findings and waivers', '');
    if (t.accepted.length === 0) out.push('None.');
    else out.push(row(['Check', 'Object', 'Kind', 'Reason', 'Expires']), row(['---', '---', '---', '---', '---']));
    for (const a of t.accepted) {
      // Saved reports are read back from the database: even the typed fields are escaped.
      const exp = a.expires ? `${md(a.expires)}${a.expired ? ' **EXPIRED**' : ''}` : 'never';
      out.push(row([md(a.checkId), md(a.object), md(a.kind), md(a.reason), exp]));
    }
    out.push('', '### Not evaluated, and left to a person', '');
    if (t.unseen.length === 0) out.push('None.');
    else out.push(row(['Check', 'Title', 'Verdict', 'Reason']), row(['---', '---', '---', '---']));
    for (const u of t.unseen) out.push(row([md(u.id), md(u.title), md(u.verdict.replace('_', ' ')), md(u.reason)]));
    out.push('', '### Pass rate by family', '');
    out.push(
      row(['Family', 'Evaluated', 'Passing', 'Rate', 'Not scored']),
      row(['---', '---:', '---:', '---:', '---:']),
    );
    for (const f of t.families) out.push(row([f.family, f.evaluated, f.passing, rate(f), f.other]));
    if (l.report.notes.length > 0) out.push('', '### Notes', '', ...l.report.notes.map((n) => `- ${md(n)}`));
  }
  return `${out.join('\n')}\n`;
}

// ---- HTML -----------------------------------------------------------------------------------

const esc = (s: string | number | undefined) =>
  visible(String(s ?? '')).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const tr = (cells: Array<string | number>, tag = 'td') =>
  `<tr>${cells.map((c) => `<${tag}>${c}</${tag}>`).join('')}</tr>`;
const table = (head: string[], rows: string[]) =>
  `<table><thead>${tr(head.map(esc), 'th')}</thead><tbody>${rows.join('')}</tbody></table>`;

const css = `body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:62rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.6rem}h2{border-bottom:2px solid #d0d7de;padding-bottom:.2rem;margin-top:2.5rem}
table{border-collapse:collapse;margin:.5rem 0;width:100%}th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.meta{color:#57606a}.finding{border-left:4px solid #d0d7de;padding:.2rem .8rem;margin:.6rem 0}
.critical{border-color:#82071e}.high{border-color:#cf222e}.medium{border-color:#bc4c00}.low{border-color:#9a6700}.info{border-color:#0969da}
code,pre{font-family:ui-monospace,monospace;font-size:12px}pre{background:#f6f8fa;padding:.5rem;overflow-x:auto;white-space:pre-wrap}
.expired{color:#cf222e;font-weight:600}svg{max-width:100%;height:auto}
@media print{h2{break-before:page}.finding{break-inside:avoid}}`;

function chart(runs: SavedScan[]): string {
  const [w, h, left, top, width, height] = [640, 220, 40, 16, 560, 160];
  const x = (i: number) => (runs.length === 1 ? left + width / 2 : left + (i * width) / (runs.length - 1)).toFixed(1);
  const y = (score: number) => (top + ((100 - score) * height) / 100).toFixed(1);
  const grid = [0, 50, 100]
    .map(
      (v) =>
        `<line x1="${left}" x2="${left + width}" y1="${y(v)}" y2="${y(v)}" stroke="#d0d7de"/>` +
        `<text x="${left - 6}" y="${y(v)}" text-anchor="end" dominant-baseline="middle" font-size="11">${v}</text>`,
    )
    .join('');
  const points = runs.map((r, i) => `${x(i)},${y(r.score)}`).join(' ');
  const labelEvery = Math.ceil(runs.length / 8);
  const marks = runs
    .map((r, i) => {
      const label = i % labelEvery === 0 || i === runs.length - 1;
      return (
        `<circle cx="${x(i)}" cy="${y(r.score)}" r="4" fill="#0969da"><title>run ${r.id}, ${esc(r.startedAt)}: ${r.score}</title></circle>` +
        `<text x="${x(i)}" y="${(Number(y(r.score)) - 8).toFixed(1)}" text-anchor="middle" font-size="11">${r.score}</text>` +
        (label
          ? `<text x="${x(i)}" y="${top + height + 22}" text-anchor="middle" font-size="11">${esc(r.startedAt.slice(0, 10))}</text>`
          : '')
      );
    })
    .join('');
  const aria = `Score trend: ${runs.map((r) => r.score).join(', ')}`;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${aria}">${grid}` +
    `<polyline fill="none" stroke="#0969da" stroke-width="2" points="${points}"/>${marks}</svg>`
  );
}

function renderHtml(h: Head, targets: TargetModel[]): string {
  const body: string[] = [
    `<h1>${esc(h.title)}</h1>`,
    `<p class="meta">As of ${esc(h.asOf)}; ${h.runs} saved scan(s).</p>`,
  ];
  for (const t of targets) {
    const l = t.latest;
    body.push(`<section><h2>Target ${esc(t.target)}</h2>`);
    body.push(
      table(
        ['Latest scan', 'Database', 'Server', 'pgwarden', 'Score'],
        [tr([l.startedAt, l.database, l.serverVersion, l.toolVersion, l.score].map(esc))],
      ),
    );
    body.push('<h3>Score trend</h3>', chart(t.runs));
    const trend = t.runs.map((r, i) => tr([r.id, r.startedAt, r.score, change(t.runs, i), ...openCounts(r)].map(esc)));
    body.push(table(['Run', 'Scanned at', 'Score', 'Change', 'Critical', 'High', 'Medium', 'Low'], trend));
    body.push('<h3>Open findings</h3>');
    if (t.open.length === 0) body.push('<p>None.</p>');
    for (const s of severities) {
      const list = t.open.filter((f) => f.severity === s);
      if (list.length === 0) continue;
      body.push(`<h4>${capital(s)} (${list.length})</h4>`);
      for (const f of list) {
        body.push(
          `<div class="finding ${s}"><p><strong>${esc(f.checkId)}</strong> ${esc(f.title)}${f.object ? ` — <code>${esc(f.object)}</code>` : ''}</p>` +
            `<p>${esc(f.message)}</p><p>Evidence: <code>${esc(json(f.evidence))}</code></p><p>Remediation: ${esc(f.remediation)}</p>` +
            (f.fix.length > 0 ? `<pre>${esc(f.fix.join('\n'))}</pre>` : '') +
            '</div>',
        );
      }
    }
    body.push('<h3>Accepted findings and waivers</h3>');
    const accepted = t.accepted.map((a) =>
      tr([
        esc(a.checkId),
        esc(a.object),
        esc(a.kind),
        esc(a.reason),
        a.expires ? `${esc(a.expires)}${a.expired ? ' <span class="expired">expired</span>' : ''}` : 'never',
      ]),
    );
    body.push(
      accepted.length === 0 ? '<p>None.</p>' : table(['Check', 'Object', 'Kind', 'Reason', 'Expires'], accepted),
    );
    body.push('<h3>Not evaluated, and left to a person</h3>');
    const unseen = t.unseen.map((u) => tr([u.id, u.title, u.verdict.replace('_', ' '), u.reason].map(esc)));
    body.push(unseen.length === 0 ? '<p>None.</p>' : table(['Check', 'Title', 'Verdict', 'Reason'], unseen));
    body.push('<h3>Pass rate by family</h3>');
    body.push(
      table(
        ['Family', 'Evaluated', 'Passing', 'Rate', 'Not scored'],
        t.families.map((f) => tr([f.family, f.evaluated, f.passing, rate(f), f.other].map(esc))),
      ),
    );
    if (l.report.notes.length > 0)
      body.push('<h3>Notes</h3><ul>', ...l.report.notes.map((n) => `<li>${esc(n)}</li>`), '</ul>');
    body.push('</section>');
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(h.title)}</title>
<style>${css}</style></head>
<body>
${body.join('\n')}
</body></html>
`;
}

/**
 * The HTML report's only style sheet, inlined: the page fetches nothing (its Content Security
 * Policy forbids everything but inline style) and needs no script.
 */
export const htmlStyle = `
:root { color-scheme: light dark; --bg: #fff; --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --panel: #f6f8fa;
  --critical: #a40e26; --high: #cf222e; --medium: #9a6700; --low: #0969da; --info: #57606a; --pass: #1a7f37;
  --ne: #8250df; }
@media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --fg: #e6edf3; --muted: #8d96a0; --line: #30363d;
  --panel: #161b22; --critical: #ff7b72; --high: #f85149; --medium: #d29922; --low: #58a6ff; --info: #8d96a0;
  --pass: #3fb950; --ne: #bc8cff; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1.5rem; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; } h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1rem; margin: 1rem 0 .5rem; color: var(--muted); }
.meta, .muted { color: var(--muted); }
code, pre, .id { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em; }
pre { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: .5rem .75rem;
  overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
.overview { display: flex; gap: 2rem; align-items: center; flex-wrap: wrap; border: 1px solid var(--line);
  border-radius: 8px; padding: 1rem 1.5rem; background: var(--panel); }
.score { display: flex; flex-direction: column; align-items: center; flex: 0 0 9rem; }
.breakdown { flex: 1 1 24rem; min-width: 0; }
.score-value { font-size: 4.5rem; font-weight: 700; line-height: 1; }
.score-good .score-value { color: var(--pass); } .score-fair .score-value { color: var(--medium); }
.score-poor .score-value { color: var(--high); }
.severities { display: flex; gap: .75rem; list-style: none; padding: 0; margin: .25rem 0; flex-wrap: wrap; }
.severities li { border: 1px solid var(--line); border-radius: 6px; padding: .25rem .75rem; background: var(--bg); }
.severities .n { font-size: 1.4rem; font-weight: 700; margin-right: .25rem; }
table { border-collapse: collapse; margin: .25rem 0; }
th, td { border: 1px solid var(--line); padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: var(--panel); }
.sev-critical { color: var(--critical); } .sev-high { color: var(--high); } .sev-medium { color: var(--medium); }
.sev-low { color: var(--low); } .sev-info { color: var(--info); }
.check { border: 1px solid var(--line); border-left-width: 4px; border-radius: 6px; margin: .4rem 0; background: var(--bg); }
.check > summary { cursor: pointer; padding: .4rem .75rem; display: flex; gap: .75rem; align-items: baseline; }
.check > .body { padding: 0 .75rem .5rem 1.25rem; }
.verdict { font-weight: 700; font-size: .8rem; min-width: 8.5rem; text-transform: uppercase; }
.v-fail { border-left-color: var(--high); } .v-fail .verdict { color: var(--high); }
.v-pass, .v-accepted { border-left-color: var(--pass); } .v-pass .verdict, .v-accepted .verdict { color: var(--pass); }
.v-not_evaluated { border-left-color: var(--ne); border-style: dashed; } .v-not_evaluated .verdict { color: var(--ne); }
.v-manual { border-left-color: var(--medium); } .v-manual .verdict { color: var(--medium); }
.v-not_applicable { border-left-color: var(--line); } .v-not_applicable .verdict { color: var(--muted); }
.finding { border-top: 1px solid var(--line); padding: .5rem 0; }
.finding.suppressed { opacity: .65; }
.suppression { font-style: italic; }
.remediation { white-space: pre-wrap; }
.tag { font-size: .8rem; border: 1px solid var(--line); border-radius: 4px; padding: 0 .35rem; margin-left: .35rem; }
td .score-good { color: var(--pass); } td .score-fair { color: var(--medium); } td .score-poor { color: var(--high); }
footer { margin-top: 2rem; color: var(--muted); font-size: .85rem; }
@media print { details { break-inside: avoid; } details > summary { list-style: none; } }
`;

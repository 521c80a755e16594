import pg from 'pg';
import { applyFix, planFix } from '../check/fix.js';
import { readHistory, saveScan } from '../check/history.js';
import { renderComplianceReport } from '../check/compliance-report.js';
import { type ScanOptions, type ScanReport, scanDatabase } from '../check/index.js';
import { type ConnectionConfig, quoteIdent } from '../db/client.js';
import { type DemoSection, section } from './report.js';

const scanOptions: ScanOptions = {
  exposedSchemas: ['app'],
  // Host checks depend on the machine the demo runs on; `pgwarden check` runs them.
  host: 'off',
};

const openCount = (r: ScanReport) => Object.values(r.summary.findings).reduce((a, b) => a + b, 0);

/**
 * The compliance part of the tour: the scanner on the demo database and its embedded cluster,
 * before and after hardening. The weaknesses are the usual ones of a young deployment (a PUBLIC
 * CREATE on public, a reporting function as SECURITY DEFINER with no search_path); the safe
 * fixes are applied by `fix`, the others as a person would, and the score rises. Settings the
 * tour changed on the cluster are put back at the end, so the tour can run again.
 */
export async function complianceTour(
  db: ConnectionConfig,
  rolePrefix: string,
  add: (s: DemoSection) => void,
): Promise<void> {
  const options = { ...scanOptions, rolePrefix };
  let before: ScanReport | undefined;
  let after: ScanReport | undefined;
  const changedSettings: string[] = [];
  const c = new pg.Client({ ...db, application_name: 'pgwarden-demo' });
  await c.connect();
  try {
    add(
      await section('Compliance scan before hardening', async (s) => {
        await c.query(`grant create on schema public to public;
          create function app.invoice_totals() returns table (tenant_id uuid, total bigint)
            language sql security definer as 'select tenant_id, sum(amount_cents)::bigint from app.invoices group by 1';`);
        s.line(
          'planted: PUBLIC may CREATE in schema public; app.invoice_totals() is SECURITY DEFINER without a search_path',
        );
        before = await scanDatabase(db, options);
        const sum = before.summary;
        s.line(
          `score ${sum.score}/100: ${sum.checks} checks, ${sum.pass} pass, ${sum.fail} fail, ${sum.notEvaluated} not evaluated, ${sum.manual} manual (${before.durationMs} ms, one read-only connection)`,
        );
        for (const r of before.results.filter((x) => x.verdict === 'fail').slice(0, 6)) {
          const f = r.findings[0]!;
          s.line(`  ${r.id} ${f.severity}: ${f.object ? `${f.object}: ` : ''}${f.message}`);
        }
        const failing = (id: string, object: string) =>
          before!.results.find((r) => r.id === id)?.findings.some((f) => f.object === object) === true;
        s.check(failing('CIS-4.10', 'schema public'), 'CIS-4.10 finds PUBLIC CREATE on schema public');
        s.check(
          failing('PRIV-001', 'function app.invoice_totals()') && failing('PRIV-002', 'function app.invoice_totals()'),
          'PRIV-001/002 find the SECURITY DEFINER function with a mutable search_path, executable by PUBLIC',
        );
        s.check(
          before.results.every((r) => r.verdict !== 'not_evaluated' || r.reason),
          'every check it could not evaluate says why (none counts as a pass)',
        );
      }),
    );
    add(
      await section('Hardening: pgwarden fix, then what needs a person', async (s) => {
        if (!before) throw new Error('no scan to fix');
        const plan = planFix(before);
        s.line(
          `fix plan: ${plan.safe} safe statement(s), ${plan.manual} for a person, ${plan.humanOnly.length} without SQL`,
        );
        const result = await applyFix(db, plan);
        for (const a of result.applied) {
          const m = /^\s*alter\s+system\s+set\s+(\w+)/i.exec(a.sql);
          if (m) changedSettings.push(m[1]!);
          s.line(`  applied ${a.checkId}: ${a.sql}`);
        }
        if (result.restartRequired.length) s.line(`  needs a restart: ${result.restartRequired.join(', ')}`);
        s.check(
          result.failed === undefined && result.applied.length > 0,
          `${result.applied.length} safe statement(s) applied, none failed`,
        );
        await c.query(`alter function app.invoice_totals() set search_path = pg_catalog, pg_temp;
          revoke execute on function app.invoice_totals() from public`);
        s.line(
          'by hand: alter function app.invoice_totals() set search_path = pg_catalog, pg_temp; revoke execute … from public',
        );
        after = await scanDatabase(db, options);
        s.line(
          `score ${before.summary.score} → ${after.summary.score}; open findings ${openCount(before)} → ${openCount(after)}`,
        );
        const fixed = ['CIS-4.10', 'PRIV-001', 'PRIV-002'].filter(
          (id) =>
            !after!.results
              .find((r) => r.id === id)
              ?.findings.some((f) => f.object?.includes('public') || f.object?.includes('invoice_totals')),
        );
        s.check(fixed.length === 3, 'CIS-4.10, PRIV-001 and PRIV-002 no longer find the planted weaknesses');
        s.check(
          after.summary.score > before.summary.score,
          `the score rose from ${before.summary.score} to ${after.summary.score}`,
        );
        for (const r of after.results) {
          for (const f of r.findings.filter((x) => x.severity === 'critical' || x.severity === 'high')) {
            s.line(`  left for a person: ${r.id} ${f.severity}: ${f.object ? `${f.object}: ` : ''}${f.message}`);
          }
        }
        const again = planFix(after);
        const rerun = await applyFix(db, again);
        s.check(rerun.applied.length === 0, 'a second fix --apply has nothing left to apply');
      }),
    );
    add(
      await section('Compliance history for auditors', async (s) => {
        if (!before || !after) throw new Error('no scans to save');
        await saveScan(c, before);
        await saveScan(c, after);
        const runs = await readHistory(c, {});
        const markdown = renderComplianceReport(runs, 'markdown');
        const lines = markdown.split('\n');
        const trend = lines.indexOf('### Score trend');
        for (const line of lines.slice(trend + 2, trend + 6).filter((l) => l.startsWith('|'))) s.line(line);
        s.check(
          runs.length === 2 &&
            markdown.includes(String(before.summary.score)) &&
            markdown.includes(String(after.summary.score)),
          'both scans saved in compliance.scan_runs; `pgwarden report` shows the trend',
        );
        const html = renderComplianceReport(runs, 'html');
        s.check(
          html.includes('<svg') && !/<script/i.test(html),
          'the HTML report is self-contained, with an SVG trend and no script',
        );
      }),
    );
  } finally {
    // Leave the cluster's settings as the tour found them: the demo must be repeatable, and the
    // embedded cluster is the user's own.
    for (const name of changedSettings) await c.query(`alter system reset ${quoteIdent(name)}`).catch(() => undefined);
    if (changedSettings.length) await c.query('select pg_reload_conf()').catch(() => undefined);
    await c.end();
  }
}

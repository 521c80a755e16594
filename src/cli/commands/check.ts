import { writeFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import {
  allChecks,
  atLeast,
  type Baseline,
  baselineFrom,
  readBaseline,
  type ScanOptions,
  type ScanReport,
  scanDatabase,
  selectChecks,
  type Severity,
} from '../../check/index.js';
import { renderComplianceReport } from '../../check/compliance-report.js';
import { readFleet, scanFleet } from '../../check/fleet.js';
import { applyFix, formatFixPlan, planFix } from '../../check/fix.js';
import { type ReportFormat, renderFleet, renderReport, reportFormats } from '../../check/format/index.js';
import { readHistory, saveScan } from '../../check/history.js';
import type { PgwardenConfig } from '../../config/index.js';
import { withClient } from '../../db/index.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { type CliContext, configFor, type GlobalFlags, withDatabase } from '../context.js';
import { paint, printJson, table } from '../output.js';

export interface CheckFlags extends GlobalFlags {
  format?: string;
  output?: string;
  failOn?: string;
  baseline?: string;
  writeBaseline?: string;
  only?: string[];
  skip?: string[];
  exposedSchema?: string[];
  host?: string;
  targets?: string;
  concurrency?: string;
  save?: boolean;
  verbose?: boolean;
  list?: boolean;
}

const usage = (message: string, hint?: string) => new PgwardenError(ErrorCodes.USAGE, message, hint ? { hint } : {});

function formatOf(flags: CheckFlags): ReportFormat {
  if (flags.json) return 'json';
  const format = (flags.format ?? 'table') as ReportFormat;
  if (!reportFormats.includes(format))
    throw usage(`Unknown format "${flags.format}"`, `use one of ${reportFormats.join(', ')}`);
  return format;
}

function checkConfig(ctx: CliContext, flags: CheckFlags): Promise<PgwardenConfig> {
  return configFor(ctx, flags, {
    check: {
      ...(flags.failOn !== undefined ? { failOn: flags.failOn } : {}),
      ...(flags.baseline !== undefined ? { baseline: flags.baseline } : {}),
      ...(flags.host !== undefined ? { host: flags.host } : {}),
      ...(flags.exposedSchema !== undefined ? { exposedSchemas: flags.exposedSchema } : {}),
      ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
    },
  });
}

const pathIn = (ctx: CliContext, p: string) => (isAbsolute(p) ? p : resolve(ctx.cwd, p));

async function scanOptions(ctx: CliContext, config: PgwardenConfig, flags: CheckFlags): Promise<ScanOptions> {
  const c = config.check;
  const baseline: Baseline | undefined = c.baseline ? await readBaseline(pathIn(ctx, c.baseline)) : undefined;
  // Fail fast on a typo in --only/--skip, before connecting anywhere.
  selectChecks(allChecks, flags.only, flags.skip);
  return {
    exposedSchemas: c.exposedSchemas,
    dbaRoles: c.dbaRoles,
    host: c.host,
    statementTimeoutMs: c.statementTimeoutMs,
    ledgerMaxAgeHours: c.ledgerMaxAgeHours,
    sealerMaxLagSeconds: c.sealerMaxLagSeconds,
    rolePrefix: config.install.rolePrefix,
    ...(flags.only ? { only: flags.only } : {}),
    ...(flags.skip ? { skip: flags.skip } : {}),
    ...(baseline ? { baseline } : {}),
  };
}

/** Whether a report has an open finding at or above the threshold. */
function failsOn(report: ScanReport, threshold: string): boolean {
  if (threshold === 'none') return false;
  return report.results.some((r) =>
    r.findings.some((f) => !f.suppressed && atLeast(f.severity, threshold as Severity)),
  );
}

async function emit(ctx: CliContext, flags: CheckFlags, text: string): Promise<void> {
  if (flags.output) {
    await writeFile(pathIn(ctx, flags.output), text.endsWith('\n') ? text : `${text}\n`);
    if (!ctx.output.json) ctx.output.err(`wrote ${flags.output}`);
  } else ctx.output.out(text.replace(/\n$/, ''));
}

/**
 * `pgwarden check`: scans the database (or every target of --targets) and prints the report in
 * the chosen format; exits 1 when an open finding reaches --fail-on (default high).
 */
export async function checkCommand(ctx: CliContext, flags: CheckFlags): Promise<number> {
  if (flags.list) return listChecks(ctx, flags);
  const format = formatOf(flags);
  const config = await checkConfig(ctx, flags);
  const options = await scanOptions(ctx, config, flags);
  const color = ctx.output.color && !flags.output;
  if (flags.targets) return checkFleet(ctx, flags, config, options, format, color);
  return withDatabase(ctx, config, async (db) => {
    const report = await scanDatabase(db.connection, { ...options, name: db.description });
    if (flags.save) {
      const { runId } = await withClient(db.connection, (c) => saveScan(c, report));
      if (!ctx.output.json) ctx.output.err(`saved as scan run ${runId}`);
    }
    if (flags.writeBaseline) {
      const baseline = baselineFrom(report.results, 'accepted when the baseline was written');
      await writeFile(pathIn(ctx, flags.writeBaseline), stringifyYaml(baseline));
      if (!ctx.output.json)
        ctx.output.err(`wrote ${baseline.accepted.length} accepted finding(s) to ${flags.writeBaseline}`);
    }
    await emit(ctx, flags, renderReport(report, format, { color, verbose: flags.verbose === true }));
    return failsOn(report, config.check.failOn) ? 1 : 0;
  });
}

async function checkFleet(
  ctx: CliContext,
  flags: CheckFlags,
  config: PgwardenConfig,
  options: ScanOptions,
  format: ReportFormat,
  color: boolean,
): Promise<number> {
  const fleet = await readFleet(pathIn(ctx, flags.targets!), ctx.env);
  const quiet = ctx.output.json;
  const running = new Set<string>();
  // A --concurrency flag wins over the file's defaults, which win over the config.
  const concurrency =
    flags.concurrency !== undefined ? config.check.concurrency : (fleet.concurrency ?? config.check.concurrency);
  const results = await scanFleet(fleet.targets, {
    ...options,
    concurrency,
    signal: ctx.signal,
    onProgress: (p) => {
      if (quiet) return;
      const status = ctx.output.status;
      if (status) {
        running[p.kind === 'target-started' ? 'add' : 'delete'](p.target);
        status('');
      }
      if (p.kind === 'target-started') {
        status?.(`[${p.done}/${p.total}] scanning ${[...running].join(', ')}`);
        return;
      }
      if (p.kind === 'target-finished' && p.report) {
        const s = p.report.summary;
        ctx.output.err(
          `[${p.done}/${p.total}] ${p.target}: score ${s.score}, ${s.findings.critical} critical, ${s.findings.high} high, ${s.findings.medium} medium`,
        );
      } else if (p.kind === 'target-failed') {
        ctx.output.err(
          `[${p.done}/${p.total}] ${p.target}: ${paint(ctx.output, 'red', `failed ${p.error?.code ?? ''}`)} ${p.error?.message ?? ''}`,
        );
      }
      // On a terminal, the targets still running stay on one line under the finished ones.
      if (status && running.size > 0) status(`[${p.done}/${p.total}] scanning ${[...running].join(', ')}`);
    },
  });
  ctx.output.status?.('');
  await emit(ctx, flags, renderFleet(results, format, { color }));
  const failing = results.some((r) => r.error !== undefined || (r.report && failsOn(r.report, config.check.failOn)));
  return failing ? 1 : 0;
}

function listChecks(ctx: CliContext, flags: CheckFlags): number {
  const checks = selectChecks(allChecks, flags.only, flags.skip);
  if (ctx.output.json) {
    printJson(
      ctx.output,
      checks.map(({ evaluate: _e, ...c }) => c),
    );
    return 0;
  }
  ctx.output.out(
    table(
      ['id', 'severity', 'cis', 'title'],
      checks.map((c) => [c.id, c.severity, c.cis ?? '', c.title]),
    ).join('\n'),
  );
  return 0;
}

export interface FixFlags extends CheckFlags {
  apply?: boolean;
  dryRun?: boolean;
}

/**
 * `pgwarden fix`: scans, then shows the exact remediation statements (--dry-run, the default)
 * or applies only the safe ones (--apply), and says what needs a restart or a person.
 */
export async function fixCommand(ctx: CliContext, flags: FixFlags): Promise<number> {
  if (flags.apply && flags.dryRun) throw usage('--apply and --dry-run exclude each other');
  const config = await checkConfig(ctx, flags);
  const options = await scanOptions(ctx, config, flags);
  return withDatabase(ctx, config, async (db) => {
    const before = await scanDatabase(db.connection, { ...options, name: db.description });
    const plan = planFix(before, flags.only ? { only: flags.only } : {});
    if (!flags.apply) {
      if (ctx.output.json) printJson(ctx.output, { ok: true, dryRun: true, scoreBefore: before.summary.score, plan });
      else ctx.output.out(formatFixPlan(plan));
      return 0;
    }
    const result = await applyFix(db.connection, plan);
    const after = await scanDatabase(db.connection, { ...options, name: db.description });
    if (ctx.output.json) {
      printJson(ctx.output, {
        ok: result.failed === undefined,
        scoreBefore: before.summary.score,
        scoreAfter: after.summary.score,
        ...result,
      });
    } else {
      for (const a of result.applied)
        ctx.output.out(`${paint(ctx.output, 'green', 'applied')}  ${a.checkId}  ${a.sql}`);
      if (result.applied.length === 0) ctx.output.out('nothing safe to apply');
      if (result.restartRequired.length) {
        ctx.output.out(`${paint(ctx.output, 'yellow', 'restart needed')} for ${result.restartRequired.join(', ')}`);
      }
      const manual = plan.items.filter((i) => i.action !== 'apply').length + plan.humanOnly.length;
      if (manual) ctx.output.out(`${manual} finding(s) need a person: pgwarden fix --dry-run lists them`);
      ctx.output.out(`score ${before.summary.score} → ${after.summary.score}`);
    }
    if (result.failed) {
      const f = result.failed;
      throw new PgwardenError(
        ErrorCodes.CHECK_FIX_FAILED,
        f.stage === 'reload'
          ? 'The settings were written but the configuration reload failed'
          : `A remediation of ${f.checkId ?? 'a check'} failed; the statements after it were not run`,
        {
          detail: `${f.sql}\n${f.sqlState ? `SQLSTATE ${f.sqlState}: ` : ''}${f.message}`,
          ...(f.hint ? { hint: f.hint } : {}),
        },
      );
    }
    return 0;
  });
}

export interface ReportFlags extends GlobalFlags {
  format?: string;
  output?: string;
  target?: string;
  limit?: string;
}

/** `pgwarden report`: renders the saved scan history as an HTML or Markdown compliance report. */
export async function reportCommand(ctx: CliContext, flags: ReportFlags): Promise<number> {
  const format = (flags.format ?? 'html') as 'html' | 'markdown';
  if (format !== 'html' && format !== 'markdown')
    throw usage(`Unknown report format "${flags.format}"`, 'use html or markdown');
  const limit = flags.limit === undefined ? 30 : Number(flags.limit);
  if (!Number.isInteger(limit) || limit < 1) throw usage('--limit takes a positive whole number');
  const config = await configFor(ctx, flags);
  return withDatabase(ctx, config, async (db) => {
    const runs = await withClient(db.connection, (c) =>
      readHistory(c, { limit, ...(flags.target ? { target: flags.target } : {}) }),
    );
    const text = renderComplianceReport(runs, format);
    if (flags.output) {
      await writeFile(pathIn(ctx, flags.output), text);
      ctx.output.err(`wrote ${flags.output} (${runs.length} scan run(s))`);
    } else ctx.output.out(text.replace(/\n$/, ''));
    return 0;
  });
}

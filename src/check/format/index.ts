import type { ScanReport } from '../types.js';
import { renderFleetHtml, renderHtml } from './html.js';
import { renderFleetJson, renderJson } from './json.js';
import { renderFleetJunit, renderJunit } from './junit.js';
import { renderFleetMarkdown, renderMarkdown } from './markdown.js';
import { renderFleetSarif, renderSarif } from './sarif.js';
import type { FleetEntry } from './shared.js';
import { renderFleetTable, renderTable } from './table.js';

export type { FleetEntry } from './shared.js';

/**
 * The output formats of `pgwarden check --format`.
 *
 * @example
 * if (!reportFormats.includes(flag as ReportFormat)) throw new Error(`--format: one of ${reportFormats.join(', ')}`);
 */
export const reportFormats = ['table', 'json', 'sarif', 'junit', 'markdown', 'html'] as const;
export type ReportFormat = (typeof reportFormats)[number];

/**
 * Options of the renderers (the other formats ignore them).
 *
 * @example
 * renderReport(report, 'table', { color: !process.env.NO_COLOR && process.stdout.isTTY, verbose: true });
 */
export interface RenderOptions {
  /** table only: ANSI colours (the CLI sets it from the TTY and NO_COLOR). */
  color?: boolean;
  /** table only: list every check and its verdict, passing ones too. */
  verbose?: boolean;
}

/**
 * Renders a scan report. Pure and deterministic: the same report gives byte-identical text (the
 * only time shown is the report's own startedAt). The text has no trailing newline.
 *
 * @example
 * const report = await scanDatabase({ connectionString: process.env.DATABASE_URL });
 * await writeFile('pgwarden.sarif', renderReport(report, 'sarif'));
 * console.log(renderReport(report, 'table', { color: process.stdout.isTTY }));
 */
export function renderReport(report: ScanReport, format: ReportFormat, options: RenderOptions = {}): string {
  switch (format) {
    case 'table':
      return renderTable(report, options);
    case 'json':
      return renderJson(report);
    case 'sarif':
      return renderSarif(report);
    case 'junit':
      return renderJunit(report);
    case 'markdown':
      return renderMarkdown(report);
    case 'html':
      return renderHtml(report);
  }
  // Reachable only from untyped callers.
  throw new TypeError(`unknown report format ${String(format)}; expected one of ${reportFormats.join(', ')}`);
}

/**
 * Renders a fleet scan: per target the score, open findings by severity and not-evaluated count,
 * or the error that stopped its scan (table, markdown, html, json); one SARIF run per target; one
 * JUnit testsuite per target. Targets keep the given order.
 *
 * @example
 * const text = renderFleet([{ target: 'eu-1', report }, { target: 'us-1', error: { code: 'PW001', message: 'refused' } }], 'table');
 */
export function renderFleet(reports: readonly FleetEntry[], format: ReportFormat, options: RenderOptions = {}): string {
  switch (format) {
    case 'table':
      return renderFleetTable(reports, options);
    case 'json':
      return renderFleetJson(reports);
    case 'sarif':
      return renderFleetSarif(reports);
    case 'junit':
      return renderFleetJunit(reports);
    case 'markdown':
      return renderFleetMarkdown(reports);
    case 'html':
      return renderFleetHtml(reports);
  }
  throw new TypeError(`unknown report format ${String(format)}; expected one of ${reportFormats.join(', ')}`);
}

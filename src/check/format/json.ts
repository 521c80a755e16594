import type { ScanReport } from '../types.js';
import { type FleetEntry } from './shared.js';

/**
 * The report as pretty JSON: the ScanReport itself, so `--format json` and the library agree.
 *
 * @example
 * await writeFile('report.json', renderJson(report));
 */
export const renderJson = (report: ScanReport): string => JSON.stringify(report, null, 2);

/**
 * A fleet scan as JSON: one entry per target, in the fleet's order, with its summary and full
 * report, or the error that stopped its scan.
 *
 * @example
 * JSON.parse(renderFleetJson(entries)).targets[0].score; // 87
 */
export function renderFleetJson(entries: readonly FleetEntry[]): string {
  const targets = entries.map((e) => ({
    target: e.target,
    ok: e.report !== undefined && e.error === undefined,
    score: e.report?.summary.score ?? null,
    findings: e.report?.summary.findings ?? null,
    notEvaluated: e.report?.summary.notEvaluated ?? null,
    error: e.error ?? null,
    report: e.report ?? null,
  }));
  return JSON.stringify({ tool: 'pgwarden', targets }, null, 2);
}

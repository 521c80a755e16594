import type { ReportedFinding, ScanReport } from '../../../src/check/index.js';

/** The findings of one check in a report (none when it passed or did not run). */
export const findingsOf = (r: ScanReport, id: string): ReportedFinding[] =>
  r.results.find((x) => x.id === id)?.findings ?? [];

/** One check's finding on one object. */
export const finding = (r: ScanReport, id: string, object: string): ReportedFinding | undefined =>
  findingsOf(r, id).find((f) => f.object === object);

export {
  applyBaseline,
  type Baseline,
  type BaselineEntry,
  baselineFrom,
  isExpired,
  parseBaseline,
  readBaseline,
} from './baseline.js';
export { allChecks } from './checks/index.js';
export { missingFixes } from './checks/version.js';
export {
  defaultScanSettings,
  fingerprintOf,
  scanDatabase,
  type ScanOptions,
  scanWithClient,
  selectChecks,
} from './run-scan.js';
export {
  type HbaRule,
  NotEvaluated,
  ScanContext,
  type ScanSettings,
  type ServerFacts,
  type SettingRow,
} from './scan-context.js';
export { checkLimits, pinSession, type SessionLimits } from './session.js';
export { atLeast, bySeverity, compareIds, openFindings, orderResults, severityWeight, summarize } from './summary.js';
export * from './types.js';
export { checkCatalogMarkdown } from './catalog-markdown.js';
export * from './fleet.js';
export * from './fix.js';
export {
  type FleetEntry,
  type RenderOptions,
  type ReportFormat,
  renderFleet,
  renderReport,
  reportFormats,
} from './format/index.js';
export { createHostChecks, type HostCheckOptions } from './checks/host.js';
export { type HistoryQuery, readHistory, type SavedScan, saveScan } from './history.js';
export { type ComplianceReportOptions, renderComplianceReport } from './compliance-report.js';

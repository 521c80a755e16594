/**
 * Export of the sealed audit trail to SIEMs: JSON lines, RFC 5424 syslog (UDP, TCP and TLS with
 * octet counting) and ArcSight CEF, each record carrying its ledger position and leaf hash so it
 * can be proven against a signed checkpoint; `checkExportedRecord` checks a JSON-lines record
 * against its own leaf.
 *
 * @example
 * import { checkExportedRecord, exportAuditTrail } from './audit/export/index.js';
 */
export { type CefOptions, cefSeverities, escapeCefHeader, escapeCefValue, formatCef } from './cef.js';
export {
  type ExportRecord,
  type ExportSourceName,
  exportSourceNames,
  fieldText,
  isoMicros,
  readableNames,
  readLeaf,
  summarise,
  toExportRecord,
} from './export-record.js';
export {
  exportAuditTrail,
  type ExportFormat,
  exportFormats,
  type ExportOptions,
  type ExportResult,
  recordFormatter,
} from './export-trail.js';
export { type CheckedRecord, checkExportedRecord, formatJsonLine } from './json-lines.js';
export {
  JsonNumber,
  type JsonObject,
  jsonTextEqual,
  type JsonValue,
  parseJsonText,
  stringifyJsonText,
} from './json-text.js';
export { readLedgerRecords, type ReadRecordsOptions } from './records.js';
export {
  escapeSdValue,
  formatSyslog,
  ROW_CHANGE_SEVERITY,
  SD_ID,
  severityOf,
  SyslogFacilities,
  type SyslogFacility,
  syslogFacility,
  type SyslogFormatOptions,
  syslogSeverities,
} from './syslog.js';
export {
  MAX_UDP_BYTES,
  octetFrame,
  openSyslogSender,
  type SyslogDestination,
  type SyslogSender,
  type SyslogTransport,
} from './syslog-sender.js';

/**
 * Retention of the audit trail: whole monthly partitions are archived to JSON-lines files that
 * stay provable against the ledger, checked, then dropped through the one database function
 * that allows it.
 *
 * @example
 * import { archivePartitions } from './audit/retention/index.js';
 */
export { type ArchivedPartition, archivePartitions, checkAgainstLedger, type RetentionOptions } from './archive.js';

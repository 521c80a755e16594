import type { CheckDefinition } from '../types.js';
import { accessChecks } from './cis-access.js';
import { auditChecks } from './cis-audit.js';
import { connectionChecks } from './cis-connection.js';
import { hbaChecks } from './cis-hba-checks.js';
import { installChecks } from './cis-install.js';
import { loggingSettingChecks } from './cis-logging.js';
import { replicationChecks } from './cis-replication.js';
import { settingsChecks } from './cis-settings.js';

/**
 * The CIS PostgreSQL benchmark rows that can be judged over a connection (SQL settings, roles,
 * privileges, pg_hba_file_rules), one check per row, id `CIS-<number>`. Host-file rows are the
 * host family's (HOST-…); 1.5 (minor version) is VER-001/VER-002; group headings and text-only
 * rows have no check. Rows the benchmark leaves to a person return `manual` with a listing.
 *
 * @example
 * await scanDatabase(conn, { checks: cisChecks, host: 'off' });
 */
export const cisChecks: CheckDefinition[] = [
  ...installChecks,
  ...loggingSettingChecks,
  ...auditChecks,
  ...accessChecks,
  ...connectionChecks,
  ...hbaChecks,
  ...settingsChecks,
  ...replicationChecks,
];

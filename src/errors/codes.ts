/**
 * Every stable error code pgwarden emits, grouped by capability. A code never changes meaning;
 * a retired code stays here as a comment so it is never reused.
 *
 * The same codes are raised from SQL as SQLSTATE values (`raise exception using errcode = 'PW204'`),
 * so an error keeps its code whether it started in PostgreSQL or in Node.
 *
 * @example
 * import { ErrorCodes } from 'pgwarden';
 * if (err.code === ErrorCodes.INSTALL_TAMPERED) { … }
 */
export const ErrorCodes = {
  // PW0xx — general
  /** An unexpected failure; a bug in pgwarden or its environment. */
  INTERNAL: 'PW000',
  /** Command-line usage error: unknown flag, missing argument, conflicting options. */
  USAGE: 'PW001',
  /** The operation was interrupted (Ctrl-C, SIGTERM) and stopped at a safe point. */
  INTERRUPTED: 'PW002',

  // PW05x — HTTP services (auth API, later the dashboard and monitor endpoints)
  /** The request body is larger than the endpoint accepts. */
  HTTP_BODY_TOO_LARGE: 'PW050',
  /** The request body is not JSON (or the Content-Type says otherwise). */
  HTTP_BAD_REQUEST_BODY: 'PW051',
  /** No such endpoint. */
  HTTP_NOT_FOUND: 'PW052',
  /** The endpoint exists but not for this HTTP method. */
  HTTP_METHOD_NOT_ALLOWED: 'PW053',
  /** Too many requests from this client; retry after the time in `Retry-After`. */
  HTTP_RATE_LIMITED: 'PW054',
  /** The service is overloaded or shutting down; retry later. */
  HTTP_UNAVAILABLE: 'PW055',

  // PW1xx — config and connections
  /** The effective configuration failed validation; `detail` lists each key path. */
  CONFIG_INVALID: 'PW100',
  /** A config file could not be read or parsed. */
  CONFIG_UNREADABLE: 'PW101',
  /** `pgwarden init` would overwrite an existing config file. */
  CONFIG_EXISTS: 'PW102',
  /** The database server could not be reached (refused, DNS, network). */
  CONNECTION_FAILED: 'PW110',
  /** The server rejected the credentials. */
  CONNECTION_AUTH_FAILED: 'PW111',
  /** The database named in the connection settings does not exist. */
  CONNECTION_NO_DATABASE: 'PW112',
  /** Connecting took longer than the configured timeout. */
  CONNECTION_TIMEOUT: 'PW113',
  /** A database error that pgwarden does not classify further (SQLSTATE kept in `sqlState`). */
  DATABASE_ERROR: 'PW119',
  /** The embedded PostgreSQL cluster could not be initialised or started. */
  EMBEDDED_START_FAILED: 'PW150',
  /** The embedded cluster's directory is not usable by the OS user that runs the server. */
  EMBEDDED_DIR_UNUSABLE: 'PW151',
  /** No PostgreSQL binaries were found (embedded package missing or bad PGWARDEN_PG_BINDIR). */
  EMBEDDED_BINARIES_MISSING: 'PW152',
  /** `pgwarden down` found no running embedded cluster. */
  EMBEDDED_NOT_RUNNING: 'PW153',
  /** The data directory was created by another PostgreSQL major version. */
  EMBEDDED_VERSION_MISMATCH: 'PW154',
  /** `pgwarden up` is already running on this directory; a second one would fight it for the cluster. */
  EMBEDDED_ALREADY_UP: 'PW155',

  // PW2xx — installer
  /** The connected role lacks a privilege the install needs (listed in `detail`). */
  INSTALL_PRIVILEGES: 'PW200',
  /** A required extension (pgcrypto) is not available on the server. */
  INSTALL_EXTENSION_MISSING: 'PW201',
  /** An installed migration's sha256 differs from the shipped file: a released file was edited. */
  INSTALL_TAMPERED: 'PW202',
  /** The database has migrations this version of pgwarden does not know: it is newer than the code. */
  INSTALL_DATABASE_NEWER: 'PW203',
  /** The database was installed with a different role prefix. */
  INSTALL_PREFIX_MISMATCH: 'PW204',
  /** A migration file failed; its transaction was rolled back (SQLSTATE kept). */
  INSTALL_MIGRATION_FAILED: 'PW205',
  /** The server's PostgreSQL version is not supported. */
  INSTALL_UNSUPPORTED_SERVER: 'PW206',
  /** Another installer held the install lock for longer than the lock timeout. */
  INSTALL_LOCK_TIMEOUT: 'PW207',
  /** pgwarden is not installed in this database. */
  INSTALL_NOT_INSTALLED: 'PW208',
  /** The migration ledger has a gap or an entry out of order. */
  INSTALL_LEDGER_INCONSISTENT: 'PW210',
  /** Unknown tier or module name. */
  INSTALL_UNKNOWN_TIER: 'PW211',
  /** The shipped SQL catalog is itself inconsistent (a build problem). */
  INSTALL_CATALOG_INVALID: 'PW212',
  /** A schema pgwarden would create already exists with objects that are not pgwarden's. */
  INSTALL_SCHEMA_CONFLICT: 'PW213',
  /** `uninstall --purge` needs `--yes`: it deletes audit and security-event data for good. */
  INSTALL_PURGE_UNCONFIRMED: 'PW214',
  /** Uninstall would remove or change objects that are not pgwarden's (listed); nothing was removed. */
  INSTALL_FOREIGN_OBJECTS: 'PW215',
  /** A pgwarden role already exists with attributes or members pgwarden did not give it. */
  INSTALL_ROLE_CONFLICT: 'PW216',

  // PW3xx — identity: passwords, sessions, MFA, tokens
  /** Login failed. One code for unknown user, wrong password, throttled and disabled accounts. */
  AUTH_INVALID_CREDENTIALS: 'PW300',
  /** The new password breaks the password policy (`detail` says which rule; never the password). */
  AUTH_PASSWORD_REJECTED: 'PW301',
  /** A session or refresh token is unknown, used, expired or revoked. */
  AUTH_TOKEN_INVALID: 'PW302',
  /** The access token is missing, malformed, expired or not signed by a current key. */
  AUTH_ACCESS_TOKEN_INVALID: 'PW303',
  /** The password was right; a second factor is needed to finish the login. */
  AUTH_MFA_REQUIRED: 'PW304',
  /** The TOTP or recovery code is wrong, expired or already used. */
  AUTH_MFA_INVALID: 'PW305',
  /** The MFA operation does not fit the factor's state (already enrolled, not enrolled). */
  AUTH_MFA_STATE: 'PW306',
  /** The session's assurance level is too low (for example aal2 needed). */
  AUTH_INSUFFICIENT_AAL: 'PW307',
  /** The caller may not do this (admin endpoints). */
  AUTH_FORBIDDEN: 'PW308',
  /** No such user (admin operations only; user-facing paths never say this). */
  AUTH_USER_NOT_FOUND: 'PW309',
  /** A request field is missing or malformed (`detail` names the field). */
  AUTH_INVALID_INPUT: 'PW310',
  /** Too many password hashes are queued; the request was refused to protect memory. */
  AUTH_BUSY: 'PW311',
  /** The master key is missing, malformed or does not open the stored secrets. */
  AUTH_MASTER_KEY: 'PW312',
  /** No active JWT signing key exists; run `pgwarden keys rotate-jwt`. */
  AUTH_NO_SIGNING_KEY: 'PW313',
  /** The auth module is not installed in this database (install the basic tier or above). */
  AUTH_NOT_INSTALLED: 'PW314',
  /** A bearer token failed verification (signature, algorithm, claims, type, time). HTTP 401 invalid_token. */
  JWT_INVALID: 'PW320',
  /** The verification keys could not be fetched in time; the request fails closed (HTTP 503). */
  JWT_KEYS_UNAVAILABLE: 'PW321',
  /** The verifier's configuration is unsafe or incomplete (weak HMAC secret, no keys, bad allowlist). */
  JWT_CONFIG_INVALID: 'PW322',
  /** A verified token's authorisation claims are unusable (role not allowed, wrong type, NUL). HTTP 401/403. */
  JWT_CLAIMS_REFUSED: 'PW323',

  // PW33x — the request context (pgwarden/context)
  /** The database refused the request context: bad MAC, unknown key, other connection, expired. */
  CONTEXT_INVALID: 'PW330',
  /** The token's session has ended (logout, revocation, expiry, disabled user). HTTP 401. */
  CONTEXT_SESSION_ENDED: 'PW331',
  /** The user's roles changed after the token was issued; refresh it. HTTP 401. */
  CONTEXT_STALE_TOKEN: 'PW332',
  /** The request role is not allowed (superuser, BYPASSRLS, LOGIN, the owner, or not in the allowlist). */
  CONTEXT_ROLE_REFUSED: 'PW333',
  /** A statement inside a request ended or opened a transaction; the connection was discarded. */
  CONTEXT_TRANSACTION_CONTROL: 'PW334',
  /** The request-context configuration is unsafe or incomplete. */
  CONTEXT_CONFIG_INVALID: 'PW335',
  /** A request without a token where anonymous access is not configured. HTTP 401. */
  CONTEXT_TOKEN_REQUIRED: 'PW336',
  /** The request handle was used after its request finished, or after a failed statement. */
  CONTEXT_CLOSED: 'PW337',

  // PW34x — role-based access control
  /** A role, permission or tenant name is not valid. */
  RBAC_INVALID_INPUT: 'PW340',
  /** The named role does not exist. */
  RBAC_NO_SUCH_ROLE: 'PW341',
  /** The database user may not administer RBAC: it needs security_admin (auditor may only list). */
  RBAC_NOT_PERMITTED: 'PW342',

  // PW35x — row-level security toolkit (pgwarden rls)
  /** The table to protect does not exist (or the connected role cannot see it). */
  RLS_UNKNOWN_TABLE: 'PW350',
  /** A tenant or owner column named in the options is not a column of the table. */
  RLS_UNKNOWN_COLUMN: 'PW351',
  /** The column's type cannot be compared with the identity helpers (text, varchar, uuid, integers only). */
  RLS_COLUMN_TYPE: 'PW352',
  /** The table's owner rules it out: a request role (it could drop the policies), or pgwarden's owner role (pgwarden's own tables). */
  RLS_UNSAFE_OWNER: 'PW353',
  /** The table is a partition: protect its partitioned parent, which protects every partition. */
  RLS_PARTITION_CHILD: 'PW354',
  /** The relation is not a table (a view, materialized view, foreign table or sequence). */
  RLS_NOT_A_TABLE: 'PW355',
  /** A policy role is unknown or cannot be a request role (login, superuser, BYPASSRLS, the owner). */
  RLS_BAD_ROLE: 'PW356',
  /** The policy file or the protect options are invalid; `detail` lists each problem. */
  RLS_SPEC_INVALID: 'PW357',
  /** The relation to give `security_invoker` is not a view (or does not exist). */
  RLS_NOT_A_VIEW: 'PW358',
  /** The server lacks a feature the toolkit needs (security_invoker views need PostgreSQL 15). */
  RLS_UNSUPPORTED_SERVER: 'PW359',

  // PW40x — audit ledger
  /** A signed note or verifier key is malformed (not UTF-8, control characters, bad signature line). */
  AUDIT_NOTE_MALFORMED: 'PW400',
  /** A note carries no valid signature from a trusted key, a known key's signature fails, or a required one is missing. */
  AUDIT_NOTE_UNVERIFIED: 'PW401',
  /** The checkpoint body is not origin, tree size and root hash lines (plus non-empty extension lines). */
  AUDIT_CHECKPOINT_MALFORMED: 'PW402',
  /** The checkpoint's origin is unknown or names another database or environment. */
  AUDIT_CHECKPOINT_ORIGIN: 'PW403',
  /** The checkpoint is smaller than the trusted one: the log was rolled back. */
  AUDIT_CHECKPOINT_ROLLBACK: 'PW404',
  /** Two validly signed checkpoints of the same size with different roots: the log equivocates. */
  AUDIT_CHECKPOINT_EQUIVOCATION: 'PW405',
  /** The consistency proof between the trusted and the new checkpoint is missing or does not verify. */
  AUDIT_CONSISTENCY_PROOF: 'PW406',
  /** The signing key is revoked at that tree size, or the key history is not a valid append-only extension. */
  AUDIT_KEY_HISTORY: 'PW407',
  /** Fewer trusted witnesses cosigned the checkpoint than the policy's quorum requires. */
  AUDIT_WITNESS_QUORUM: 'PW408',
  /** A witness refused the checkpoint for another reason (it holds another size) or could not be reached. */
  AUDIT_WITNESS_FAILED: 'PW409',
  /** A Merkle proof, hash or saved tree state is malformed, or a proof was asked for sizes that do not exist. */
  AUDIT_PROOF_MALFORMED: 'PW410',

  // PW42x — row-change audit
  /** The table cannot be audited: no primary key, in one of pgwarden's own schemas, or not a table. */
  AUDIT_TABLE_REFUSED: 'PW420',
  /** Audit rows are append-only: UPDATE, DELETE and TRUNCATE of audit.row_changes are refused. */
  AUDIT_APPEND_ONLY: 'PW421',
  /** Retention refused: a partition is not sealed, its archive could not be written or checked, or it is the default partition. */
  AUDIT_RETENTION: 'PW422',
  /** An export could not be written: bad format, bad range, or the destination failed. */
  AUDIT_EXPORT: 'PW423',
  /** WAL capture cannot run: wal_level is not logical, no REPLICATION attribute, the slot is missing or lost, or another capture service holds it. */
  AUDIT_WAL_CAPTURE: 'PW424',

  // PW43x — the ledger (sealing and verification)
  /** The ledger is not set up: no state or signing keys (run `pgwarden audit keys init`, or `install` with a master key). */
  LEDGER_NOT_INITIALISED: 'PW430',
  /** Verification found tampering: modified, deleted, inserted or reordered entries, a truncated tail or a rewrite. */
  LEDGER_TAMPERED: 'PW431',
  /** The ledger signing keys cannot be opened with this master key, or do not match the key history. */
  LEDGER_KEYS: 'PW432',
  /** Verification could not vouch for part of the log (no checkpoint covers it): never reported as OK. */
  LEDGER_UNVERIFIED: 'PW433',
  /** An inclusion or consistency proof, or an exported record, does not check out. */
  LEDGER_PROOF_FAILED: 'PW434',
  /** Another sealer holds the ledger lock, or the sealer was interrupted; nothing was half-sealed. */
  LEDGER_BUSY: 'PW435',
  /** Transaction ids are behind the sealer's cursor (a logical restore into another cluster): sealing would skip rows, so it stops. */
  LEDGER_XID_REWOUND: 'PW436',

  // PW5xx — compliance scanner (check, fix, report)
  /** The baseline (accepted findings and waivers) file cannot be read or is invalid; `detail` names each entry. */
  CHECK_BASELINE_INVALID: 'PW500',
  /** The fleet targets file cannot be read or is invalid. */
  CHECK_TARGETS_INVALID: 'PW501',
  /** `--only`/`--skip` name a check id or family that does not exist. */
  CHECK_UNKNOWN_CHECK: 'PW502',
  /** A remediation statement of `pgwarden fix --apply` failed; statements after it were not run. */
  CHECK_FIX_FAILED: 'PW503',
  /** No scan history to report on: the compliance module is not installed or no scan was saved. */
  CHECK_NO_HISTORY: 'PW504',

  // PW6xx — security monitor (sources, rules, alerts, sinks, dashboard)
  /** An alert status change that the lifecycle does not allow (open → acknowledged → resolved, never back). */
  MONITOR_ALERT_TRANSITION: 'PW600',
  /** The alert named does not exist. */
  MONITOR_ALERT_NOT_FOUND: 'PW601',
  /** A rule file or rule is invalid; `detail` names the file, the rule id and the field. */
  MONITOR_RULE_INVALID: 'PW602',
  /** A monitor source cannot read what it was pointed at (log directory, log format, LISTEN on a standby …). */
  MONITOR_SOURCE_FAILED: 'PW603',
  /** An alert sink is misconfigured (bad URL, missing secret reference, unknown kind). */
  MONITOR_SINK_INVALID: 'PW604',
  /** An alert sink refused or did not answer a delivery; it is retried with backoff. */
  MONITOR_SINK_FAILED: 'PW605',
  /** The dashboard refused a login or a request (wrong credentials, no monitor role, bad CSRF token). */
  MONITOR_DASHBOARD_DENIED: 'PW606',
  /** The monitor's heartbeat is older than the watchdog allows: the monitor is down or cut off. */
  MONITOR_HEARTBEAT_STALE: 'PW607',
  /** A change window was refused: self-approved, backdated, longer than 24 h, without a reason, or unknown/closed. */
  MONITOR_CHANGE_WINDOW_INVALID: 'PW608',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Process exit codes of the `pgwarden` binary. */
export const ExitCodes = {
  /** Success. */
  OK: 0,
  /** The operation failed, or reported findings at or above `--fail-on`. */
  FAILURE: 1,
  /** Usage or configuration error: nothing was attempted. */
  USAGE: 2,
  /** The database could not be reached or rejected the login. */
  UNREACHABLE: 3,
  /** Interrupted by SIGINT/SIGTERM after stopping at a safe point (128 + SIGINT). */
  INTERRUPTED: 130,
} as const;

export type ExitCode = (typeof ExitCodes)[keyof typeof ExitCodes];

const usageCodes = new Set<string>([
  ErrorCodes.USAGE,
  ErrorCodes.CONFIG_INVALID,
  ErrorCodes.CONFIG_UNREADABLE,
  ErrorCodes.CONFIG_EXISTS,
  ErrorCodes.INSTALL_UNKNOWN_TIER,
  ErrorCodes.INSTALL_PURGE_UNCONFIRMED,
  ErrorCodes.CHECK_BASELINE_INVALID,
  ErrorCodes.CHECK_TARGETS_INVALID,
  ErrorCodes.CHECK_UNKNOWN_CHECK,
]);
const unreachableCodes = new Set<string>([
  ErrorCodes.CONNECTION_FAILED,
  ErrorCodes.CONNECTION_AUTH_FAILED,
  ErrorCodes.CONNECTION_NO_DATABASE,
  ErrorCodes.CONNECTION_TIMEOUT,
]);

/** Maps an error code to the documented process exit code. */
export function exitCodeFor(code: string): ExitCode {
  if (usageCodes.has(code)) return ExitCodes.USAGE;
  if (unreachableCodes.has(code)) return ExitCodes.UNREACHABLE;
  if (code === ErrorCodes.INTERRUPTED) return ExitCodes.INTERRUPTED;
  return ExitCodes.FAILURE;
}

export { type ErrorCode, ErrorCodes, type ExitCode, ExitCodes, exitCodeFor } from './codes.js';
export { isPgwardenError, PgwardenError, type PgwardenErrorOptions, toPgwardenError } from './pgwarden-error.js';

import { type ErrorCode, ErrorCodes } from './codes.js';

/** Fields every pgwarden error carries. */
export interface PgwardenErrorOptions {
  /** More context: which key, which file, which privilege. Never a secret. */
  detail?: string | undefined;
  /** What the user should do next. */
  hint?: string | undefined;
  /** SQLSTATE of the PostgreSQL error this wraps, if any. */
  sqlState?: string | undefined;
  cause?: unknown;
}

/**
 * The one error class of pgwarden. `code` is stable (see `ErrorCodes`); `message` says what happened;
 * `hint` says what to do. Messages never contain passwords, tokens, keys or decrypted values.
 *
 * @example
 * throw new PgwardenError(ErrorCodes.INSTALL_TAMPERED, 'core/0002_events.sql was edited after release', {
 *   hint: 'restore the shipped file; released migrations are never edited',
 * });
 */
export class PgwardenError extends Error {
  readonly code: ErrorCode;
  readonly detail: string | undefined;
  readonly hint: string | undefined;
  readonly sqlState: string | undefined;

  constructor(code: ErrorCode, message: string, options: PgwardenErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PgwardenError';
    this.code = code;
    this.detail = options.detail;
    this.hint = options.hint;
    this.sqlState = options.sqlState;
  }

  /** A plain object for `--json` output and structured logs. */
  toJSON(): Record<string, string> {
    const out: Record<string, string> = { code: this.code, message: this.message };
    if (this.detail) out.detail = this.detail;
    if (this.hint) out.hint = this.hint;
    if (this.sqlState) out.sqlState = this.sqlState;
    return out;
  }
}

/** True when `err` is a PgwardenError, optionally with the given code. */
export function isPgwardenError(err: unknown, code?: ErrorCode): err is PgwardenError {
  return err instanceof PgwardenError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a PgwardenError, keeping an existing one as is. */
export function toPgwardenError(err: unknown): PgwardenError {
  if (err instanceof PgwardenError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new PgwardenError(ErrorCodes.INTERNAL, message, { cause: err });
}

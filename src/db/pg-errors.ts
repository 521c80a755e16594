import { ErrorCodes, PgwardenError } from '../errors/index.js';

interface PgLikeError {
  code?: string;
  message?: string;
  detail?: string;
  hint?: string;
  errno?: number;
}

const connectionCodes = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ECONNRESET',
  'EAI_AGAIN',
  'ENETUNREACH',
]);

/**
 * Turns anything `pg` throws into a PgwardenError with a stable code, keeping the SQLSTATE,
 * detail and hint. A SQLSTATE of the form `PWnnn` raised by pgwarden's own SQL keeps its code.
 *
 * @example
 * try { await client.query(sql); } catch (err) { throw wrapPgError(err, 'installing core'); }
 */
export function wrapPgError(err: unknown, context?: string): PgwardenError {
  if (err instanceof PgwardenError) return err;
  const e = (err ?? {}) as PgLikeError;
  const prefix = context ? `${context}: ` : '';
  const message = e.message ?? String(err);
  const opts = { detail: e.detail, hint: e.hint, sqlState: e.code, cause: err };
  if (e.code && /^PW\d{3}$/.test(e.code)) {
    return new PgwardenError(e.code as (typeof ErrorCodes)[keyof typeof ErrorCodes], `${prefix}${message}`, opts);
  }
  if (e.code && connectionCodes.has(e.code)) {
    return new PgwardenError(ErrorCodes.CONNECTION_FAILED, `${prefix}cannot reach the database server (${e.code})`, {
      ...opts,
      sqlState: undefined,
      detail: message,
      hint: 'check the host and port in --database-url, DATABASE_URL or PGHOST/PGPORT, and that the server is running',
    });
  }
  if (/timeout/i.test(message) && !e.code) {
    return new PgwardenError(ErrorCodes.CONNECTION_TIMEOUT, `${prefix}timed out connecting to the database server`, {
      ...opts,
      detail: message,
      hint: 'check the network path to the server, or raise database.connectTimeoutMs',
    });
  }
  switch (e.code) {
    case '28P01':
    case '28000':
      return new PgwardenError(ErrorCodes.CONNECTION_AUTH_FAILED, `${prefix}the server rejected the login`, {
        ...opts,
        detail: message,
        hint: 'check the user name and password (PGUSER/PGPASSWORD or the URL) and pg_hba.conf',
      });
    case '3D000':
      return new PgwardenError(ErrorCodes.CONNECTION_NO_DATABASE, `${prefix}${message}`, {
        ...opts,
        hint: 'create the database first, or name an existing one in the connection settings',
      });
    default:
      return new PgwardenError(ErrorCodes.DATABASE_ERROR, `${prefix}${message}`, opts);
  }
}

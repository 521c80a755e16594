export {
  type ConnectionConfig,
  connect,
  quoteIdent,
  quoteLiteral,
  withClient,
  withSessionSetting,
  withTransaction,
} from './client.js';
export { type DatabaseHandle, embeddedCluster, type OpenDatabaseOptions, openDatabase } from './open-database.js';
export { wrapPgError } from './pg-errors.js';
export { type DatabaseTarget, resolveTarget } from './target.js';

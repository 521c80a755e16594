/**
 * The monitor's database sources: pgwarden's security events (LISTEN/NOTIFY plus catch-up by id),
 * the row-change audit trail, and samples of the server's statistics; the position store they
 * resume from, and multi-host connecting for failover.
 *
 * @example
 * import { DbPositionStore, SecurityEventSource } from './sources/index.js';
 * const source = new SecurityEventSource({ connection, positions: new DbPositionStore(pool), onEvents });
 * await source.start();
 */
export { aggregateAuditRows, AuditTrailSource, type AuditTrailSourceOptions } from './audit-trail.js';
export { connectPrimary, type HostPort, type PrimaryConnectionOptions } from './connect-primary.js';
export { DbPositionStore, type Queryable } from './db-position-store.js';
export { defaultGapPolicy, type GapPolicy, IdCursor, type IdCursorPosition } from './id-cursor.js';
export { detailFields, isSecretKey, securityEventFromRow } from './security-event-row.js';
export { MONITOR_CHANNEL, SecurityEventSource, type SecurityEventSourceOptions } from './security-events.js';
export type { SourceStateEvent, SourceStateListener, SourceStatus } from './source-state.js';
export { type StatsParts, StatsSource, type StatsSourceOptions } from './stats.js';

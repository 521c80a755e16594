/**
 * What the database sources (security events, audit trail, statistics) report about themselves:
 * their status, and typed state events the daemon turns into log lines, metrics and dashboard
 * badges. A source never logs on its own; it hands these to `onState`.
 */
import type { PgwardenError } from '../../errors/index.js';

/**
 * Where a database source stands. `unavailable`: what it reads is not there (the audit module or
 * pg_stat_statements is not installed), which is not an error. `failed`: it stopped for good
 * (pointed at a standby, login refused at start).
 */
export type SourceStatus = 'starting' | 'running' | 'disconnected' | 'unavailable' | 'failed' | 'closed';

/**
 * One state change of a source.
 *
 * @example
 * const onState = (s: SourceStateEvent) => {
 *   if (s.kind === 'disconnected') log.warn({ kind: 'source-disconnected', code: s.error.code }, s.error.message);
 * };
 */
export type SourceStateEvent =
  /** Connected (and listening, for the security events) for the first time. */
  | { kind: 'connected'; source: string; host: string; port: number }
  /** Connected again after a loss; everything committed meanwhile is read by id next. */
  | { kind: 'reconnected'; source: string; host: string; port: number; downMs: number }
  /** The connection failed or was lost; the source retries after `retryInMs`. */
  | { kind: 'disconnected'; source: string; error: PgwardenError; retryInMs: number }
  /** What the source reads is not installed; it checks again on each poll. */
  | { kind: 'unavailable'; source: string; reason: string }
  /** Available again after being unavailable. */
  | { kind: 'available'; source: string }
  /**
   * Ids below the read position still missing after the gap window moved to the slow re-check
   * list (read again every minute for a day by default): a long transaction holds them, or one
   * holds the cluster's xmin back.
   */
  | { kind: 'gap-expired'; source: string; from: number; to: number }
  /**
   * A slow range was given up (its window passed, or too many ranges): a transaction that
   * allocated those ids and commits later is not read. The batch carried `monitor.events_skipped`.
   */
  | { kind: 'gap-abandoned'; source: string; from: number; to: number }
  /** The onEvents handler threw; the same events are offered again on the next pass. */
  | { kind: 'handler-failed'; source: string; error: PgwardenError };

/** Receives a source's state events. */
export type SourceStateListener = (state: SourceStateEvent) => void;

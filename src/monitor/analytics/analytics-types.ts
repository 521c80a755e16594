import type { AlertSeverity } from '../alert-signal.js';
import type { MonitorEvent, UntimedEvent } from '../event.js';
import type { Anomaly } from './detect.js';
import type { ThresholdOverrides } from './options.js';
import type { ProfileStore } from './profile-store.js';
import type { RankedReason } from './risk.js';

/** Options of `UserAnalytics`. */
export interface UserAnalyticsOptions {
  /** The monitor's clock for `risk`, `topRisk`, `noteAlert` and `flush` (observe uses event.time). Default Date.now. */
  clock?: () => number;
  /** Where profiles persist; without one, evicted profiles are forgotten. */
  store?: ProfileStore;
  /** IANA zone whose local hours the hour-of-week histogram counts. Default UTC. */
  timeZone?: string;
  /** Profiles kept in memory (least recently used evicted, written first). Default 10 000. */
  maxProfiles?: number;
  thresholds?: ThresholdOverrides;
}

/** What one observed event showed. */
export interface AnalyticsResult {
  /** The principal (normalised), or undefined for an event the analytics does not look at. */
  user: string | undefined;
  /** Anomalies the event showed against what was known before it. */
  anomalies: readonly Anomaly[];
  /** The user is in cold start (fewer than minEvents events or younger than minDays). */
  learning: boolean;
  /** The user's risk score after this event. */
  score: number;
  /**
   * `ueba.anomaly` events to feed back into the pipeline: the one this event raised, after any
   * raised while replaying events that waited for a profile to come back from the store.
   */
  events: readonly UntimedEvent[];
  /** True when the event waits for the user's stored profile (it is judged once that arrives). */
  restoring?: boolean;
}

/** A user's risk as `risk()` and `topRisk()` report it. */
export interface UserRisk {
  user: string;
  score: number;
  learning: boolean;
  /** Most recent first, each with its weight when raised and what it still contributes. */
  reasons: RankedReason[];
  /** Milliseconds since the user was first seen (0 when unknown). */
  profileAge: number;
  events: number;
}

/** Counters for metrics and the dashboard. */
export interface AnalyticsStats {
  /** Profiles in memory, evicted ones waiting to be written, principals waiting for their stored profile. */
  profiles: number;
  pendingWrites: number;
  restoring: number;
  observed: number;
  /** Events without a user, or the monitor's own. */
  skipped: number;
  anomalies: number;
  learningAnomalies: number;
  anomalyEvents: number;
  evictions: number;
  /** Evicted profiles dropped unwritten because the write queue was full (the store kept failing). */
  droppedProfiles: number;
  /** Events dropped while waiting for a profile (too many waiting). */
  droppedEvents: number;
  flushedProfiles: number;
  flushErrors: number;
  restoreErrors: number;
  /** Stored rows that were not a valid profile (skipped, relearned). */
  invalidProfiles: number;
}

/** What waits for a profile being restored: an event to judge or an alert to note. */
export type WaitingItem =
  { event: MonitorEvent } | { alert: { severity: AlertSeverity; summary: string | undefined; time: number } };

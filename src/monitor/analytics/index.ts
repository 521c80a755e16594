/**
 * User-behaviour analytics (UEBA): per-user baselines learned online from monitor events, a
 * 0–100 risk score with reasons, and `ueba.anomaly` events when a score reaches the threshold.
 */
export { UserAnalytics } from './analytics.js';
export type {
  AnalyticsResult,
  AnalyticsStats,
  UserAnalyticsOptions,
  UserRisk,
  WaitingItem,
} from './analytics-types.js';
export { anomalyEvent } from './anomaly-event.js';
export { type Anomaly, type AnomalyCode, hourShare } from './detect.js';
export { authFailureTypes, errorTypes, rowTypes, tableTypes } from './event-facts.js';
export { HourClock } from './hour-clock.js';
export {
  type AnalyticsThresholds,
  defaultThresholds,
  type ReasonWeights,
  resolveThresholds,
  type ThresholdOverrides,
} from './options.js';
export { Profile, type ProfileJSON, profileFromJSON, profileToJSON } from './profile.js';
export { type ProfileQueryable, type ProfileRow, ProfileStore, type StoredProfileRow } from './profile-store.js';
export { type RankedReason, type ReasonCode, type RiskReason, RiskState } from './risk.js';

import type { AnalyticsThresholds } from './options.js';
import { profileFromJSON, profileToJSON } from './profile.js';
import { UserState } from './profile-cache.js';
import type { ProfileRow, StoredProfileRow } from './profile-store.js';
import { RiskState } from './risk.js';

/**
 * The row a user's state is written as, with the score at `now`.
 *
 * @example
 * await store.save([stateToRow(state, Date.now(), thresholds)]);
 */
export function stateToRow(state: UserState, now: number, t: AnalyticsThresholds): ProfileRow {
  return {
    principal: state.key,
    profile: profileToJSON(state.profile, t.hourHalfLifeMs),
    riskScore: state.risk.score(now, t),
    riskReasons: state.risk.toJSON(),
  };
}

/**
 * A user's state rebuilt from a stored row, or undefined when the stored profile is not one
 * (a corrupt row is skipped and relearned rather than stopping the monitor).
 *
 * @example
 * const state = stateFromRow(row, thresholds);
 */
export function stateFromRow(row: StoredProfileRow, t: AnalyticsThresholds): UserState | undefined {
  try {
    const profile = profileFromJSON(row.profile, t);
    const state = new UserState(row.principal, profile, RiskState.fromJSON(row.riskReasons, t));
    state.dirty = false;
    return state;
  } catch {
    return undefined;
  }
}

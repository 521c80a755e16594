import type { AnomalyCode } from './detect.js';
import type { AnalyticsThresholds } from './options.js';
import { decayFactor } from './profile.js';

/** A reason in a user's risk: an anomaly, or an alert (another detector's) naming the user. */
export type ReasonCode = AnomalyCode | 'alert';

/** One reason as stored (monitor.user_profiles.risk_reasons holds an array of these). */
export interface RiskReason {
  code: ReasonCode;
  /** Points it added when raised; it decays with the risk half-life. */
  weight: number;
  learning: boolean;
  explanation: string;
  /** When it was raised (monitor clock, ms since the epoch). */
  time: number;
}

/** A reason with what it still contributes now. */
export interface RankedReason extends RiskReason {
  contribution: number;
}

const reasonCodes: ReadonlySet<string> = new Set([
  'new_address',
  'new_address_block',
  'unusual_hour',
  'new_table',
  'volume_spike',
  'error_burst',
  'alert',
]);
const maxExplanation = 300;
/** After this many half-lives a reason contributes nothing worth keeping (2^-24 of its weight). */
const forgetAfterHalfLives = 24;

/**
 * The recent reasons of one user and the score they add up to. The score is the sum of every
 * reason's weight halved per half-life since it was raised (learning reasons together capped at
 * `learningCap`), rounded and capped at 100. O(reasons) with at most `maxReasons` of them.
 *
 * @example
 * const risk = new RiskState();
 * risk.add({ code: 'new_address', weight: 40, learning: false, explanation: '…', time: t }, thresholds);
 * risk.score(t + 3_600_000, thresholds); // 20 with a 1 h half-life
 */
export class RiskState {
  /** Oldest first. */
  readonly reasons: RiskReason[] = [];

  add(reason: RiskReason, t: AnalyticsThresholds): void {
    const { reasons } = this;
    const explanation =
      reason.explanation.length > maxExplanation
        ? `${reason.explanation.slice(0, maxExplanation - 1)}…`
        : reason.explanation;
    reasons.push(explanation === reason.explanation ? reason : { ...reason, explanation });
    const forgetBefore = reason.time - forgetAfterHalfLives * t.riskHalfLifeMs;
    while (reasons.length > t.maxReasons || (reasons.length > 0 && reasons[0]!.time < forgetBefore)) reasons.shift();
  }

  /** The score (0–100, an integer) at `now`. */
  score(now: number, t: AnalyticsThresholds): number {
    let behaviour = 0;
    let learning = 0;
    for (const r of this.reasons) {
      const c = r.weight * decayFactor(now - r.time, t.riskHalfLifeMs);
      if (r.learning) learning += c;
      else behaviour += c;
    }
    return Math.min(100, Math.round(behaviour + Math.min(learning, t.learningCap)));
  }

  /** Reasons still contributing at least half a point, the largest contribution first. */
  ranked(now: number, t: AnalyticsThresholds): RankedReason[] {
    return this.withContribution(now, t)
      .filter((r) => r.contribution >= 0.5)
      .sort((a, b) => b.contribution - a.contribution);
  }

  /** Every kept reason with its contribution at `now`, the most recent first. */
  recentFirst(now: number, t: AnalyticsThresholds): RankedReason[] {
    return this.withContribution(now, t).reverse();
  }

  private withContribution(now: number, t: AnalyticsThresholds): RankedReason[] {
    return this.reasons.map((r) => ({
      ...r,
      contribution: Math.round(r.weight * decayFactor(now - r.time, t.riskHalfLifeMs) * 10) / 10,
    }));
  }

  /** The JSON array stored in risk_reasons. */
  toJSON(): RiskReason[] {
    return this.reasons.slice();
  }

  /**
   * Rebuilds the state from risk_reasons; entries that are not reasons are dropped (a hand-edited
   * row must not stop the monitor from starting).
   */
  static fromJSON(value: unknown, t: AnalyticsThresholds): RiskState {
    const state = new RiskState();
    if (!Array.isArray(value)) return state;
    for (const v of value as unknown[]) {
      if (typeof v !== 'object' || v === null) continue;
      const r = v as Record<string, unknown>;
      if (typeof r.code !== 'string' || !reasonCodes.has(r.code)) continue;
      if (typeof r.weight !== 'number' || !Number.isFinite(r.weight) || r.weight < 0) continue;
      if (typeof r.time !== 'number' || !Number.isFinite(r.time) || typeof r.explanation !== 'string') continue;
      const reason: RiskReason = {
        code: r.code as ReasonCode,
        weight: Math.min(100, r.weight),
        learning: r.learning === true,
        explanation: r.explanation,
        time: r.time,
      };
      state.reasons.push(reason);
    }
    state.reasons.sort((a, b) => a.time - b.time);
    while (state.reasons.length > t.maxReasons) state.reasons.shift();
    return state;
  }
}

import { ErrorCodes, PgwardenError } from '../../errors/index.js';

/** Milliseconds in one hour and one day. */
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

/**
 * Every tunable of the behaviour analytics. Defaults are chosen so that one benign day of a
 * hundred office workers raises at most one anomaly event (M-15): a single weak signal (an odd
 * hour, a new address) stays below the threshold and only a combination of them crosses it.
 */
export interface AnalyticsThresholds {
  /** Risk score (0–100) whose upward crossing raises a `ueba.anomaly` event. Default 70. */
  threshold: number;
  /** No second event for a user within this time unless the score rose by `rearmDelta`. Default 1 h. */
  cooldownMs: number;
  /** Rise of the score above the last event's that raises another event inside the cool-down. Default 15. */
  rearmDelta: number;
  /** Half-life of a reason's (and an alert's) weight in the score. Default 1 h. */
  riskHalfLifeMs: number;
  /** Events before a user leaves cold start. Default 50. */
  minEvents: number;
  /** Days since first seen before a user leaves cold start. Default 3. */
  minDays: number;
  /** Events before anything is scored at all (every address is new to a profile of three events). Default 10. */
  minEventsToScore: number;
  /** Factor applied to the weight of an anomaly seen while learning. Default 0.25. */
  learningFactor: number;
  /** Most points that learning anomalies add to the score together. Default 15 (below any threshold). */
  learningCap: number;
  /** Half-life of the hour-of-week histogram. Default 30 days. */
  hourHalfLifeMs: number;
  /** An hour whose smoothed share of activity is below this is unusual. Default 0.002 (a third of uniform). */
  hourFloor: number;
  /** Rows-per-hour z-score at or above which a volume spike is reported. Default 4. */
  volumeZ: number;
  /** Fewest rows in the hour for a volume spike. Default 10 000. */
  volumeMinRows: number;
  /** Active hours of row history before volume is scored. Default 6. */
  volumeMinHours: number;
  /** Smoothing factor of the rows-per-hour EWMA. Default 0.1. */
  volumeAlpha: number;
  /** Length of the recent error window (a sliding-window counter). Default 5 min. */
  errorWindowMs: number;
  /** Half-life of the baseline error rate. Default 7 days. */
  errorBaselineMs: number;
  /** Fewest errors in the recent window for a burst. Default 10. */
  errorBurstMinErrors: number;
  /** Recent error rate a burst needs at least. Default 0.5. */
  errorBurstMinRate: number;
  /** …and at least this multiple of the baseline rate. Default 5. */
  errorBurstFactor: number;
  /** Capacity of the per-user address list (least recently seen evicted). Default 32. */
  maxAddresses: number;
  /** Capacity of the per-user address-block list. Default 16. */
  maxBlocks: number;
  /** Capacity of the per-user table list. Default 64. */
  maxTables: number;
  /** Reasons kept per user (oldest dropped). Default 20. */
  maxReasons: number;
  /** Points per reason before decay. */
  weights: ReasonWeights;
}

/** Points a reason adds to the score when it is raised (before decay and the learning factor). */
export interface ReasonWeights {
  new_address: number;
  new_address_block: number;
  unusual_hour: number;
  new_table: number;
  /** At z = volumeZ; grows by 20 per tenfold z up to `volume_spike_max`. */
  volume_spike: number;
  volume_spike_max: number;
  error_burst: number;
  alert_low: number;
  alert_medium: number;
  alert_high: number;
  alert_critical: number;
}

/**
 * The defaults (see each field).
 *
 * @example
 * defaultThresholds.threshold; // 70
 */
export const defaultThresholds: Readonly<AnalyticsThresholds> = Object.freeze({
  threshold: 70,
  cooldownMs: HOUR,
  rearmDelta: 15,
  riskHalfLifeMs: HOUR,
  minEvents: 50,
  minDays: 3,
  minEventsToScore: 10,
  learningFactor: 0.25,
  learningCap: 15,
  hourHalfLifeMs: 30 * DAY,
  hourFloor: 0.002,
  volumeZ: 4,
  volumeMinRows: 10_000,
  volumeMinHours: 6,
  volumeAlpha: 0.1,
  errorWindowMs: 5 * 60_000,
  errorBaselineMs: 7 * DAY,
  errorBurstMinErrors: 10,
  errorBurstMinRate: 0.5,
  errorBurstFactor: 5,
  maxAddresses: 32,
  maxBlocks: 16,
  maxTables: 64,
  maxReasons: 20,
  weights: Object.freeze({
    new_address: 40,
    new_address_block: 10,
    unusual_hour: 35,
    new_table: 12,
    volume_spike: 35,
    volume_spike_max: 75,
    error_burst: 30,
    alert_low: 5,
    alert_medium: 15,
    alert_high: 30,
    alert_critical: 50,
  }),
});

/** Thresholds as a caller passes them: any subset, weights included. */
export type ThresholdOverrides = Partial<Omit<AnalyticsThresholds, 'weights'>> & { weights?: Partial<ReasonWeights> };

/**
 * Merges overrides over the defaults and refuses nonsense (negative windows, a threshold outside
 * 1–100) with CONFIG_INVALID, naming the field.
 *
 * @example
 * const t = resolveThresholds({ threshold: 80 }); // t.cooldownMs === 3_600_000
 */
export function resolveThresholds(overrides: ThresholdOverrides = {}): AnalyticsThresholds {
  const { weights, ...rest } = overrides;
  const merged: AnalyticsThresholds = {
    ...defaultThresholds,
    ...stripUndefined(rest),
    weights: { ...defaultThresholds.weights, ...stripUndefined(weights ?? {}) },
  };
  for (const [name, value] of Object.entries(merged)) {
    if (name === 'weights') continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) invalid(name, value);
  }
  for (const [name, value] of Object.entries(merged.weights)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 100)
      invalid(`weights.${name}`, value);
  }
  if (merged.threshold < 1 || merged.threshold > 100) invalid('threshold', merged.threshold);
  if (merged.learningFactor > 1) invalid('learningFactor', merged.learningFactor);
  if (merged.volumeAlpha <= 0 || merged.volumeAlpha > 1) invalid('volumeAlpha', merged.volumeAlpha);
  for (const k of ['riskHalfLifeMs', 'hourHalfLifeMs', 'errorWindowMs', 'errorBaselineMs'] as const) {
    if (merged[k] <= 0) invalid(k, merged[k]);
  }
  for (const k of ['maxAddresses', 'maxBlocks', 'maxTables', 'maxReasons'] as const) {
    if (!Number.isInteger(merged[k]) || merged[k] < 1 || merged[k] > 1000) invalid(k, merged[k]);
  }
  return merged;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function invalid(name: string, value: unknown): never {
  throw new PgwardenError(ErrorCodes.CONFIG_INVALID, `invalid behaviour-analytics setting ${name}: ${String(value)}`, {
    hint: 'windows and weights are non-negative numbers, the threshold is 1–100, list capacities are 1–1000',
  });
}

import type { EventContext, MonitorEvent, UntimedEvent } from '../event.js';
import type { AnalyticsResult } from './analytics-types.js';
import { anomalyEvent } from './anomaly-event.js';
import { type Anomaly, type DetectContext, detect, withinUsualVolume } from './detect.js';
import { blankFacts, blockFor, readFacts } from './event-facts.js';
import type { HourClock } from './hour-clock.js';
import { learn, rollVolume } from './learn.js';
import { type AnalyticsThresholds, DAY } from './options.js';
import { Profile } from './profile.js';
import type { UserState } from './profile-cache.js';

/** Sightings that make an address known: one visit (a single stolen session) is not enough. */
const knownAddressMin = 2;

/** Shared empty lists: an ordinary event's result allocates nothing else. */
export const noAnomalies: readonly Anomaly[] = Object.freeze([]);
export const noEvents: readonly UntimedEvent[] = Object.freeze([]);

/** True while a profile is in cold start at `time`. */
export function isLearning(p: Profile, time: number, t: AnalyticsThresholds): boolean {
  return p.events < t.minEvents || time - p.firstSeen < t.minDays * DAY;
}

/**
 * The per-event core: detect against the profile as it was, add the anomalies to the risk, decide
 * whether to raise an anomaly event, then learn. Holds the reused scratch objects, so judging an
 * ordinary event allocates only its result.
 *
 * @example
 * const judge = new Judge(thresholds, new HourClock());
 * const { anomalies, events } = judge.run(state, event);
 */
export class Judge {
  readonly counters = { anomalies: 0, learningAnomalies: 0, anomalyEvents: 0 };
  private readonly facts = blankFacts();
  private readonly ctx: DetectContext;

  constructor(
    private readonly t: AnalyticsThresholds,
    private readonly clock: HourClock,
  ) {
    this.ctx = { p: new Profile(0), f: this.facts, t, clock, learning: false };
  }

  run(state: UserState, event: MonitorEvent): AnalyticsResult {
    const t = this.t;
    const f = readFacts(event, this.clock, this.facts);
    const p = state.profile;
    if (f.addr !== undefined && f.block === undefined) {
      // Deriving a block parses the address; most events repeat the previous one.
      if (f.addr !== p.lastAddr) {
        p.lastAddr = f.addr;
        p.lastBlock = blockFor(f.addr);
      }
      f.block = p.lastBlock;
    }
    if (f.rows > 0) rollVolume(p, f, t.volumeAlpha);
    const learning = isLearning(p, f.time, t);
    this.ctx.p = p;
    this.ctx.learning = learning;
    const anomalies = detect(this.ctx);
    let hourWeight = 1;
    let score = 0;
    let raised: UntimedEvent | undefined;
    if (anomalies) {
      for (const a of anomalies) {
        state.risk.add(a, t);
        // An odd hour becomes normal through repetition, not through one visit.
        if (!learning && a.code === 'unusual_hour') hourWeight = 0.25;
      }
      score = state.risk.score(f.time, t);
      this.counters.anomalies += anomalies.length;
      if (learning) this.counters.learningAnomalies += anomalies.length;
      else if (this.shouldRaise(p, score, f.time)) {
        p.alertedAt = f.time;
        p.alertedScore = score;
        this.counters.anomalyEvents += 1;
        raised = anomalyEvent(state.key, event, score, state.risk.ranked(f.time, t));
      }
    } else if (state.risk.reasons.length > 0) {
      score = state.risk.score(f.time, t);
    }
    learn(p, f, t, hourWeight);
    state.dirty = true;
    return {
      user: state.key,
      anomalies: anomalies ?? noAnomalies,
      learning,
      score,
      events: raised ? [raised] : noEvents,
    };
  }

  /**
   * What the profile says about the event before it is judged or learned: whether its address is
   * one the principal works from (seen at least `knownAddressMin` times), and whether its rows
   * keep the hour within the principal's usual volume (only once the principal left cold start).
   */
  context(state: UserState, event: MonitorEvent): EventContext | undefined {
    const f = readFacts(event, this.clock, this.facts);
    if (f.addr === undefined && f.rows === 0) return undefined;
    const p = state.profile;
    const context: EventContext = {};
    if (f.addr !== undefined) context.known_address = (p.addrs.get(f.addr)?.n ?? 0) >= knownAddressMin;
    if (f.rows > 0 && !isLearning(p, f.time, this.t)) context.usual_volume = withinUsualVolume(p, f, this.t);
    return context;
  }

  /**
   * An event with a behavioural reason raises an anomaly event when the score is at or above the
   * threshold, unless one was raised within the cool-down and the score has not risen by
   * `rearmDelta` since. Alerts alone never raise one: they come from the rules already.
   */
  private shouldRaise(p: Profile, score: number, time: number): boolean {
    if (score < this.t.threshold) return false;
    const inCooldown = time - p.alertedAt < this.t.cooldownMs;
    return !inCooldown || score >= p.alertedScore + this.t.rearmDelta;
  }
}

import type { EventFacts } from './event-facts.js';
import type { AnalyticsThresholds } from './options.js';
import { bumpRate, type Profile, rollWindow, touch } from './profile.js';

/** Past this scale the histogram is renormalised (keeps the numbers far from overflow). */
const maxScale = 2 ** 40;

/**
 * Folds one event into a profile. Called after the detectors looked at the event, so an event is
 * judged against what was known before it. `hourWeight` is 1, or less for an hour that was just
 * reported unusual: an odd hour becomes normal through repetition, not through one visit.
 *
 * @example
 * learn(profile, readFacts(event, clock, facts), thresholds, 1);
 */
export function learn(p: Profile, f: EventFacts, t: AnalyticsThresholds, hourWeight: number): void {
  const time = f.time;
  p.events += 1;
  if (time > p.lastSeen) p.lastSeen = time;
  if (time < p.firstSeen) p.firstSeen = time;
  if (f.day > p.lastDay) {
    p.activeDays += 1;
    p.lastDay = f.day;
  }
  bumpRate(p.errBase, time, t.errorBaselineMs, f.isError);
  rollWindow(p, time, t.errorWindowMs);
  p.winAll += 1;
  if (f.isError) p.winErr += 1;
  if (f.isAuthFailure) return;
  if (f.absHour !== p.lastHour) {
    addActiveHour(p, f, t.hourHalfLifeMs, hourWeight);
    p.lastHour = f.absHour;
  }
  if (f.addr !== undefined && f.block !== undefined) {
    touch(p.addrs, f.addr, time, t.maxAddresses);
    touch(p.blocks, f.block, time, t.maxBlocks);
  }
  if (f.table !== undefined) touch(p.tables, f.table, time, t.maxTables);
  if (f.rows > 0) p.volSum += f.rows;
}

/**
 * Counts the hour of week as active once per clock hour: the histogram describes when the user
 * works, not how chatty a source is (a statistics sampler would otherwise drown a login).
 * Decay without a sweep: later hours are added with a larger weight, 2^((t - ref) / half-life).
 */
function addActiveHour(p: Profile, f: EventFacts, halfLife: number, weight: number): void {
  let scale = Math.pow(2, (f.time - p.hourRef) / halfLife);
  if (scale > maxScale) {
    for (let i = 0; i < 168; i++) p.hours[i]! /= scale;
    p.hourTotal /= scale;
    p.hourRef = f.time;
    scale = 1;
  }
  const inc = weight * scale;
  p.hours[f.hourOfWeek]! += inc;
  p.hourTotal += inc;
}

/**
 * Closes the rows-per-hour bucket when a rows event opens a new clock hour: the finished hour's
 * total updates the EWMA mean and variance. Runs before the detectors, so the baseline includes
 * every finished hour but never the hour being judged. Idle hours are not zeros: the baseline is
 * rows per active hour.
 *
 * @example
 * if (facts.rows > 0) rollVolume(profile, facts, thresholds.volumeAlpha);
 */
export function rollVolume(p: Profile, f: EventFacts, alpha: number): void {
  if (f.absHour <= p.volHour) return;
  if (p.volHour >= 0 && p.volSum > 0) {
    const x = p.volSum;
    if (p.volHours === 0) {
      p.volMean = x;
      p.volVar = 0;
    } else {
      // A cumulative average for the first 1/alpha hours: an EWMA started on one sample is biased.
      const a = Math.max(alpha, 1 / (p.volHours + 1));
      const diff = x - p.volMean;
      const inc = a * diff;
      p.volMean += inc;
      p.volVar = (1 - a) * (p.volVar + diff * inc);
    }
    p.volHours += 1;
  }
  p.volHour = f.absHour;
  p.volSum = 0;
}

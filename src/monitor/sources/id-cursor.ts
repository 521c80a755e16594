/**
 * A read position over an identity column whose ids can commit out of order.
 *
 * Ids are handed out when a row is inserted, not when its transaction commits: a transaction
 * holding id 10 may commit after one holding id 11. A reader that only remembers "the highest id
 * read" would skip 10 for ever. So the cursor keeps `last` (the highest id delivered) and the
 * ranges of ids below it not seen yet (the gaps). Each pass reads the gaps again as well as what
 * lies above `last`; a gap row that shows up is delivered then (late, but once).
 *
 * Most gaps are never filled (a rolled-back insert, ids a sequence skipped after a crash), so a
 * gap is closed once no transaction can still fill it, judged by transaction ids:
 * 1. A gap seen in snapshot S1 belongs to a transaction running at S1, or to none. The one
 *    exception is an insert caught between taking its id and getting its transaction id (a few
 *    microseconds), so the cursor waits `graceMs` and takes the first snapshot S2 after that.
 * 2. Every transaction that could fill the gap then has an id below S2's xmax; once the oldest
 *    running transaction (a later snapshot's xmin) is at or past that xmax, they have all ended,
 *    and the gap is closed.
 * A gap still open after `maxAgeMs` (a transaction running longer, anywhere in the cluster, holds
 * xmin back) moves to the slow list: it is read again every `slowIntervalMs` only, for
 * `slowWindowMs`, and closed by the same rule. An attacker's transaction that sleeps past the gap
 * window is therefore still read when it commits (reported late). A slow range still open at the
 * end of its window, or pushed out by `maxSlowRanges`, is abandoned and reported, so the work and
 * the saved position stay bounded and a rule can alert on what may have been missed.
 */
import { ErrorCodes, PgwardenError } from '../../errors/index.js';

/** Ids below `last` not delivered yet. */
export interface IdGap {
  from: number;
  to: number;
  /** Monitor time when the gap was first seen (or loaded). */
  since: number;
  /** xmax of the first snapshot taken `graceMs` after `since`. */
  xmax?: bigint;
}

/** A gap past `maxAgeMs`, re-read on the slow schedule. */
export interface SlowRange extends IdGap {
  /** Monitor time when it entered the slow list (saved, so a restart keeps its window). */
  since: number;
  /** Monitor time of its next re-read. */
  due: number;
}

/** The bounds of the snapshot a pass read in, and when it was taken. */
export interface SnapshotBounds {
  xmin: bigint;
  xmax: bigint;
  at: number;
}

/** How long gaps are kept open. */
export interface GapPolicy {
  /** Wait before trusting transaction ids for a gap (default 1 000 ms). */
  graceMs: number;
  /** Move a gap to the slow list after this long (default 10 minutes). */
  maxAgeMs: number;
  /** Move the oldest gaps to the slow list beyond this many ranges (default 10 000). */
  maxRanges: number;
  /** Re-read a slow range this often (default 1 minute). */
  slowIntervalMs: number;
  /** Abandon a slow range after this long on the slow list (default 24 hours). */
  slowWindowMs: number;
  /** Abandon the oldest slow ranges beyond this many (default 1 000). */
  maxSlowRanges: number;
}

/** The JSON a source saves: `{ last, gaps: [[from, to], …], slow?: [[from, to, since], …] }`. */
export interface IdCursorPosition {
  last: number;
  gaps: Array<[number, number]>;
  /** Absent while the slow list is empty (the shape older versions saved). */
  slow?: Array<[number, number, number]>;
}

/** What one {@link IdCursor.advance} did besides moving the position. */
export interface AdvanceResult {
  /** Gaps moved to the slow list (too old or too many). */
  expired: IdGap[];
  /** Slow ranges given up: rows a transaction still commits there are never read. */
  abandoned: SlowRange[];
  /** Ids delivered from the slow list (their transaction committed after the gap window). */
  late: number[];
}

/**
 * Defaults of {@link GapPolicy}.
 *
 * @example
 * const policy: GapPolicy = { ...defaultGapPolicy, maxAgeMs: 3_600_000 };
 */
export const defaultGapPolicy: GapPolicy = {
  graceMs: 1_000,
  maxAgeMs: 600_000,
  maxRanges: 10_000,
  slowIntervalMs: 60_000,
  slowWindowMs: 86_400_000,
  maxSlowRanges: 1_000,
};

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
/** `[from, to]` below `last`, or `[from, to, since]` with `withSince`. */
const isRange = (g: unknown, last: number, withSince: boolean): g is number[] =>
  Array.isArray(g) &&
  g.length === (withSince ? 3 : 2) &&
  isId(g[0]) &&
  isId(g[1]) &&
  g[0] <= g[1] &&
  g[1] < last &&
  (!withSince || Number.isFinite(g[2]));

/**
 * The position of one id-ordered source.
 *
 * @example
 * const cursor = IdCursor.fromPosition(await store.load('security-events'), Date.now()) ?? new IdCursor(0);
 * cursor.advance([11, 12], { xmin: 900n, xmax: 905n, at: Date.now() }, defaultGapPolicy);
 * await store.save('security-events', cursor.toPosition());
 */
export class IdCursor {
  last: number;
  gaps: IdGap[] = [];
  /** Gaps past `maxAgeMs`, oldest first. */
  slow: SlowRange[] = [];

  constructor(last: number) {
    this.last = last;
  }

  /**
   * The cursor saved as `position`, undefined when nothing was saved; PW603 when the saved value
   * is not a position (hand-edited or written by something else). Slow ranges are due at once.
   */
  static fromPosition(position: unknown, now: number): IdCursor | undefined {
    if (position === undefined || position === null) return undefined;
    const p = position as Partial<IdCursorPosition>;
    const last = isId(p.last) ? p.last : -1;
    const gaps: unknown[] | undefined = Array.isArray(p.gaps) ? p.gaps : undefined;
    const slow: unknown[] | undefined = p.slow === undefined ? [] : Array.isArray(p.slow) ? p.slow : undefined;
    const valid =
      last >= 0 &&
      gaps !== undefined &&
      slow !== undefined &&
      gaps.every((g) => isRange(g, last, false)) &&
      slow.every((g) => isRange(g, last, true));
    if (!valid) {
      throw new PgwardenError(ErrorCodes.MONITOR_SOURCE_FAILED, 'The saved read position of a source is not valid', {
        detail: `expected { last, gaps: [[from, to], …], slow?: [[from, to, since], …] }, got ${JSON.stringify(position).slice(0, 200)}`,
        hint: 'delete its row from monitor.source_positions to start again from the newest event',
      });
    }
    const cursor = new IdCursor(last);
    cursor.gaps = (gaps as Array<[number, number]>).map(([from, to]) => ({ from, to, since: now }));
    cursor.slow = (slow as Array<[number, number, number]>).map(([from, to, since]) => ({ from, to, since, due: now }));
    return cursor;
  }

  /** What to save. */
  toPosition(): IdCursorPosition {
    const position: IdCursorPosition = { last: this.last, gaps: this.gaps.map((g) => [g.from, g.to]) };
    if (this.slow.length > 0) position.slow = this.slow.map((r) => [r.from, r.to, r.since]);
    return position;
  }

  /** An independent copy (a pass advances a copy, installed once its rows were delivered). */
  clone(): IdCursor {
    const copy = new IdCursor(this.last);
    copy.gaps = this.gaps.map((g) => ({ ...g }));
    copy.slow = this.slow.map((r) => ({ ...r }));
    return copy;
  }

  /**
   * The ranges a pass at `at` reads, as two parallel arrays for `rows from (unnest($1),
   * unnest($2))`: every gap, and the slow ranges due.
   */
  gapBounds(at: number): { from: number[]; to: number[] } {
    const ranges = [...this.gaps, ...this.slow.filter((r) => r.due <= at)];
    return { from: ranges.map((g) => g.from), to: ranges.map((g) => g.to) };
  }

  /**
   * Records the ids a pass delivered (gap ids and new ones, any order) and closes the ranges no
   * transaction can fill any more. `readThrough` is the highest id the pass read completely
   * below `last` when its gap query hit the batch limit: ranges reaching past it were not read
   * whole, so nothing is decided about them this time.
   */
  advance(ids: readonly number[], snapshot: SnapshotBounds, policy: GapPolicy, readThrough = Infinity): AdvanceResult {
    const { at, xmin } = snapshot;
    const late: number[] = [];
    for (const id of [...ids].sort((a, b) => a - b)) {
      if (id > this.last) {
        if (id > this.last + 1) this.gaps.push({ from: this.last + 1, to: id - 1, since: at });
        this.last = id;
      } else if (fill(this.slow, id)) late.push(id);
      else fill(this.gaps, id);
    }
    const decided = (g: IdGap) => g.to <= readThrough;
    const ended = (g: IdGap) => g.xmax !== undefined && xmin >= g.xmax;

    // Only ranges read in this pass (due) may be closed or abandoned by it.
    const abandoned: SlowRange[] = [];
    this.slow = this.slow.filter((r) => {
      if (r.due > at || !decided(r)) return true;
      // Loaded after a restart: whatever could fill it is running now, below this xmax.
      r.xmax ??= snapshot.xmax;
      if (ended(r)) return false;
      if (at - r.since >= policy.slowWindowMs) {
        abandoned.push(r);
        return false;
      }
      r.due = at + policy.slowIntervalMs;
      return true;
    });

    const expired: IdGap[] = [];
    this.gaps = this.gaps.filter((gap) => {
      if (!decided(gap)) return true;
      if (gap.xmax === undefined && at - gap.since >= policy.graceMs) gap.xmax = snapshot.xmax;
      if (ended(gap)) return false;
      if (at - gap.since < policy.maxAgeMs) return true;
      expired.push(gap);
      return false;
    });
    if (this.gaps.length > policy.maxRanges) {
      expired.push(...this.gaps.splice(0, this.gaps.length - policy.maxRanges));
    }
    for (const gap of expired) this.slow.push({ ...gap, since: at, due: at + policy.slowIntervalMs });
    if (this.slow.length > policy.maxSlowRanges) {
      abandoned.push(...this.slow.splice(0, this.slow.length - policy.maxSlowRanges));
    }
    return { expired, abandoned, late };
  }
}

/** Removes one delivered id from the range holding it, splitting the range; false when none does. */
function fill<G extends IdGap>(ranges: G[], id: number): boolean {
  const i = ranges.findIndex((g) => g.from <= id && id <= g.to);
  const range = ranges[i];
  if (range === undefined) return false;
  const parts: G[] = [];
  if (range.from < id) parts.push({ ...range, to: id - 1 });
  if (id < range.to) parts.push({ ...range, from: id + 1 });
  ranges.splice(i, 1, ...parts);
  return true;
}

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
 * xmin back) is given up and reported (`gap-expired`), which bounds the work and the position's size.
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
  /** Give a gap up after this long (default 10 minutes). */
  maxAgeMs: number;
  /** Give the oldest gaps up beyond this many ranges (default 10 000). */
  maxRanges: number;
}

/** The JSON a source saves: `{ last, gaps: [[from, to], …] }`. */
export interface IdCursorPosition {
  last: number;
  gaps: Array<[number, number]>;
}

/**
 * Defaults of {@link GapPolicy}.
 *
 * @example
 * const policy: GapPolicy = { ...defaultGapPolicy, maxAgeMs: 3_600_000 };
 */
export const defaultGapPolicy: GapPolicy = { graceMs: 1_000, maxAgeMs: 600_000, maxRanges: 10_000 };

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

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

  constructor(last: number) {
    this.last = last;
  }

  /**
   * The cursor saved as `position`, undefined when nothing was saved; PW603 when the saved value
   * is not a position (hand-edited or written by something else).
   */
  static fromPosition(position: unknown, now: number): IdCursor | undefined {
    if (position === undefined || position === null) return undefined;
    const p = position as Partial<IdCursorPosition>;
    const gaps = Array.isArray(p.gaps) ? p.gaps : undefined;
    const valid =
      isId(p.last) &&
      gaps !== undefined &&
      gaps.every((g) => Array.isArray(g) && isId(g[0]) && isId(g[1]) && g[0] <= g[1] && g[1] < (p.last as number));
    if (!valid) {
      throw new PgwardenError(ErrorCodes.MONITOR_SOURCE_FAILED, 'The saved read position of a source is not valid', {
        detail: `expected { last, gaps: [[from, to], …] }, got ${JSON.stringify(position).slice(0, 200)}`,
        hint: 'delete its row from monitor.source_positions to start again from the newest event',
      });
    }
    const cursor = new IdCursor(p.last as number);
    cursor.gaps = (gaps as Array<[number, number]>).map(([from, to]) => ({ from, to, since: now }));
    return cursor;
  }

  /** What to save. */
  toPosition(): IdCursorPosition {
    return { last: this.last, gaps: this.gaps.map((g) => [g.from, g.to]) };
  }

  /** The gaps as two parallel arrays, for `rows from (unnest($1), unnest($2))`. */
  gapBounds(): { from: number[]; to: number[] } {
    return { from: this.gaps.map((g) => g.from), to: this.gaps.map((g) => g.to) };
  }

  /**
   * Records the ids a pass delivered (gap ids and new ones, any order) and closes the gaps no
   * transaction can fill any more. Returns the gaps given up (too old or too many).
   */
  advance(ids: readonly number[], snapshot: SnapshotBounds, policy: GapPolicy): IdGap[] {
    const sorted = [...ids].sort((a, b) => a - b);
    for (const id of sorted) {
      if (id <= this.last) this.#fill(id);
      else {
        if (id > this.last + 1) this.gaps.push({ from: this.last + 1, to: id - 1, since: snapshot.at });
        this.last = id;
      }
    }
    const expired: IdGap[] = [];
    this.gaps = this.gaps.filter((gap) => {
      if (snapshot.at - gap.since >= policy.maxAgeMs) {
        expired.push(gap);
        return false;
      }
      if (gap.xmax === undefined && snapshot.at - gap.since >= policy.graceMs) gap.xmax = snapshot.xmax;
      return gap.xmax === undefined || snapshot.xmin < gap.xmax;
    });
    if (this.gaps.length > policy.maxRanges) expired.push(...this.gaps.splice(0, this.gaps.length - policy.maxRanges));
    return expired;
  }

  /** Removes one delivered id from the gap holding it, splitting the range. */
  #fill(id: number): void {
    const i = this.gaps.findIndex((g) => g.from <= id && id <= g.to);
    const gap = this.gaps[i];
    if (gap === undefined) return;
    const parts: IdGap[] = [];
    if (gap.from < id) parts.push({ ...gap, to: id - 1 });
    if (id < gap.to) parts.push({ ...gap, from: id + 1 });
    this.gaps.splice(i, 1, ...parts);
  }
}

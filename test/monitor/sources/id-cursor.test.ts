import { describe, expect, it } from 'vitest';
import { PgwardenError } from '../../../src/errors/index.js';
import { defaultGapPolicy, type GapPolicy, IdCursor } from '../../../src/monitor/sources/id-cursor.js';

// The window logic of the read position, with an injected time: the gap window, the slow
// re-check list and its bounds. The sources' tests run the same logic against a real server.

const policy: GapPolicy = {
  ...defaultGapPolicy,
  graceMs: 100,
  maxAgeMs: 1_000,
  slowIntervalMs: 300,
  slowWindowMs: 3_000,
  maxSlowRanges: 3,
};
// A transaction (xid 50) stays open: xmin never passes the gaps' xmax.
const held = (at: number) => ({ xmin: 50n, xmax: 60n, at });

/** A cursor at 10 whose id 5 is a gap first seen at t=0. */
function withGap(): IdCursor {
  const cursor = new IdCursor(4);
  cursor.advance([6, 7, 8, 9, 10], held(0), policy);
  return cursor;
}

describe('IdCursor slow re-check list', () => {
  it('moves a gap to the slow list when it reaches the gap window, not 1 ms before', () => {
    const cursor = withGap();
    expect(cursor.advance([], held(999), policy).expired).toEqual([]);
    expect(cursor.gaps).toMatchObject([{ from: 5, to: 5 }]);
    const result = cursor.advance([], held(1_000), policy);
    expect(result.expired).toMatchObject([{ from: 5, to: 5 }]);
    expect(result.abandoned).toEqual([]);
    expect(cursor.gaps).toEqual([]);
    expect(cursor.slow).toMatchObject([{ from: 5, to: 5, since: 1_000, due: 1_300 }]);
  });

  it('re-reads a slow range only when it is due', () => {
    const cursor = withGap();
    cursor.advance([], held(1_000), policy);
    expect(cursor.gapBounds(1_299)).toEqual({ from: [], to: [] });
    expect(cursor.gapBounds(1_300)).toEqual({ from: [5], to: [5] });
    cursor.advance([], held(1_300), policy);
    expect(cursor.slow[0]!.due).toBe(1_600);
  });

  it('delivers a late id from the slow list once, reporting it late', () => {
    const cursor = withGap();
    cursor.advance([], held(1_000), policy);
    expect(cursor.advance([5], held(1_300), policy).late).toEqual([5]);
    expect(cursor.slow).toEqual([]);
    expect(cursor.advance([5], held(1_600), policy).late).toEqual([]);
  });

  it('abandons a slow range at the end of its window, not 1 ms before', () => {
    const cursor = withGap();
    cursor.advance([], held(1_000), policy);
    expect(cursor.advance([], held(3_999), policy).abandoned).toEqual([]);
    expect(cursor.slow).toHaveLength(1);
    // Not due at 4 000 (re-read at 3 999): a range is only given up after a last read.
    expect(cursor.advance([], held(4_000), policy).abandoned).toEqual([]);
    expect(cursor.advance([], held(4_299), policy).abandoned).toMatchObject([{ from: 5, to: 5 }]);
    expect(cursor.slow).toEqual([]);
  });

  it('closes a slow range silently once no transaction can fill it', () => {
    const cursor = withGap();
    cursor.advance([], held(1_000), policy);
    const result = cursor.advance([], { xmin: 60n, xmax: 70n, at: 1_300 }, policy);
    expect(result).toEqual({ expired: [], abandoned: [], late: [] });
    expect(cursor.slow).toEqual([]);
  });

  it('keeps at most maxSlowRanges ranges, abandoning the oldest', () => {
    const cursor = new IdCursor(0);
    // Ids 2, 4, 6, 8 never show up: four gaps, all past the window at once.
    cursor.advance([1, 3, 5, 7, 9], held(0), policy);
    const result = cursor.advance([], held(1_000), policy);
    expect(result.expired).toHaveLength(4);
    expect(result.abandoned).toMatchObject([{ from: 2, to: 2 }]);
    expect(cursor.slow.map((r) => r.from)).toEqual([4, 6, 8]);
  });

  it('decides nothing about a range its pass did not read to the end (a full batch)', () => {
    const cursor = new IdCursor(0);
    cursor.advance([21], held(0), policy); // gap 1–20
    cursor.advance([], held(200), policy); // past grace: xmax 60
    // The transaction ended, but the pass read only ids 1–10 of the gap.
    const ended = { xmin: 60n, xmax: 70n, at: 300 };
    cursor.advance([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], ended, policy, 10);
    expect(cursor.gaps).toMatchObject([{ from: 11, to: 20 }]);
    cursor.advance([11, 12, 13, 14, 15, 16, 17, 18, 19, 20], { ...ended, at: 301 }, policy);
    expect(cursor.gaps).toEqual([]);
  });
});

describe('IdCursor saved position', () => {
  it('saves and restores the slow list with its window start, due at once', () => {
    const cursor = withGap();
    cursor.advance([], held(1_000), policy);
    const position = cursor.toPosition();
    expect(position).toEqual({ last: 10, gaps: [], slow: [[5, 5, 1_000]] });
    const restored = IdCursor.fromPosition(JSON.parse(JSON.stringify(position)), 50_000)!;
    expect(restored.slow).toEqual([{ from: 5, to: 5, since: 1_000, due: 50_000 }]);
    expect(restored.gapBounds(50_000)).toEqual({ from: [5], to: [5] });
  });

  it('saves the shape of earlier versions while the slow list is empty, and reads it back', () => {
    expect(withGap().toPosition()).toEqual({ last: 10, gaps: [[5, 5]] });
    expect(IdCursor.fromPosition({ last: 10, gaps: [[5, 5]] }, 0)!.slow).toEqual([]);
  });

  it.each([
    ['a slow range above the position', { last: 10, gaps: [], slow: [[11, 12, 0]] }],
    ['a slow range without its start time', { last: 10, gaps: [], slow: [[1, 2]] }],
    ['a slow list that is not a list', { last: 10, gaps: [], slow: 'x' }],
  ])('refuses %s (PW603)', (_what, position) => {
    expect(() => IdCursor.fromPosition(position, 0)).toThrow(PgwardenError);
    expect(() => IdCursor.fromPosition(position, 0)).toThrow(expect.objectContaining({ code: 'PW603' }));
  });
});

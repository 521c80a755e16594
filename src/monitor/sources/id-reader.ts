/**
 * Reads an append-only table by id, in passes, with the position kept by {@link IdCursor}: the
 * security events and the audit trail both read this way. A pass reads, inside one
 * repeatable-read transaction (one snapshot), the snapshot's bounds, the rows that filled gaps
 * (slow ranges included when due) and the rows above the position; the caller delivers them with
 * the pass's monitor events and then commits the pass, which installs the advanced position and
 * saves it.
 *
 * The position is advanced on a copy while reading, not at commit: what the pass abandons or
 * delivers late must reach the handler in the same batch as the rows (`monitor.events_skipped`,
 * `monitor.events_late`), and a batch the handler refuses is read and decided again next time.
 */
import type pg from 'pg';
import type { PositionStore, UntimedEvent } from '../event.js';
import { timedQuery } from './db-session.js';
import { type AdvanceResult, defaultGapPolicy, type GapPolicy, IdCursor, type SnapshotBounds } from './id-cursor.js';
import type { SourceStateListener } from './source-state.js';

/** Options of {@link IdReader}. */
export interface IdReaderOptions {
  /** Key in the position store. */
  source: string;
  /** Schema-qualified table with a bigint `id`, aliased `n` in `columns`. */
  table: string;
  /** Select list over `n`; must include `n.id`. */
  columns: string;
  positions: PositionStore;
  batchSize: number;
  gaps?: Partial<GapPolicy> | undefined;
  clock: () => number;
  startAt: 'end' | 'beginning';
  queryTimeoutMs: number;
  onState: SourceStateListener;
  /** More columns for the snapshot query (e.g. the NOTIFY queue usage), read into `snapshot.extra`. */
  extraSnapshotColumns?: string;
}

/** What one pass read. */
export interface IdPass<R> {
  /** Gap rows and new rows, in id order. */
  rows: R[];
  snapshot: SnapshotBounds & { extra: Record<string, unknown> };
  /** A batch was full: read again at once. */
  more: boolean;
  /**
   * `monitor.events_skipped` (critical, one per abandoned range) and `monitor.events_late`
   * (warning, one per pass delivering rows from the slow list): deliver them with the rows.
   */
  monitorEvents: UntimedEvent[];
  /** The position once this pass is committed. */
  readonly next: IdCursor;
  /** What advancing to `next` decided. */
  readonly outcome: AdvanceResult;
}

/**
 * One id-ordered reader.
 *
 * @example
 * const reader = new IdReader<{ id: string }>({ source: 'x', table: 'logs.notification_log', columns: 'n.id', … });
 * const pass = await reader.read(client);
 * await deliver(pass.rows);
 * await reader.commit(pass);
 */
export class IdReader<R extends { id: string }> {
  readonly #o: IdReaderOptions;
  readonly #policy: GapPolicy;
  #cursor: IdCursor | undefined;
  #saved = '';

  constructor(options: IdReaderOptions) {
    this.#o = options;
    this.#policy = { ...defaultGapPolicy, ...options.gaps };
  }

  /** The position, once loaded. */
  get cursor(): IdCursor | undefined {
    return this.#cursor;
  }

  /** Reads the next pass (loading or initialising the position first). */
  async read(client: pg.Client): Promise<IdPass<R>> {
    const cursor = this.#cursor ?? (await this.#load(client));
    const { batchSize, table, columns, queryTimeoutMs: ms } = this.#o;
    const extra = this.#o.extraSnapshotColumns ? `, ${this.#o.extraSnapshotColumns}` : '';
    await timedQuery(client, 'begin isolation level repeatable read read only', [], ms);
    try {
      const snap = await timedQuery<Record<string, unknown> & { xmin: string; xmax: string }>(
        client,
        `select pg_catalog.pg_snapshot_xmin(s)::text as xmin, pg_catalog.pg_snapshot_xmax(s)::text as xmax${extra}
           from pg_catalog.pg_current_snapshot() as s`,
        [],
        ms,
      );
      const at = this.#o.clock();
      const { from, to } = cursor.gapBounds(at);
      const gapRows =
        from.length === 0
          ? []
          : (
              await timedQuery<R>(
                client,
                `select ${columns} from rows from (pg_catalog.unnest($1::int8[]), pg_catalog.unnest($2::int8[])) as g(lo, hi)
                   join ${table} n on n.id between g.lo and g.hi order by n.id limit $3`,
                [from, to, batchSize],
                ms,
              )
            ).rows;
      const newRows = (
        await timedQuery<R>(
          client,
          `select ${columns} from ${table} n where n.id > $1 order by n.id limit $2`,
          [cursor.last, batchSize],
          ms,
        )
      ).rows;
      await timedQuery(client, 'commit', [], ms);
      const { xmin, xmax, ...rest } = snap.rows[0]!;
      const rows = [...gapRows, ...newRows].sort((a, b) => Number(a.id) - Number(b.id));
      const snapshot = { xmin: BigInt(xmin), xmax: BigInt(xmax), at, extra: rest };
      // A full gap batch read the ranges only up to its last row; the rest is read next pass.
      const readThrough = gapRows.length === batchSize ? Number(gapRows[gapRows.length - 1]!.id) : Infinity;
      const next = cursor.clone();
      const outcome = next.advance(
        rows.map((r) => Number(r.id)),
        snapshot,
        this.#policy,
        readThrough,
      );
      return {
        rows,
        snapshot,
        more: gapRows.length === batchSize || newRows.length === batchSize,
        monitorEvents: gapEvents(this.#o.source, this.#o.table, outcome),
        next,
        outcome,
      };
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    }
  }

  /** Records a delivered pass: installs the advanced position and saves it when it changed. */
  async commit(pass: IdPass<R>): Promise<void> {
    this.#cursor = pass.next;
    const source = this.#o.source;
    for (const gap of pass.outcome.expired)
      this.#o.onState({ kind: 'gap-expired', source, from: gap.from, to: gap.to });
    for (const r of pass.outcome.abandoned) this.#o.onState({ kind: 'gap-abandoned', source, from: r.from, to: r.to });
    await this.#save(pass.next);
  }

  async #load(client: pg.Client): Promise<IdCursor> {
    const saved = IdCursor.fromPosition(await this.#o.positions.load(this.#o.source), this.#o.clock());
    let cursor = saved;
    if (!cursor) {
      let last = 0;
      if (this.#o.startAt === 'end') {
        const { rows } = await timedQuery<{ last: string }>(
          client,
          `select coalesce(pg_catalog.max(n.id), 0) as last from ${this.#o.table} n`,
          [],
          this.#o.queryTimeoutMs,
        );
        last = Number(rows[0]!.last);
      }
      cursor = new IdCursor(last);
    }
    this.#cursor = cursor;
    if (saved) this.#saved = JSON.stringify(saved.toPosition());
    else await this.#save(cursor);
    return cursor;
  }

  async #save(cursor: IdCursor): Promise<void> {
    const position = cursor.toPosition();
    const text = JSON.stringify(position);
    if (text === this.#saved) return;
    await this.#o.positions.save(this.#o.source, position);
    this.#saved = text;
  }
}

/**
 * The monitor events of one pass's outcome: `monitor.events_skipped` per abandoned range and
 * `monitor.events_late` when rows came from the slow list. Their ids are stable (a range is
 * abandoned once; the late ids are delivered once), so a batch offered again repeats the ids.
 *
 * @example
 * gapEvents('security-events', 'logs.notification_log', { expired: [], late: [], abandoned: [{ from: 7, to: 7, since: 0, due: 0 }] });
 * // [{ type: 'monitor.events_skipped', severity: 'critical', fields: { source: 'security-events', from: 7, to: 7 }, … }]
 */
export function gapEvents(source: string, table: string, outcome: AdvanceResult): UntimedEvent[] {
  const ids = (from: number, to: number) => (from === to ? `id ${from}` : `ids ${from}-${to}`);
  const events: UntimedEvent[] = outcome.abandoned.map(({ from, to }) => ({
    id: `monitor:events_skipped:${source}:${from}-${to}`,
    source: 'monitor',
    type: 'monitor.events_skipped',
    severity: 'critical',
    fields: { source, from, to },
    message: `${source}: ${ids(from, to)} of ${table} given up unread after the slow re-check window; a long-open transaction holding them may still commit rows the monitor will never read`,
  }));
  if (outcome.late.length > 0) {
    // advance() records them in id order.
    const from = outcome.late[0]!;
    const to = outcome.late[outcome.late.length - 1]!;
    const rows = outcome.late.length;
    events.push({
      id: `monitor:events_late:${source}:${from}-${to}`,
      source: 'monitor',
      type: 'monitor.events_late',
      severity: 'warning',
      fields: { source, from, to, rows },
      message: `${source}: ${rows} row${rows === 1 ? '' : 's'} of ${table} (${ids(from, to)}) committed after the gap window by a long-open transaction; delivered late`,
    });
  }
  return events;
}

/**
 * Reads an append-only table by id, in passes, with the position kept by {@link IdCursor}: the
 * security events and the audit trail both read this way. A pass reads, inside one
 * repeatable-read transaction (one snapshot), the snapshot's bounds, the rows that filled gaps
 * and the rows above the position; the caller delivers them and then commits the pass, which
 * advances and saves the position.
 */
import type pg from 'pg';
import type { PositionStore } from '../event.js';
import { timedQuery } from './db-session.js';
import { defaultGapPolicy, type GapPolicy, IdCursor, type SnapshotBounds } from './id-cursor.js';
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
      const { from, to } = cursor.gapBounds();
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
      return {
        rows: [...gapRows, ...newRows].sort((a, b) => Number(a.id) - Number(b.id)),
        snapshot: { xmin: BigInt(xmin), xmax: BigInt(xmax), at, extra: rest },
        more: gapRows.length === batchSize || newRows.length === batchSize,
      };
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    }
  }

  /** Records a delivered pass: advances the position and saves it when it changed. */
  async commit(pass: IdPass<R>): Promise<void> {
    const cursor = this.#cursor!;
    const expired = cursor.advance(
      pass.rows.map((r) => Number(r.id)),
      pass.snapshot,
      this.#policy,
    );
    for (const gap of expired)
      this.#o.onState({ kind: 'gap-expired', source: this.#o.source, from: gap.from, to: gap.to });
    await this.#save(cursor);
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

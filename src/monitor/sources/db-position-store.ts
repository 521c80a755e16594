/**
 * The monitor's PositionStore in production: one row per source in monitor.source_positions,
 * so a restarted monitor resumes where each source stopped.
 */
import type pg from 'pg';
import { wrapPgError } from '../../db/pg-errors.js';
import type { PositionStore } from '../event.js';

/** Anything that runs a query: a pg.Pool (recommended: it replaces broken connections) or a pg.Client. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * Positions in monitor.source_positions (upserted; the role needs select, insert and update
 * there, which security_admin has).
 *
 * @example
 * const positions = new DbPositionStore(pool);
 * await positions.save('security-events', { last: 4711, gaps: [] });
 * await positions.load('security-events'); // { last: 4711, gaps: [] }
 */
export class DbPositionStore implements PositionStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  async load(source: string): Promise<unknown> {
    try {
      const { rows } = await this.#db.query<{ position: unknown }>(
        'select p.position from monitor.source_positions p where p.source = $1',
        [source],
      );
      return rows[0]?.position;
    } catch (err) {
      throw wrapPgError(err, `loading the position of source ${source}`);
    }
  }

  async save(source: string, position: unknown): Promise<void> {
    try {
      await this.#db.query(
        `insert into monitor.source_positions as p (source, position, updated_at)
         values ($1, $2::jsonb, pg_catalog.clock_timestamp())
         on conflict (source) do update set position = excluded.position, updated_at = excluded.updated_at`,
        [source, JSON.stringify(position ?? null)],
      );
    } catch (err) {
      throw wrapPgError(err, `saving the position of source ${source}`);
    }
  }
}

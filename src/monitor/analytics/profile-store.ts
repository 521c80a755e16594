import type pg from 'pg';
import { wrapPgError } from '../../db/index.js';
import type { ProfileJSON } from './profile.js';
import type { RiskReason } from './risk.js';

/** Anything that runs one parameterised statement: a `pg.Pool`, a `pg.Client` or a pool client. */
export interface ProfileQueryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/** One row of monitor.user_profiles. */
export interface ProfileRow {
  principal: string;
  profile: ProfileJSON;
  /** 0–100 at the time it was written. */
  riskScore: number;
  riskReasons: RiskReason[];
}

/** A row as read back: the stored JSON is not trusted to be a valid profile until parsed. */
export interface StoredProfileRow {
  principal: string;
  profile: unknown;
  riskScore: number;
  riskReasons: unknown;
  updatedAt: Date;
}

const upsert = `
insert into monitor.user_profiles as p (principal, profile, risk_score, risk_reasons, updated_at)
select r.principal, r.profile, r.risk_score, r.risk_reasons, pg_catalog.clock_timestamp()
  from pg_catalog.jsonb_to_recordset($1::jsonb)
       as r(principal text, profile jsonb, risk_score integer, risk_reasons jsonb)
on conflict (principal) do update
   set profile = excluded.profile, risk_score = excluded.risk_score,
       risk_reasons = excluded.risk_reasons, updated_at = excluded.updated_at`;

const columns = 'principal, profile, risk_score, risk_reasons, updated_at';

/**
 * Persists behaviour profiles in monitor.user_profiles, so a restart keeps what was learned. Every
 * write is one statement (an upsert over a JSON array of rows); the caller batches. Needs a role
 * with select, insert and update on the table (pgwarden's security_admin has them).
 *
 * @example
 * const store = new ProfileStore(pool);
 * await store.save([{ principal: 'alice', profile, riskScore: 12, riskReasons: [] }]);
 * const { rows, complete } = await store.loadRecent(10_000);
 */
export class ProfileStore {
  /** Rows per statement the analytics hands to `save` (bounds a statement's size). */
  readonly batchSize: number;

  constructor(
    private readonly db: ProfileQueryable,
    options: { batchSize?: number } = {},
  ) {
    this.batchSize = Math.max(1, Math.floor(options.batchSize ?? 500));
  }

  /** Inserts or replaces `rows` in one statement. Resolves to the number of rows written. */
  async save(rows: readonly ProfileRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    const payload = rows.map((r) => ({
      principal: r.principal,
      profile: r.profile,
      risk_score: Math.max(0, Math.min(100, Math.round(r.riskScore))),
      risk_reasons: r.riskReasons,
    }));
    const result = await this.run(upsert, [JSON.stringify(payload)], 'saving behaviour profiles');
    return result.rowCount ?? rows.length;
  }

  /**
   * The `limit` most recently updated profiles; `complete` is true when the table holds no more
   * (then a principal absent from memory is new, and needs no lookup).
   */
  async loadRecent(limit: number): Promise<{ rows: StoredProfileRow[]; complete: boolean }> {
    const result = await this.run(
      `select ${columns} from monitor.user_profiles order by updated_at desc, principal limit $1`,
      [limit + 1],
      'loading behaviour profiles',
    );
    const rows = result.rows.slice(0, limit).map(toStored);
    return { rows, complete: result.rows.length <= limit };
  }

  /** The stored profiles of these principals (absent ones are simply missing from the answer). */
  async fetch(principals: readonly string[]): Promise<StoredProfileRow[]> {
    if (principals.length === 0) return [];
    const result = await this.run(
      `select ${columns} from monitor.user_profiles where principal = any($1::text[])`,
      [principals],
      'reading behaviour profiles',
    );
    return result.rows.map(toStored);
  }

  /** The stored risk of one principal, for the dashboard of a user not in any monitor's memory. */
  async get(principal: string): Promise<StoredProfileRow | undefined> {
    return (await this.fetch([principal]))[0];
  }

  private async run(text: string, values: unknown[], what: string): Promise<pg.QueryResult> {
    try {
      return await this.db.query(text, values);
    } catch (err) {
      throw wrapPgError(err, what);
    }
  }
}

function toStored(r: pg.QueryResultRow): StoredProfileRow {
  return {
    principal: String(r.principal),
    profile: r.profile as unknown,
    riskScore: Number(r.risk_score),
    riskReasons: r.risk_reasons as unknown,
    updatedAt: r.updated_at as Date,
  };
}

import type pg from 'pg';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';

/**
 * A silence (monitor.silences): alerts of `ruleId` (every rule when null) whose group values
 * include all of `matchers` are stored and counted between `startsAt` and `endsAt`, but not sent.
 *
 * @example
 * const s: SilenceRecord = await store.silence({ matchers: { addr: '10.0.0.5' }, endsAt, reason: 'pentest', createdBy: 'ops' });
 */
export interface SilenceRecord {
  id: string;
  ruleId: string | null;
  matchers: Record<string, string>;
  startsAt: Date;
  endsAt: Date;
  reason: string;
  createdBy: string;
  createdAt: Date;
}

/** What {@link insertSilence} takes. */
export interface SilenceInput {
  /** Only alerts of this rule; absent = every rule. */
  ruleId?: string;
  /** Group values that must all match; `{}` matches every group. */
  matchers: Record<string, string>;
  /** Default: now (the store's clock). */
  startsAt?: Date;
  endsAt: Date;
  reason: string;
  createdBy: string;
}

function invalid(message: string): PgwardenError {
  return new PgwardenError(ErrorCodes.USAGE, message, {
    hint: 'a silence takes string matchers, an end after its start, a reason (1-500 characters) and who created it',
  });
}

const toSilence = (r: Record<string, unknown>): SilenceRecord => ({
  id: String(r.id),
  ruleId: (r.rule_id as string | null) ?? null,
  matchers: r.matchers as Record<string, string>,
  startsAt: new Date(r.starts_at as Date),
  endsAt: new Date(r.ends_at as Date),
  reason: String(r.reason),
  createdBy: String(r.created_by),
  createdAt: new Date(r.created_at as Date),
});

/**
 * Validates and stores a silence.
 *
 * @example
 * await insertSilence(client, { matchers: { user: 'scanner' }, endsAt, reason: 'vulnerability scan', createdBy: 'ops' }, new Date());
 */
export async function insertSilence(client: pg.ClientBase, input: SilenceInput, now: Date): Promise<SilenceRecord> {
  const matchers = input.matchers ?? {};
  if (typeof matchers !== 'object' || Array.isArray(matchers)) throw invalid('silence matchers must be an object');
  for (const [k, v] of Object.entries(matchers)) {
    if (typeof v !== 'string') throw invalid(`silence matcher ${JSON.stringify(k)} must be a string`);
  }
  const startsAt = input.startsAt ?? now;
  if (!(input.endsAt instanceof Date) || Number.isNaN(input.endsAt.getTime()) || input.endsAt <= startsAt) {
    throw invalid('a silence must end after it starts');
  }
  if (!input.reason || input.reason.length > 500) throw invalid('a silence needs a reason of 1-500 characters');
  if (!input.createdBy || input.createdBy.length > 200)
    throw invalid('a silence needs who created it (1-200 characters)');
  const { rows } = await client.query(
    `insert into monitor.silences (rule_id, matchers, starts_at, ends_at, reason, created_by)
     values ($1, $2::jsonb, $3, $4, $5, $6) returning *`,
    [input.ruleId ?? null, JSON.stringify(matchers), startsAt, input.endsAt, input.reason, input.createdBy],
  );
  return toSilence(rows[0]!);
}

/**
 * The id of a silence covering an alert of `ruleId` with `group` at `now`, or null.
 *
 * @example
 * const silenceId = await matchingSilence(client, 'pg-brute-force', { addr: '10.0.0.5' }, new Date());
 */
export async function matchingSilence(
  client: pg.ClientBase,
  ruleId: string,
  group: Readonly<Record<string, string>>,
  now: Date,
): Promise<string | null> {
  const { rows } = await client.query<{ id: string }>(
    `select s.id from monitor.silences s
     where (s.rule_id is null or s.rule_id = $1) and s.matchers operator(pg_catalog.<@) $2::jsonb
       and s.starts_at <= $3 and s.ends_at > $3
     order by s.id limit 1`,
    [ruleId, JSON.stringify(group), now],
  );
  return rows[0]?.id ?? null;
}

/**
 * Silences that have not ended at `now`, newest first.
 *
 * @example
 * const active = await currentSilences(client, new Date());
 */
export async function currentSilences(client: pg.ClientBase, now: Date): Promise<SilenceRecord[]> {
  const { rows } = await client.query('select * from monitor.silences where ends_at > $1 order by id desc limit 1000', [
    now,
  ]);
  return rows.map(toSilence);
}

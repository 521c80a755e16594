/**
 * One look at the heartbeats: is the watched monitor beating, and is it making progress? Reads
 * monitor.heartbeats (the beat's age by the database's clock, and the progress the beat carries)
 * and, for a beating monitor whose security-event position has not moved for `stallSeconds`,
 * the events waiting above that position in logs.notification_log. Stateless: the loop and
 * `--once` both build on it.
 */
import type pg from 'pg';
import type { PgwardenError } from '../../errors/index.js';
import type { ProgressRecord, SourceProgressRecord } from '../heartbeat.js';
import { timedQuery } from '../sources/db-session.js';
import type { StaleReason, StallFacts } from './verdict.js';

/** The source whose progress is compared with the database (its position is a notification_log id). */
export const WATCHED_SOURCE = 'security-events';

/** What {@link inspectHeartbeats} needs. */
export interface InspectOptions {
  /** One monitor, or null: the monitor counts as up while any instance beats and progresses. */
  instance: string | null;
  maxAgeSeconds: number;
  stallSeconds: number;
  /** Deadline of each query. */
  timeoutMs: number;
}

/** The outcome of one look. */
export type Inspection =
  | {
      ok: true;
      ageSeconds: number;
      /** The freshest beat (epoch seconds, database clock). */
      beatAt: number;
      /** The watchdog's login may not read logs.notification_log: stalls cannot be seen. */
      stallCheckDenied: boolean;
    }
  | {
      ok: false;
      reason: Exclude<StaleReason, 'database-unreachable' | 'check-failed'>;
      ageSeconds: number | null;
      beatAt: number | null;
      stall?: StallFacts;
      /** For 'stalled': which waiting events were seen, so a second look can confirm the same stall. */
      stallKey?: string;
    };

interface HeartbeatRow {
  instance: string;
  beat_at: number;
  age: number;
  progress: unknown;
}

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * The progress a beat carries, or undefined when it carries none (an older monitor, a heartbeat
 * without a progress callback) or something malformed: `details` is whatever the writer stored.
 *
 * @example
 * readProgress({ at: 1, events: 0, eventsAt: 1, sources: {} }); // the record
 * readProgress('nonsense'); // undefined
 */
export function readProgress(value: unknown): ProgressRecord | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (!num(v.at) || !num(v.events) || typeof v.sources !== 'object' || v.sources === null) return undefined;
  const sources: Record<string, SourceProgressRecord> = {};
  for (const [name, raw] of Object.entries(v.sources as Record<string, unknown>)) {
    if (typeof raw !== 'object' || raw === null) continue;
    const s = raw as Record<string, unknown>;
    const record: SourceProgressRecord = {};
    if (typeof s.state === 'string') record.state = s.state.slice(0, 40);
    if (typeof s.up === 'boolean') record.up = s.up;
    if (num(s.position)) record.position = s.position;
    if (num(s.positionAt)) record.positionAt = s.positionAt;
    if (num(s.lagSeconds)) record.lagSeconds = s.lagSeconds;
    sources[name] = record;
  }
  return { at: v.at, events: v.events, eventsAt: num(v.eventsAt) ? v.eventsAt : v.at, sources };
}

/**
 * Looks once. Rejects only when a query fails (the caller tells an unreachable database from a
 * failed read).
 *
 * @example
 * const seen = await inspectHeartbeats(client, { instance: 'db1', maxAgeSeconds: 30, stallSeconds: 60, timeoutMs: 5_000 });
 * if (!seen.ok) console.log(seen.reason); // 'heartbeat-stale', 'never-beat' or 'stalled'
 */
export async function inspectHeartbeats(client: pg.Client, options: InspectOptions): Promise<Inspection> {
  // The freshest first; a fleet of restarted monitors leaves old rows, which only the freshest
  // few can outweigh.
  const { rows } = await timedQuery<HeartbeatRow>(
    client,
    `select h.instance,
            extract(epoch from h.beat_at)::double precision as beat_at,
            extract(epoch from pg_catalog.clock_timestamp() - h.beat_at)::double precision as age,
            h.details -> 'progress' as progress
       from monitor.heartbeats h
      where $1::text is null or h.instance = $1::text
      order by h.beat_at desc
      limit 50`,
    [options.instance],
    options.timeoutMs,
  );
  const freshest = rows[0];
  if (!freshest) return { ok: false, reason: 'never-beat', ageSeconds: null, beatAt: null };
  if (freshest.age > options.maxAgeSeconds)
    return { ok: false, reason: 'heartbeat-stale', ageSeconds: freshest.age, beatAt: freshest.beat_at };
  const stalls: StallFacts[] = [];
  let denied = false;
  for (const row of rows.filter((r) => r.age <= options.maxAgeSeconds)) {
    const seen = await stallOf(client, row, options);
    if (seen === 'denied') denied = true;
    if (seen === undefined || seen === 'denied')
      return { ok: true, ageSeconds: freshest.age, beatAt: freshest.beat_at, stallCheckDenied: denied };
    stalls.push(seen);
  }
  return {
    ok: false,
    reason: 'stalled',
    ageSeconds: freshest.age,
    beatAt: freshest.beat_at,
    stall: stalls[0]!,
    stallKey: stalls.map((s) => `${s.instance}@${s.oldestPendingId}`).join(','),
  };
}

/** The stall of one beating monitor, undefined when it progresses or has nothing to do. */
async function stallOf(
  client: pg.Client,
  row: HeartbeatRow,
  options: InspectOptions,
): Promise<StallFacts | 'denied' | undefined> {
  const progress = readProgress(row.progress);
  const source = progress?.sources[WATCHED_SOURCE];
  if (!progress || source?.position === undefined) return undefined;
  // Both times are the monitor's clock, so their difference is sound; the beat's age (the
  // database's clock) carries it to now.
  const idleSeconds = Math.max(0, (progress.at - (source.positionAt ?? progress.at)) / 1000) + Math.max(0, row.age);
  if (idleSeconds <= options.stallSeconds) return undefined;
  let pending: { id: string; age: number; pending: string } | undefined;
  try {
    ({
      rows: [pending],
    } = await timedQuery<{ id: string; age: number; pending: string }>(
      client,
      `select n.id::text as id,
              extract(epoch from pg_catalog.clock_timestamp() - n.occurred_at)::double precision as age,
              (select pg_catalog.count(*) from (select 1 from logs.notification_log m
                 where m.id > $1::bigint limit 10000) w)::text as pending
         from logs.notification_log n
        where n.id > $1::bigint
        order by n.id
        limit 1`,
      [source.position],
      options.timeoutMs,
    ));
  } catch (err) {
    if ((err as PgwardenError).sqlState === '42501') return 'denied';
    throw err;
  }
  // Nothing waits (an idle system), or the waiting events are younger than the limit.
  if (!pending || pending.age <= options.stallSeconds) return undefined;
  const facts: StallFacts = {
    instance: row.instance,
    source: WATCHED_SOURCE,
    position: source.position,
    oldestPendingId: Number(pending.id),
    pendingEvents: Number(pending.pending),
    oldestPendingSeconds: pending.age,
    idleSeconds,
  };
  if (source.state !== undefined) facts.sourceState = source.state;
  return facts;
}

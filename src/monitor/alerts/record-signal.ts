import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import type { AlertSignal } from '../alert-signal.js';
import { type AlertPayloadOptions, buildAlertPayload } from './alert-payload.js';
import { type AlertRecord, type DeliveryAction, toAlertRecord } from './alert-record.js';
import { redactText, redactValue } from './redact.js';
import { matchingSilence } from './silences.js';

/** Most evidence ids an alert keeps: the first ones, where the incident started. */
export const MAX_EVIDENCE = 200;

/**
 * What `AlertStore.record` did with a signal.
 *
 * @example
 * const r: RecordResult = await store.record(signal, ['ops-webhook']);
 * if (r.created && !r.silenced) console.log(`alert ${r.alert.id} sent to ${r.deliveryIds.length} sinks`);
 */
export interface RecordResult {
  alert: AlertRecord;
  /** A new alert was opened (else the signal merged into the live one). */
  created: boolean;
  /** A silence covers the alert: stored and counted, not sent. */
  silenced: boolean;
  /** What was queued for the sinks, or null (suppressed, silenced or no sink). */
  action: DeliveryAction | null;
  /** Ids of the monitor.deliveries rows queued. */
  deliveryIds: string[];
}

/** What {@link recordSignal} needs besides the signal. */
export interface RecordContext extends AlertPayloadOptions {
  now: number;
  sinks: readonly string[];
}

/**
 * The signal with every free-text value redacted before it is stored (M-12), and clipped to the
 * table's limits. A dedupe key too long for the column keeps its start and gains a hash of the
 * whole, so two incidents never share a key.
 *
 * @example
 * cleanSignal({ ...signal, summary: 'password=x' }).summary; // 'password=***'
 */
export function cleanSignal(signal: AlertSignal): AlertSignal {
  const key = redactText(signal.dedupeKey);
  return {
    ...signal,
    rule: { ...signal.rule, title: redactText(signal.rule.title).slice(0, 300) || signal.rule.id },
    dedupeKey: key.length <= 500 ? key : `${key.slice(0, 430)}#${createHash('sha256').update(key).digest('hex')}`,
    group: redactValue({ ...signal.group }),
    summary: redactText(signal.summary).slice(0, 4000),
    eventIds: signal.eventIds.map((e) => redactText(e, { opaque: false })),
    details: redactValue({ ...(signal.details ?? {}) }),
  };
}

const distinct = (ids: Iterable<string>) => [...new Set(ids)].slice(0, MAX_EVIDENCE);

async function selectLive(tx: pg.ClientBase, s: AlertSignal): Promise<AlertRecord | undefined> {
  const { rows } = await tx.query(
    `select * from monitor.alerts where rule_id = $1 and dedupe_key = $2 and status <> 'resolved' for update`,
    [s.rule.id, s.dedupeKey],
  );
  return rows[0] ? toAlertRecord(rows[0]) : undefined;
}

async function insertAlert(tx: pg.ClientBase, s: AlertSignal, silenced: boolean): Promise<AlertRecord | undefined> {
  // Two monitors may open the same incident at once: the partial unique index lets one win and
  // the other merges into it (the caller loops back to selectLive).
  const { rows } = await tx.query(
    `insert into monitor.alerts (rule_id, dedupe_key, title, severity, attack, occurrences, event_count,
       first_seen, last_seen, group_values, summary, evidence, details, silenced)
     values ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9::jsonb, $10, $11, $12::jsonb, $13)
     on conflict (rule_id, dedupe_key) where status <> 'resolved' do nothing
     returning *`,
    [
      s.rule.id,
      s.dedupeKey,
      s.rule.title,
      s.rule.severity,
      [...s.rule.attack],
      s.eventCount,
      new Date(Math.min(s.firstSeen, s.lastSeen)),
      new Date(s.lastSeen),
      JSON.stringify(s.group),
      s.summary,
      distinct(s.eventIds),
      JSON.stringify(s.details ?? {}),
      silenced,
    ],
  );
  return rows[0] ? toAlertRecord(rows[0]) : undefined;
}

async function mergeAlert(
  tx: pg.ClientBase,
  live: AlertRecord,
  s: AlertSignal,
  silenced: boolean,
): Promise<AlertRecord> {
  const { rows } = await tx.query(
    `update monitor.alerts set
       occurrences = occurrences + $2, event_count = event_count + $3,
       first_seen = least(first_seen, $4), last_seen = greatest(last_seen, $5),
       evidence = $6, summary = coalesce(nullif($7, ''), summary),
       details = details operator(pg_catalog.||) $8::jsonb,
       title = $9, severity = $10, attack = $11, silenced = $12
     where id = $1 returning *`,
    [
      live.id,
      s.kind === 'fire' ? 1 : 0,
      s.eventCount,
      new Date(Math.min(s.firstSeen, s.lastSeen)),
      new Date(s.lastSeen),
      distinct([...live.evidence, ...s.eventIds]),
      s.summary,
      JSON.stringify(s.details ?? {}),
      s.rule.title,
      s.rule.severity,
      [...s.rule.attack],
      silenced,
    ],
  );
  return toAlertRecord(rows[0]!);
}

/** Whether a live alert is due a notification: never sent, or sent before the suppression window. */
function decide(alert: AlertRecord, s: AlertSignal, now: number): DeliveryAction | null {
  if (alert.notifiedAt === null) return 'trigger';
  return now - alert.notifiedAt.getTime() >= s.rule.suppressSeconds * 1000 ? 'update' : null;
}

/**
 * Queues one delivery of `action` per sink, the payload fixed now (the outbox rows commit or roll
 * back with the alert).
 *
 * @example
 * const ids = await enqueueDeliveries(tx, alert, 'resolve', ['pagerduty'], { now: Date.now() });
 */
export async function enqueueDeliveries(
  tx: pg.ClientBase,
  alert: AlertRecord,
  action: DeliveryAction,
  sinks: readonly string[],
  options: AlertPayloadOptions & { now: number },
): Promise<string[]> {
  if (sinks.length === 0) return [];
  // Due at the store's now (the same clock the queue compares with), not the server's.
  const { rows } = await tx.query<{ id: string }>(
    `insert into monitor.deliveries (alert_id, sink, action, payload, next_attempt_at)
     select $1, s.sink, $2, $3::jsonb, $5 from pg_catalog.unnest($4::text[]) with ordinality as s (sink, n) order by s.n
     returning id`,
    [alert.id, action, JSON.stringify(buildAlertPayload(alert, options)), [...new Set(sinks)], new Date(options.now)],
  );
  return rows.map((r) => String(r.id));
}

/**
 * Records one (already cleaned) signal inside the caller's transaction: opens or merges the
 * alert, applies silences and the suppression window, and queues the deliveries. An 'update'
 * whose incident has no live alert (someone resolved it while the attack went on) opens a new
 * one, so events keep landing somewhere a person sees.
 *
 * @example
 * await withTransaction(client, (tx) => recordSignal(tx, cleanSignal(signal), { now: Date.now(), sinks: ['ops'] }));
 */
export async function recordSignal(tx: pg.ClientBase, s: AlertSignal, ctx: RecordContext): Promise<RecordResult> {
  const now = new Date(ctx.now);
  const silenced = (await matchingSilence(tx, s.rule.id, s.group, now)) !== null;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const live = await selectLive(tx, s);
    let alert = live ? await mergeAlert(tx, live, s, silenced) : await insertAlert(tx, s, silenced);
    if (!alert) continue; // lost the race to open it: merge into the winner's row
    const action = silenced || ctx.sinks.length === 0 ? null : decide(alert, s, ctx.now);
    if (action) {
      const { rows } = await tx.query('update monitor.alerts set notified_at = $2 where id = $1 returning *', [
        alert.id,
        now,
      ]);
      alert = toAlertRecord(rows[0]!);
    }
    const deliveryIds = action ? await enqueueDeliveries(tx, alert, action, ctx.sinks, ctx) : [];
    return { alert, created: !live, silenced, action, deliveryIds };
  }
  throw new PgwardenError(ErrorCodes.INTERNAL, `could not record alert ${s.dedupeKey}: it kept changing concurrently`, {
    hint: 'retry; this needs two monitors resolving and reopening the same incident at the same moment',
  });
}

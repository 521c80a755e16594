import type { AlertSeverity } from '../alert-signal.js';

/** Where an alert is in its lifecycle: open → acknowledged → resolved, never back. */
export type AlertStatus = 'open' | 'acknowledged' | 'resolved';

/**
 * What a delivery tells a sink: a new incident, a reminder with a grown counter, or a lifecycle
 * change.
 */
export type DeliveryAction = 'trigger' | 'update' | 'acknowledge' | 'resolve';

/**
 * One row of monitor.alerts. Ids are strings (bigint); times are Dates.
 *
 * @example
 * const alert: AlertRecord | undefined = await store.get('42');
 * if (alert?.status === 'open') console.log(alert.occurrences, alert.evidence);
 */
export interface AlertRecord {
  id: string;
  ruleId: string;
  dedupeKey: string;
  title: string;
  severity: AlertSeverity;
  attack: string[];
  status: AlertStatus;
  occurrences: number;
  eventCount: number;
  firstSeen: Date;
  lastSeen: Date;
  group: Record<string, string>;
  summary: string;
  evidence: string[];
  details: Record<string, unknown>;
  silenced: boolean;
  notifiedAt: Date | null;
  createdAt: Date;
  acknowledgedAt: Date | null;
  acknowledgedBy: string | null;
  resolvedAt: Date | null;
  resolvedBy: string | null;
}

/**
 * One lifecycle change of an alert (monitor.alert_changes).
 *
 * @example
 * const detail = await store.get('42');
 * detail?.changes.map((c) => `${c.actor}: ${c.oldStatus} → ${c.newStatus}`);
 */
export interface AlertChange {
  id: string;
  changedAt: Date;
  actor: string;
  oldStatus: AlertStatus | null;
  newStatus: AlertStatus;
  note: string | null;
}

/** A row of monitor.alerts as `pg` returns it. */
export type AlertRow = Record<string, unknown>;

const date = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(v as string | Date));

/**
 * Maps a monitor.alerts row to an AlertRecord.
 *
 * @example
 * const { rows } = await client.query('select * from monitor.alerts where id = $1', [id]);
 * const alert = toAlertRecord(rows[0]);
 */
export function toAlertRecord(row: AlertRow): AlertRecord {
  return {
    id: String(row.id),
    ruleId: String(row.rule_id),
    dedupeKey: String(row.dedupe_key),
    title: String(row.title),
    severity: row.severity as AlertSeverity,
    attack: (row.attack as string[] | null) ?? [],
    status: row.status as AlertStatus,
    occurrences: Number(row.occurrences),
    eventCount: Number(row.event_count),
    firstSeen: date(row.first_seen)!,
    lastSeen: date(row.last_seen)!,
    group: (row.group_values as Record<string, string> | null) ?? {},
    summary: String(row.summary ?? ''),
    evidence: (row.evidence as string[] | null) ?? [],
    details: (row.details as Record<string, unknown> | null) ?? {},
    silenced: row.silenced === true,
    notifiedAt: date(row.notified_at),
    createdAt: date(row.created_at)!,
    acknowledgedAt: date(row.acknowledged_at),
    acknowledgedBy: (row.acknowledged_by as string | null) ?? null,
    resolvedAt: date(row.resolved_at),
    resolvedBy: (row.resolved_by as string | null) ?? null,
  };
}

/**
 * Maps a monitor.alert_changes row to an AlertChange.
 *
 * @example
 * const changes = rows.map(toAlertChange);
 */
export function toAlertChange(row: AlertRow): AlertChange {
  return {
    id: String(row.id),
    changedAt: date(row.changed_at)!,
    actor: String(row.actor),
    oldStatus: (row.old_status as AlertStatus | null) ?? null,
    newStatus: row.new_status as AlertStatus,
    note: (row.note as string | null) ?? null,
  };
}

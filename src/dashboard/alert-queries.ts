import type { AlertSeverity } from '../monitor/alert-signal.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { HttpError } from '../http/index.js';
import { type DashboardDb, iso, rows } from './db.js';
import { safeDetails, safeText } from './safe-details.js';

/** Where an alert is in its lifecycle. */
export type AlertStatus = 'open' | 'acknowledged' | 'resolved';

/** An alert as the dashboard lists it. Every text field is data: the page renders it as text. */
export interface AlertView {
  id: number;
  ruleId: string;
  title: string;
  severity: AlertSeverity;
  status: AlertStatus;
  attack: string[];
  occurrences: number;
  eventCount: number;
  firstSeen: string;
  lastSeen: string;
  summary: string;
  silenced: boolean;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  resolvedAt: string | null;
  resolvedBy: string | null;
}

/** One evidence id of an alert, resolved where the dashboard can. */
export type EvidenceView =
  | { id: string; kind: 'security-event'; event: SecurityEventView }
  /** a `sec:` id whose row is gone (retention) */
  | { id: string; kind: 'missing' }
  /** an id of another source (`log:…`, `audit:…`), listed as it is */
  | { id: string; kind: 'reference' };

/** A row of logs.notification_log, secrets masked (see safe-details.ts). */
export interface SecurityEventView {
  id: number;
  occurredAt: string;
  type: string;
  severity: string;
  actor: string | null;
  subject: string | null;
  tenant: string | null;
  addr: string | null;
  details: Record<string, unknown>;
}

/** An alert with its group, details, evidence and lifecycle history. */
export interface AlertDetail {
  alert: AlertView & { dedupeKey: string; groupValues: Record<string, unknown>; details: Record<string, unknown> };
  evidence: EvidenceView[];
  changes: Array<{
    changedAt: string;
    actor: string;
    oldStatus: string | null;
    newStatus: string;
    note: string | null;
  }>;
}

/** Filters of {@link listAlerts}. */
export interface AlertFilter {
  /** `active`: open or acknowledged (the working queue). */
  status?: AlertStatus | 'active';
  severity?: AlertSeverity;
  limit: number;
  /** Only alerts with a smaller id (the `nextBefore` of the previous page). */
  before?: number;
}

const columns = `a.id::text as id, a.rule_id, a.title, a.severity, a.status, a.attack, a.occurrences::text as occurrences,
  a.event_count::text as event_count, a.first_seen, a.last_seen, a.summary, a.silenced, a.acknowledged_at,
  a.acknowledged_by, a.resolved_at, a.resolved_by`;

type AlertRow = Record<string, unknown> & { id: string };

const toAlert = (r: AlertRow): AlertView => ({
  id: Number(r.id),
  ruleId: r.rule_id as string,
  title: r.title as string,
  severity: r.severity as AlertSeverity,
  status: r.status as AlertStatus,
  attack: r.attack as string[],
  occurrences: Number(r.occurrences),
  eventCount: Number(r.event_count),
  firstSeen: iso(r.first_seen as Date) as string,
  lastSeen: iso(r.last_seen as Date) as string,
  summary: r.summary as string,
  silenced: r.silenced as boolean,
  acknowledgedAt: iso(r.acknowledged_at as Date | null),
  acknowledgedBy: (r.acknowledged_by as string | null) ?? null,
  resolvedAt: iso(r.resolved_at as Date | null),
  resolvedBy: (r.resolved_by as string | null) ?? null,
});

/**
 * A page of alerts, newest first (by id), with the cursor of the next page.
 *
 * @example
 * const { alerts, nextBefore } = await listAlerts(pool, { status: 'open', limit: 50 });
 */
export async function listAlerts(
  db: DashboardDb,
  filter: AlertFilter,
): Promise<{ alerts: AlertView[]; nextBefore: number | null }> {
  const found = await rows<AlertRow>(
    db,
    `select ${columns} from monitor.alerts a
      where ($1::text is null or a.status = $1 or ($1 = 'active' and a.status <> 'resolved')) and ($2::text is null or a.severity = $2)
        and ($3::bigint is null or a.id < $3)
      order by a.id desc limit $4`,
    [filter.status ?? null, filter.severity ?? null, filter.before ?? null, filter.limit + 1],
  );
  const alerts = found.slice(0, filter.limit).map(toAlert);
  return { alerts, nextBefore: found.length > filter.limit ? (alerts.at(-1)?.id ?? null) : null };
}

/**
 * One alert with its evidence (`sec:<id>` resolved to logs.notification_log rows, other ids
 * listed as they are) and its change history; undefined when there is no such alert.
 *
 * @example
 * const detail = await alertDetail(pool, 42);
 */
export async function alertDetail(db: DashboardDb, id: number): Promise<AlertDetail | undefined> {
  const [row] = await rows<AlertRow>(
    db,
    `select ${columns}, a.dedupe_key, a.group_values, a.details, a.evidence from monitor.alerts a where a.id = $1`,
    [id],
  );
  if (!row) return undefined;
  const evidenceIds = row.evidence as string[];
  const secIds = evidenceIds.flatMap((e) => (/^sec:\d{1,18}$/.test(e) ? [e.slice(4)] : []));
  const [events, changes] = await Promise.all([
    secIds.length === 0
      ? Promise.resolve([])
      : rows<Record<string, unknown>>(
          db,
          `select n.id::text as id, n.occurred_at, n.event_type, n.severity, n.actor, n.subject, n.tenant,
                  pg_catalog.host(coalesce(n.source_addr, n.client_addr)) as addr, n.details
             from logs.notification_log n where n.id = any($1::bigint[])`,
          [secIds],
        ),
    rows<Record<string, unknown>>(
      db,
      `select c.changed_at, c.actor, c.old_status, c.new_status, c.note from monitor.alert_changes c
        where c.alert_id = $1 order by c.id`,
      [id],
    ),
  ]);
  const byId = new Map(events.map((e) => [`sec:${e.id as string}`, toEvent(e)]));
  return {
    alert: {
      ...toAlert(row),
      dedupeKey: row.dedupe_key as string,
      // The monitor redacts these when it records an alert; masked again for rows written otherwise.
      groupValues: safeDetails(row.group_values),
      details: safeDetails(row.details),
    },
    evidence: evidenceIds.map((e): EvidenceView => {
      const event = byId.get(e);
      if (event) return { id: e, kind: 'security-event', event };
      return { id: e, kind: e.startsWith('sec:') ? 'missing' : 'reference' };
    }),
    changes: changes.map((c) => ({
      changedAt: iso(c.changed_at as Date) as string,
      actor: c.actor as string,
      oldStatus: (c.old_status as string | null) ?? null,
      newStatus: c.new_status as string,
      note: (c.note as string | null) ?? null,
    })),
  };
}

/**
 * Moves an alert along its lifecycle the way the monitor does (AlertStore.setStatus), so the
 * sinks hear of it; without one the dashboard calls monitor.set_alert_status() itself.
 */
export type AlertStatusChanger = (
  id: string,
  status: 'acknowledged' | 'resolved',
  actor: string,
  note: string | null,
) => Promise<unknown>;

/**
 * Acknowledges or resolves an alert through monitor.set_alert_status (which records the change
 * and a security event). A move the lifecycle refuses is a 409 (PW600), an unknown alert a 404 (PW601).
 *
 * @example
 * await setAlertStatus(pool, 42, 'acknowledged', 'ada@example.com', 'looking into it');
 */
export async function setAlertStatus(
  db: DashboardDb,
  id: number,
  status: 'acknowledged' | 'resolved',
  actor: string,
  note: string | null,
  changeStatus?: AlertStatusChanger,
): Promise<AlertView> {
  try {
    if (changeStatus) {
      // The monitor's own path: it also tells the sinks that follow a lifecycle (PagerDuty, webhooks).
      await changeStatus(String(id), status, actor, note);
      const [row] = await rows<AlertRow>(db, `select ${columns} from monitor.alerts a where a.id = $1`, [id]);
      if (!row) throw new PgwardenError(ErrorCodes.MONITOR_ALERT_NOT_FOUND, `alert ${id} does not exist`);
      return toAlert(row);
    }
    const [row] = await rows<AlertRow>(db, `select ${columns} from monitor.set_alert_status($1, $2, $3, $4) a`, [
      id,
      status,
      actor,
      note,
    ]);
    if (!row) throw new PgwardenError(ErrorCodes.INTERNAL, `monitor.set_alert_status returned no row for alert ${id}`);
    return toAlert(row);
  } catch (err) {
    if (err instanceof PgwardenError && err.code === ErrorCodes.MONITOR_ALERT_TRANSITION)
      throw new HttpError(err.code, err.message, { status: 409, ...(err.hint ? { hint: err.hint } : {}) });
    if (err instanceof PgwardenError && err.code === ErrorCodes.MONITOR_ALERT_NOT_FOUND)
      throw new HttpError(err.code, err.message, { status: 404 });
    throw err;
  }
}

function toEvent(e: Record<string, unknown>): SecurityEventView {
  return {
    id: Number(e.id),
    occurredAt: iso(e.occurred_at as Date) as string,
    type: e.event_type as string,
    severity: e.severity as string,
    actor: safeText((e.actor as string | null) ?? null),
    subject: safeText((e.subject as string | null) ?? null),
    tenant: (e.tenant as string | null) ?? null,
    addr: (e.addr as string | null) ?? null,
    details: safeDetails(e.details),
  };
}

import type { AlertSeverity } from '../monitor/alert-signal.js';
import { type DashboardDb, iso, rows, tableExists } from './db.js';
import { type RiskUserView, riskUsers } from './timeline-queries.js';

/**
 * What the running monitor knows that the database does not: events received per minute (all
 * sources, not only logs.notification_log) and a few counters shown as tiles.
 *
 * @example
 * const liveStats = (): DashboardLiveStats => ({ eventsPerMinute: pipeline.perMinute(), counters: { 'events received': n } });
 */
export interface DashboardLiveStats {
  /** Events per minute, oldest first, `minute` the start of the minute in ms since the epoch (the last 60 are shown). */
  eventsPerMinute: ReadonlyArray<{ minute: number; count: number }>;
  /** Named counters (events received, rules loaded, deliveries pending …). */
  counters?: Readonly<Record<string, number>>;
}

/** The overview page's data, read in one go. */
export interface Overview {
  generatedAt: string;
  alerts: {
    bySeverity: Array<{ severity: AlertSeverity; open: number; acknowledged: number }>;
    open: number;
    acknowledged: number;
    resolvedLast24h: number;
  };
  eventsPerMinute: { source: 'live' | 'database'; points: Array<{ minute: string; count: number }> };
  counters: Record<string, number>;
  /** Null when the compliance module is not installed. */
  compliance: { latest: ScanPoint | null; trend: ScanPoint[] } | null;
  /** Null when the ledger module is not installed. */
  ledger: {
    status: 'verified' | 'tamper_detected' | 'never_verified';
    lastVerifiedAt: string | null;
    lastTamperAt: string | null;
  } | null;
  heartbeat: { ageSeconds: number | null; instances: Array<{ instance: string; beatAt: string; ageSeconds: number }> };
  topRiskUsers: RiskUserView[];
}

/** One saved compliance scan. */
export interface ScanPoint {
  startedAt: string;
  score: number;
  target: string;
}

const severities: readonly AlertSeverity[] = ['critical', 'high', 'medium', 'low'];

/**
 * Reads the overview: live alerts by severity and status, events per minute over the last hour
 * (from `liveStats` when the monitor runs in this process, else counted in logs.notification_log),
 * the compliance score and its trend, the ledger's last verification, the heartbeat's age and the
 * riskiest users. Times come from the database clock.
 *
 * @example
 * const overview = await readOverview(pool, () => pipeline.liveStats());
 */
export async function readOverview(db: DashboardDb, liveStats?: () => DashboardLiveStats): Promise<Overview> {
  const live = liveStats?.();
  const [alerts, events, compliance, ledger, heartbeat, topRiskUsers, now] = await Promise.all([
    alertCounts(db),
    live ? Promise.resolve(livePoints(live)) : databasePoints(db),
    complianceTrend(db),
    ledgerStatus(db),
    heartbeats(db),
    riskUsers(db, 5),
    rows<{ now: Date }>(db, 'select pg_catalog.clock_timestamp() as now', []),
  ]);
  return {
    generatedAt: iso(now[0]?.now) ?? new Date().toISOString(),
    alerts,
    eventsPerMinute: events,
    counters: { ...live?.counters },
    compliance,
    ledger,
    heartbeat,
    topRiskUsers,
  };
}

async function alertCounts(db: DashboardDb): Promise<Overview['alerts']> {
  const found = await rows<{ severity: AlertSeverity; status: string; n: number }>(
    db,
    `select a.severity, a.status, pg_catalog.count(*)::int as n from monitor.alerts a
      where a.status <> 'resolved' or a.resolved_at > pg_catalog.clock_timestamp() - interval '24 hours'
      group by a.severity, a.status`,
    [],
  );
  const count = (severity: AlertSeverity | undefined, status: string) =>
    found
      .filter((r) => (severity === undefined || r.severity === severity) && r.status === status)
      .reduce((sum, r) => sum + r.n, 0);
  return {
    bySeverity: severities.map((severity) => ({
      severity,
      open: count(severity, 'open'),
      acknowledged: count(severity, 'acknowledged'),
    })),
    open: count(undefined, 'open'),
    acknowledged: count(undefined, 'acknowledged'),
    resolvedLast24h: count(undefined, 'resolved'),
  };
}

function livePoints(live: DashboardLiveStats): Overview['eventsPerMinute'] {
  const points = live.eventsPerMinute.slice(-60).map((p) => ({
    minute: new Date(p.minute).toISOString(),
    count: Number.isFinite(p.count) ? p.count : 0,
  }));
  return { source: 'live', points };
}

async function databasePoints(db: DashboardDb): Promise<Overview['eventsPerMinute']> {
  const found = await rows<{ minute: Date; n: number }>(
    db,
    `with bounds as (select pg_catalog.date_trunc('minute', pg_catalog.clock_timestamp()) as last),
     counted as (
       select pg_catalog.date_trunc('minute', n.occurred_at) as minute, pg_catalog.count(*)::int as n
         from logs.notification_log n, bounds b
        where n.occurred_at >= b.last - interval '59 minutes'
        group by 1)
     select g.minute, coalesce(c.n, 0) as n
       from bounds b
       cross join lateral pg_catalog.generate_series(b.last - interval '59 minutes', b.last, interval '1 minute') as g(minute)
       left join counted c on c.minute = g.minute
      order by g.minute`,
    [],
  );
  return { source: 'database', points: found.map((r) => ({ minute: r.minute.toISOString(), count: r.n })) };
}

async function complianceTrend(db: DashboardDb): Promise<Overview['compliance']> {
  if (!(await tableExists(db, 'compliance.scan_runs'))) return null;
  const found = await rows<{ started_at: Date; score: number; target: string }>(
    db,
    `select r.started_at, r.score, r.target from (
       select s.started_at, s.score, s.target, s.id from compliance.scan_runs s order by s.started_at desc, s.id desc limit 30
     ) r order by r.started_at, r.id`,
    [],
  );
  const trend = found.map((r) => ({ startedAt: r.started_at.toISOString(), score: r.score, target: r.target }));
  return { latest: trend.at(-1) ?? null, trend };
}

async function ledgerStatus(db: DashboardDb): Promise<Overview['ledger']> {
  if (!(await tableExists(db, 'ledger.state'))) return null;
  const [r] = await rows<{ verified: Date | null; tamper: Date | null }>(
    db,
    `select (select pg_catalog.max(n.occurred_at) from logs.notification_log n where n.event_type = 'ledger.verified') as verified,
            (select pg_catalog.max(n.occurred_at) from logs.notification_log n where n.event_type = 'ledger.tamper_detected') as tamper`,
    [],
  );
  const verified = r?.verified ?? null;
  const tamper = r?.tamper ?? null;
  const status =
    tamper && (!verified || tamper >= verified) ? 'tamper_detected' : verified ? 'verified' : 'never_verified';
  return { status, lastVerifiedAt: iso(verified), lastTamperAt: iso(tamper) };
}

async function heartbeats(db: DashboardDb): Promise<Overview['heartbeat']> {
  const found = await rows<{ instance: string; beat_at: Date; age: number }>(
    db,
    `select h.instance, h.beat_at,
            extract(epoch from pg_catalog.clock_timestamp() - h.beat_at)::double precision as age
       from monitor.heartbeats h order by h.beat_at desc limit 20`,
    [],
  );
  const instances = found.map((h) => ({ instance: h.instance, beatAt: h.beat_at.toISOString(), ageSeconds: h.age }));
  return { ageSeconds: instances[0]?.ageSeconds ?? null, instances };
}

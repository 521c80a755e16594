import { type DashboardDb, iso, rows } from './db.js';
import { safeText } from './safe-details.js';

/** A principal's learned risk, with the reasons the analytics gave. */
export interface RiskUserView {
  principal: string;
  riskScore: number;
  reasons: unknown[];
  updatedAt: string;
}

/** One entry of the timeline: a security event or an alert, by time. */
export type TimelineItem =
  | {
      kind: 'event';
      id: string;
      time: string;
      type: string;
      severity: string;
      actor: string | null;
      subject: string | null;
      addr: string | null;
    }
  | { kind: 'alert'; id: number; time: string; title: string; severity: string; status: string; ruleId: string };

/** A page of the timeline, newest first. */
export interface TimelinePage {
  from: string;
  to: string;
  items: TimelineItem[];
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  next: string | null;
}

/**
 * Users by risk score, highest first.
 *
 * @example
 * const top = await riskUsers(pool, 10);
 */
export async function riskUsers(db: DashboardDb, limit: number): Promise<RiskUserView[]> {
  const found = await rows<{ principal: string; risk_score: number; risk_reasons: unknown[]; updated_at: Date }>(
    db,
    `select p.principal, p.risk_score, p.risk_reasons, p.updated_at from monitor.user_profiles p
      order by p.risk_score desc, p.updated_at desc, p.principal limit $1`,
    [limit],
  );
  return found.map((p) => ({
    principal: p.principal,
    riskScore: p.risk_score,
    reasons: p.risk_reasons,
    updatedAt: iso(p.updated_at) as string,
  }));
}

/** A decoded timeline cursor: the last item's time (µs since the epoch), kind and id. */
interface Cursor {
  micros: string;
  kind: 'a' | 'e';
  id: string;
}

/**
 * Parses a cursor made by {@link readTimeline}; undefined when it is not one.
 *
 * @example
 * parseCursor('1718000000000000.e.42'); // { micros: '1718000000000000', kind: 'e', id: '42' }
 */
export function parseCursor(text: string): Cursor | undefined {
  const m = /^(\d{1,17})\.([ae])\.(\d{1,18})$/.exec(text);
  return m ? { micros: m[1] as string, kind: m[2] as 'a' | 'e', id: m[3] as string } : undefined;
}

/**
 * Security events (logs.notification_log) and alerts (at their first sighting) between `from`
 * (inclusive) and `to` (exclusive), merged newest first, `limit` per page. Ties on time are
 * ordered by kind and id, so paging with the cursor neither skips nor repeats an item.
 *
 * @example
 * const page = await readTimeline(pool, { from: new Date(Date.now() - 3600_000), to: new Date(), limit: 100 });
 * const older = page.next ? await readTimeline(pool, { from, to, limit: 100, cursor: parseCursor(page.next) }) : undefined;
 */
export async function readTimeline(
  db: DashboardDb,
  q: { from: Date; to: Date; limit: number; cursor?: Cursor },
): Promise<TimelinePage> {
  const found = await rows<Record<string, unknown>>(
    db,
    `with c as (
       select timestamptz 'epoch' + $3::bigint * interval '1 microsecond' as t, $4::text as kind, $5::bigint as id)
     select x.* , (extract(epoch from x.t) * 1000000)::bigint::text as micros from (
       select 'e'::text as kind, n.id, n.occurred_at as t, n.event_type as type, n.severity, n.actor, n.subject,
              pg_catalog.host(coalesce(n.source_addr, n.client_addr)) as addr, null::text as status, null::text as rule_id
         from logs.notification_log n
        where n.occurred_at >= $1 and n.occurred_at < $2
       union all
       select 'a'::text, a.id, a.first_seen, a.title, a.severity, null, null, null, a.status, a.rule_id
         from monitor.alerts a
        where a.first_seen >= $1 and a.first_seen < $2
     ) x, c
     where c.id is null or (x.t, x.kind, x.id) < (c.t, c.kind, c.id)
     order by x.t desc, x.kind desc, x.id desc
     limit $6`,
    [q.from, q.to, q.cursor?.micros ?? null, q.cursor?.kind ?? null, q.cursor?.id ?? null, q.limit + 1],
  );
  const page = found.slice(0, q.limit);
  const last = page.at(-1);
  return {
    from: q.from.toISOString(),
    to: q.to.toISOString(),
    items: page.map(toItem),
    next:
      found.length > q.limit && last
        ? `${last.micros as string}.${last.kind as string}.${String(last.id as string | number)}`
        : null,
  };
}

function toItem(r: Record<string, unknown>): TimelineItem {
  const time = iso(r.t as Date) as string;
  if (r.kind === 'a')
    return {
      kind: 'alert',
      id: Number(r.id),
      time,
      title: r.type as string,
      severity: r.severity as string,
      status: r.status as string,
      ruleId: r.rule_id as string,
    };
  return {
    kind: 'event',
    id: `sec:${String(r.id as string | number)}`,
    time,
    type: r.type as string,
    severity: r.severity as string,
    actor: safeText((r.actor as string | null) ?? null),
    subject: safeText((r.subject as string | null) ?? null),
    addr: (r.addr as string | null) ?? null,
  };
}

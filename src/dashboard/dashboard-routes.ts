import type { AlertSeverity } from '../monitor/alert-signal.js';
import { ErrorCodes } from '../errors/index.js';
import { HttpError, type HttpResult, type RequestContext, type Router } from '../http/index.js';
import { alertDetail, type AlertStatus, type AlertStatusChanger, listAlerts, setAlertStatus } from './alert-queries.js';
import type { DashboardAuth } from './dashboard-auth.js';
import type { DashboardDb } from './db.js';
import { type DashboardLiveStats, readOverview } from './overview-queries.js';
import { parseCursor, readTimeline, riskUsers } from './timeline-queries.js';

/** What the API routes need. */
export interface DashboardRoutesOptions {
  db: DashboardDb;
  guard: DashboardAuth;
  /** Base path ending in `/`. */
  basePath: string;
  liveStats?: () => DashboardLiveStats;
  changeStatus?: AlertStatusChanger;
}

const statuses: ReadonlyArray<AlertStatus | 'active'> = ['open', 'acknowledged', 'resolved', 'active'];
const severities: readonly AlertSeverity[] = ['low', 'medium', 'high', 'critical'];
/** The API's JSON may not be framed or treated as a document either. */
const apiHeaders = { 'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'" };

const invalid = (message: string) => new HttpError(ErrorCodes.MONITOR_DASHBOARD_DENIED, message, { status: 400 });
const ok = (body: unknown): HttpResult => ({ status: 200, body, headers: { ...apiHeaders } });

/**
 * Adds the dashboard's JSON API to a router, under the base path: login, MFA, logout, session,
 * overview, alerts (list, detail, acknowledge, resolve), users by risk and the timeline.
 *
 * @example
 * mountDashboardRoutes(router, { db: pool, guard, basePath: '/' });
 */
export function mountDashboardRoutes(router: Router, o: DashboardRoutesOptions): void {
  const p = (path: string) => `${o.basePath}api/${path}`;
  const { guard, db } = o;
  const read = (ctx: RequestContext) => guard.require(ctx, { write: false, act: false });
  const withHeaders = (handler: (ctx: RequestContext) => Promise<HttpResult>) => async (ctx: RequestContext) => {
    const result = await handler(ctx);
    return { ...result, headers: { ...apiHeaders, ...result.headers } };
  };
  router
    .add(
      'POST',
      p('login'),
      withHeaders((ctx) => guard.login(ctx)),
    )
    .add(
      'POST',
      p('login/mfa'),
      withHeaders((ctx) => guard.verifyMfa(ctx)),
    )
    .add(
      'POST',
      p('logout'),
      withHeaders((ctx) => guard.logout(ctx)),
    )
    .add(
      'GET',
      p('session'),
      withHeaders((ctx) => guard.whoami(ctx)),
    )
    .add('GET', p('overview'), async (ctx) => {
      await read(ctx);
      return ok(await readOverview(db, o.liveStats));
    })
    .add('GET', p('alerts'), async (ctx) => {
      await read(ctx);
      const status = oneOf(ctx.query.get('status'), statuses, 'status');
      const severity = oneOf(ctx.query.get('severity'), severities, 'severity');
      const before = ctx.query.get('before') ? alertId(ctx.query.get('before')) : undefined;
      const limit = integer(ctx.query.get('limit'), 'limit', 50, 1, 200);
      return ok(await listAlerts(db, { status, severity, before, limit }));
    })
    .add('GET', p('alerts/:id'), async (ctx) => {
      await read(ctx);
      const detail = await alertDetail(db, alertId(ctx.params.id));
      if (!detail) throw new HttpError(ErrorCodes.MONITOR_ALERT_NOT_FOUND, 'no such alert', { status: 404 });
      return ok(detail);
    })
    .add('POST', p('alerts/:id/acknowledge'), (ctx) => changeStatus(ctx, 'acknowledged'))
    .add('POST', p('alerts/:id/resolve'), (ctx) => changeStatus(ctx, 'resolved'))
    .add('GET', p('users/risk'), async (ctx) => {
      await read(ctx);
      return ok({ users: await riskUsers(db, integer(ctx.query.get('limit'), 'limit', 50, 1, 500)) });
    })
    .add('GET', p('timeline'), async (ctx) => {
      await read(ctx);
      const to = time(ctx.query.get('to'), 'to') ?? new Date();
      const from = time(ctx.query.get('from'), 'from') ?? new Date(to.getTime() - 24 * 3600_000);
      if (from >= to) throw invalid('from must be before to');
      const cursorText = ctx.query.get('cursor');
      const cursor = cursorText ? parseCursor(cursorText) : undefined;
      if (cursorText && !cursor) throw invalid('cursor is not one this API gave out');
      const limit = integer(ctx.query.get('limit'), 'limit', 100, 1, 500);
      return ok(await readTimeline(db, { from, to, limit, ...(cursor ? { cursor } : {}) }));
    });

  async function changeStatus(ctx: RequestContext, status: 'acknowledged' | 'resolved'): Promise<HttpResult> {
    const caller = await guard.require(ctx, { write: true, act: true });
    const id = alertId(ctx.params.id);
    const body = await ctx.body();
    const note = body.note === undefined || body.note === null || body.note === '' ? null : body.note;
    if (note !== null && (typeof note !== 'string' || note.length > 2000 || note.includes('\u0000')))
      throw invalid('note must be text of at most 2000 characters');
    return ok({ alert: await setAlertStatus(db, id, status, caller.actor, note, o.changeStatus) });
  }
}

function oneOf<T extends string>(value: string | null, allowed: readonly T[], name: string): T | undefined {
  if (value === null || value === '') return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw invalid(`${name} must be one of ${allowed.join(', ')}`);
  return value as T;
}

function integer(value: string | null, name: string, fallback: number, min: number, max: number): number {
  if (value === null || value === '') return fallback;
  if (!/^\d{1,6}$/.test(value) || Number(value) < min || Number(value) > max)
    throw invalid(`${name} must be a whole number from ${min} to ${max}`);
  return Number(value);
}

function alertId(value: string | null | undefined): number {
  if (!value || !/^[1-9]\d{0,14}$/.test(value)) throw invalid('an alert id is a positive whole number');
  return Number(value);
}

function time(value: string | null, name: string): Date | undefined {
  if (value === null || value === '') return undefined;
  const d = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(d.getTime()))
    throw invalid(`${name} must be an ISO 8601 date-time such as 2025-01-31T12:00:00Z`);
  return d;
}

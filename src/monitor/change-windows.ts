/**
 * Approved change windows (case M-07: privilege changes "outside an approved migration" alert).
 * A security admin approves ahead of time that one principal makes privilege and policy changes
 * during a bounded time (monitor.open_change_window(), which refuses self-approval, backdating and
 * windows over 24 h). The monitor tags every event of that principal inside the window with
 * `context.change_window`, and the rules that honour windows leave those events out.
 */
import type pg from 'pg';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { type EventContext, type MonitorEvent, normaliseUser } from './event.js';
import type { EventEnricher } from './pipeline.js';

/** One approved window, as monitor.change_windows holds it. */
export interface ChangeWindow {
  id: string;
  /** The principal the window covers: a database role or an application user. */
  principal: string;
  /** ms since the epoch */
  startsAt: number;
  endsAt: number;
}

/** What monitor.open_change_window() returned. */
export interface OpenedChangeWindow extends ChangeWindow {
  reason: string;
  ticket: string | null;
  approver: string;
  approvedBy: string;
}

/** At most this many windows are held; more open at once is a misuse, the oldest-ending go first. */
const maxWindows = 1_000;

/**
 * The open change windows, kept current from the event stream: a verified
 * `monitor.change_window_opened` event adds one (verified: the security-event source read it back
 * from monitor.change_windows, so a forged event written with logs.log_event() adds nothing), a
 * `monitor.change_window_closed` event removes one. The daemon seeds it with `loadOpenChangeWindows`.
 *
 * @example
 * const windows = new ChangeWindows(await loadOpenChangeWindows(client));
 * const pipeline = new MonitorPipeline({ engine, enrichers: [analytics, windows], onSignals });
 */
export class ChangeWindows implements EventEnricher {
  readonly #byId = new Map<string, ChangeWindow>();
  readonly #byPrincipal = new Map<string, ChangeWindow[]>();

  constructor(initial: readonly ChangeWindow[] = []) {
    for (const w of initial) this.add(w);
  }

  /** Adds (or replaces) a window. */
  add(window: ChangeWindow): void {
    if (!(window.endsAt > window.startsAt)) return;
    this.remove(window.id);
    if (this.#byId.size >= maxWindows) this.#evictEarliestEnd();
    const w = { ...window, principal: normaliseUser(window.principal) };
    this.#byId.set(w.id, w);
    const list = this.#byPrincipal.get(w.principal);
    if (list) list.push(w);
    else this.#byPrincipal.set(w.principal, [w]);
  }

  /** Removes a window (closed early). */
  remove(id: string): void {
    const w = this.#byId.get(id);
    if (!w) return;
    this.#byId.delete(id);
    const list = (this.#byPrincipal.get(w.principal) ?? []).filter((x) => x.id !== id);
    if (list.length === 0) this.#byPrincipal.delete(w.principal);
    else this.#byPrincipal.set(w.principal, list);
  }

  /** Windows held now (ended ones are dropped as events pass them). */
  get size(): number {
    return this.#byId.size;
  }

  /** The window covering `principal` at `time`, if any. */
  covering(principal: string, time: number): ChangeWindow | undefined {
    const list = this.#byPrincipal.get(normaliseUser(principal));
    if (!list) return undefined;
    for (const w of list) if (w.startsAt <= time && time < w.endsAt) return w;
    return undefined;
  }

  contextOf(event: MonitorEvent): EventContext | undefined {
    if (event.source === 'security-event') this.#learn(event);
    if (this.#byId.size === 0) return undefined;
    const subject = catalogSubject(event);
    const w =
      (event.user !== undefined ? this.covering(event.user, event.time) : undefined) ??
      (event.dbUser !== undefined && event.dbUser !== event.user
        ? this.covering(event.dbUser, event.time)
        : undefined) ??
      (subject !== undefined ? this.covering(subject, event.time) : undefined);
    this.#dropEnded(event.time);
    return w ? { change_window: w.id } : undefined;
  }

  #learn(event: MonitorEvent): void {
    const f = event.fields;
    if (event.type === 'monitor.change_window_opened') {
      if (f.window_verified !== true) return;
      const id = f.window_id;
      const principal = f.window_principal;
      const startsAt = f.window_starts;
      const endsAt = f.window_ends;
      if (
        (typeof id === 'number' || typeof id === 'string') &&
        typeof principal === 'string' &&
        typeof startsAt === 'number' &&
        typeof endsAt === 'number'
      ) {
        this.add({ id: String(id), principal, startsAt, endsAt });
      }
    } else if (event.type === 'monitor.change_window_closed') {
      // A forged close only makes alerts fire: the safe direction, so it needs no verification.
      const id = f.window_id;
      if (typeof id === 'number' || typeof id === 'string') this.remove(String(id));
    }
  }

  #dropEnded(now: number): void {
    // Cheap: windows are few. Runs per event only while some are held.
    for (const w of this.#byId.values()) if (w.endsAt <= now) this.remove(w.id);
  }

  #evictEarliestEnd(): void {
    let first: ChangeWindow | undefined;
    for (const w of this.#byId.values()) if (!first || w.endsAt < first.endsAt) first = w;
    if (first) this.remove(first.id);
  }
}

/**
 * The role a role-catalog event is about. The catalog says what changed, not who changed it, so a
 * window covers such an event through the role that changed: approving "grant pg_read_all_data to
 * reporting" takes a window for the acting role (its statement) and one for reporting (the catalog).
 */
function catalogSubject(event: MonitorEvent): string | undefined {
  const v =
    event.type === 'pg.role_granted'
      ? event.fields.member
      : event.type === 'pg.role_changed'
        ? event.fields.role
        : undefined;
  return typeof v === 'string' ? v : undefined;
}

interface WindowRow {
  id: string;
  principal: string;
  starts: string | number;
  ends: string | number;
}

/**
 * The windows open now or later (not closed, not ended), for a starting monitor.
 *
 * @example
 * const windows = new ChangeWindows(await loadOpenChangeWindows(client));
 */
export async function loadOpenChangeWindows(client: pg.ClientBase | pg.Pool): Promise<ChangeWindow[]> {
  const { rows } = await client.query<WindowRow>(
    `select w.id::text as id, w.principal,
            pg_catalog.floor(pg_catalog.date_part('epoch', w.starts_at) * 1000) as starts,
            pg_catalog.floor(pg_catalog.date_part('epoch', w.ends_at) * 1000) as ends
       from monitor.change_windows w
      where w.closed_at is null and w.ends_at > pg_catalog.clock_timestamp()
      order by w.ends_at
      limit ${maxWindows}`,
  );
  return rows.map((r) => ({ id: r.id, principal: r.principal, startsAt: Number(r.starts), endsAt: Number(r.ends) }));
}

interface OpenedRow {
  id: string;
  principal: string;
  starts_at: Date;
  ends_at: Date;
  reason: string;
  ticket: string | null;
  approver: string;
  approved_by: string;
}

/**
 * Opens a change window through monitor.open_change_window(): PW608 when the database refuses it
 * (self-approval, backdated, over 24 h, no reason).
 *
 * @example
 * await openChangeWindow(client, { principal: 'migrator', startsAt: new Date(), minutes: 60,
 *   reason: 'release 4.2 migration', approver: 'jane@example.com', ticket: 'CHG-1042' });
 */
export async function openChangeWindow(
  client: pg.ClientBase | pg.Pool,
  w: { principal: string; startsAt: Date; endsAt: Date; reason: string; approver: string; ticket?: string },
): Promise<OpenedChangeWindow> {
  const row = await asWindowError(() =>
    client.query<OpenedRow>(
      `select w.id::text as id, w.principal, w.starts_at, w.ends_at, w.reason, w.ticket, w.approver, w.approved_by
         from monitor.open_change_window($1, $2, $3, $4, $5, $6) w`,
      [w.principal, w.startsAt, w.endsAt, w.reason, w.approver, w.ticket ?? null],
    ),
  );
  return {
    id: row.id,
    principal: row.principal,
    startsAt: row.starts_at.getTime(),
    endsAt: row.ends_at.getTime(),
    reason: row.reason,
    ticket: row.ticket,
    approver: row.approver,
    approvedBy: row.approved_by,
  };
}

/**
 * Closes a change window early through monitor.close_change_window(): PW608 for an unknown or closed one.
 *
 * @example
 * await closeChangeWindow(client, '42', 'jane@example.com');
 */
export async function closeChangeWindow(client: pg.ClientBase | pg.Pool, id: string, actor: string): Promise<void> {
  if (!/^[0-9]{1,18}$/.test(id)) {
    throw new PgwardenError(
      ErrorCodes.MONITOR_CHANGE_WINDOW_INVALID,
      `change window id must be a number, got ${JSON.stringify(id.slice(0, 40))}`,
    );
  }
  await asWindowError(() =>
    client.query<OpenedRow>('select w.id::text as id from monitor.close_change_window($1, $2) w', [id, actor]),
  );
}

async function asWindowError<T extends pg.QueryResultRow>(run: () => Promise<pg.QueryResult<T>>): Promise<T> {
  try {
    const { rows } = await run();
    const row = rows[0];
    if (!row)
      throw new PgwardenError(ErrorCodes.MONITOR_CHANGE_WINDOW_INVALID, 'the database returned no change window');
    return row;
  } catch (err) {
    const e = err as { code?: string; message?: string; hint?: string };
    if (e.code === 'PW608') {
      throw new PgwardenError(ErrorCodes.MONITOR_CHANGE_WINDOW_INVALID, e.message ?? 'change window refused', {
        hint: e.hint,
        sqlState: e.code,
        cause: err,
      });
    }
    throw err;
  }
}

import type pg from 'pg';
import type { UntimedEvent } from './event.js';

/**
 * Which database roles are superusers, refreshed on a timer, so a server-log login
 * (`connection authorized: user=…`, which does not say) can be marked `fields.superuser` for the
 * superuser-from-a-remote-address rule. A role made superuser between two refreshes is marked from
 * the next refresh on; pg_stat_activity samples carry the flag themselves.
 *
 * @example
 * const roles = new RoleAttributes(pool);
 * await roles.refresh();
 * const marked = roles.mark(events);
 */
export class RoleAttributes {
  #superusers = new Set<string>();

  constructor(private readonly db: Pick<pg.Pool, 'query'>) {}

  /** Reads the superuser role names again. */
  async refresh(): Promise<void> {
    const { rows } = await this.db.query<{ rolname: string }>(
      'select r.rolname from pg_catalog.pg_roles r where r.rolsuper',
    );
    this.#superusers = new Set(rows.map((r) => r.rolname));
  }

  /** The events, with `fields.superuser` set on server-log logins of superuser roles. */
  mark(events: UntimedEvent[]): UntimedEvent[] {
    if (this.#superusers.size === 0) return events;
    return events.map((e) =>
      e.type === 'pg.login' && e.fields.superuser === undefined && this.#superusers.has(e.dbUser ?? e.user ?? '')
        ? { ...e, fields: { ...e.fields, superuser: true } }
        : e,
    );
  }
}

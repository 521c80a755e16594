import type pg from 'pg';
import type { UntimedEvent } from './event.js';

interface RoleRow {
  oid: number;
  rolname: string;
  rolsuper: boolean;
  rolbypassrls: boolean;
  rolcreaterole: boolean;
  rolreplication: boolean;
}

interface MemberRow {
  role: string;
  member: string;
  admin_option: boolean;
}

/** The attributes whose gain is a privilege escalation. */
const watched = ['rolsuper', 'rolbypassrls', 'rolcreaterole', 'rolreplication'] as const;
const attributeName: Record<(typeof watched)[number], string> = {
  rolsuper: 'superuser',
  rolbypassrls: 'bypassrls',
  rolcreaterole: 'createrole',
  rolreplication: 'replication',
};

/**
 * The monitor's view of the role catalog, read on a timer.
 *
 * - It marks server-log logins of superuser roles (`connection authorized: user=…` does not say)
 *   with `fields.superuser`, for the superuser-from-a-remote-address rule.
 * - `changes()` compares pg_roles and pg_auth_members with the last read and reports a role that
 *   gained SUPERUSER, BYPASSRLS, CREATEROLE or REPLICATION (`pg.role_changed`) and a new role
 *   membership (`pg.role_granted`). PostgreSQL fires no event trigger for ALTER ROLE or for
 *   GRANT of a role, so without the server log this is how those changes are seen.
 *
 * @example
 * const roles = new RoleAttributes(pool);
 * await roles.refresh();            // the baseline
 * const events = await roles.changes();
 */
export class RoleAttributes {
  #superusers = new Set<string>();
  #roles: Map<number, RoleRow> | undefined;
  #members: Set<string> | undefined;

  constructor(
    private readonly db: Pick<pg.Pool, 'query'>,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Reads the catalog again; the first read is the baseline `changes()` compares with. */
  async refresh(): Promise<void> {
    await this.changes();
  }

  /** What changed in the role catalog since the last read (nothing on the first). */
  async changes(): Promise<UntimedEvent[]> {
    const [roles, members] = await Promise.all([
      this.db.query<RoleRow>(
        `select r.oid::int as oid, r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolreplication
           from pg_catalog.pg_roles r`,
      ),
      this.db.query<MemberRow>(
        `select g.rolname as role, m.rolname as member, a.admin_option
           from pg_catalog.pg_auth_members a
           join pg_catalog.pg_roles g on g.oid = a.roleid
           join pg_catalog.pg_roles m on m.oid = a.member`,
      ),
    ]);
    const now = this.clock();
    const events: UntimedEvent[] = [];
    const nextRoles = new Map(roles.rows.map((r) => [r.oid, r]));
    const nextMembers = new Set(members.rows.map((m) => `${m.role}\u0000${m.member}`));
    if (this.#roles && this.#members) {
      for (const role of roles.rows) {
        const before = this.#roles.get(role.oid);
        for (const attribute of watched) {
          if (role[attribute] && !(before?.[attribute] ?? false))
            events.push(roleChanged(role, attributeName[attribute], before === undefined, now));
        }
      }
      for (const m of members.rows) {
        if (this.#members.has(`${m.role}\u0000${m.member}`)) continue;
        const granted = roles.rows.find((r) => r.rolname === m.role);
        events.push(roleGranted(m, granted?.rolsuper === true, now));
      }
    }
    this.#roles = nextRoles;
    this.#members = nextMembers;
    this.#superusers = new Set(roles.rows.filter((r) => r.rolsuper).map((r) => r.rolname));
    return events;
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

function roleChanged(role: RoleRow, attribute: string, created: boolean, now: number): UntimedEvent {
  return {
    id: `catalog:role:${role.oid}:${attribute}:${now}`,
    source: 'stats',
    type: 'pg.role_changed',
    severity: 'warning',
    occurredAt: now,
    message: `role ${role.rolname} ${created ? 'was created with' : 'gained'} ${attribute.toUpperCase()}`,
    fields: { role: role.rolname, attribute, value: true, created },
  };
}

function roleGranted(m: MemberRow, superuserRole: boolean, now: number): UntimedEvent {
  return {
    id: `catalog:member:${m.role}:${m.member}:${now}`,
    source: 'stats',
    type: 'pg.role_granted',
    severity: 'notice',
    occurredAt: now,
    message: `role ${m.role} was granted to ${m.member}${m.admin_option ? ' with admin option' : ''}`,
    fields: { role: m.role, member: m.member, adminOption: m.admin_option, superuserRole },
  };
}

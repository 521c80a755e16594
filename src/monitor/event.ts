/**
 * The one event shape every monitor source produces and every rule, the user-behaviour
 * analytics, the metrics and the dashboard consume. Sources normalise what they read (a server
 * log record, a row of logs.notification_log, a statistics delta) into this flat record, so a
 * rule filters on the same field names whatever the event came from.
 */

/** Where an event was read. */
export type EventSource =
  /** the PostgreSQL server log (jsonlog, csvlog or stderr), pgaudit lines included */
  | 'server-log'
  /** a row of logs.notification_log (pgwarden's security events) */
  | 'security-event'
  /** rows of the row-change audit trail (audit.row_changes), aggregated per actor */
  | 'audit'
  /** a sample of pg_stat_activity, or a delta of pg_stat_statements / pg_stat_user_tables */
  | 'stats'
  /** derived by the monitor itself: user-behaviour anomalies, source health */
  | 'monitor';

/** Severity scale shared with logs.notification_log. */
export type EventSeverity = 'debug' | 'info' | 'notice' | 'warning' | 'error' | 'critical';

/**
 * One normalised event. Every optional field is absent (not null, not '') when the source did not
 * carry it. Field names are the vocabulary of the rule format (docs/monitor.md lists them).
 *
 * @example
 * const e: MonitorEvent = {
 *   id: 'sec:4711', source: 'security-event', type: 'auth.login_failed', time: Date.now(),
 *   severity: 'notice', user: 'alice@example.com', addr: '203.0.113.9', fields: { reason: 'password' },
 * };
 */
export interface MonitorEvent {
  /**
   * Stable and unique across sources, so an alert can link its evidence and a replay after a
   * restart recognises what it has seen: `sec:<notification_log id>`, `log:<file key>:<byte offset>`,
   * `audit:<first id>-<last id>:<actor>`, `stats:<kind>:<sample time>:<key>`, `ueba:<user>:<time>`.
   */
  id: string;
  source: EventSource;
  /**
   * Dotted type. Security events keep their event_type (`auth.login_failed`, `ddl.rls` …). Server
   * log records are classified as `pg.*`: `pg.auth_failed`, `pg.auth_rejected`, `pg.login`,
   * `pg.disconnect`, `pg.error`, `pg.statement`, `pg.audit` (pgaudit), `pg.config_changed`,
   * `pg.log` (anything else). Statistics give `pg.activity`, `pg.rows_read`, `pg.rows_written`,
   * `pg.table_read`; the audit trail gives `audit.rows_changed`; analytics gives `ueba.anomaly`.
   */
  type: string;
  /**
   * When the monitor received the event, in ms since the epoch (the monitor's clock). Windows and
   * thresholds use this, never a timestamp the client supplied (M-15).
   */
  time: number;
  /** When the event says it happened (the log line's or the row's timestamp), ms since the epoch. */
  occurredAt?: number;
  severity: EventSeverity;
  /** The principal: the application user (auth user id or email) or else the database role. */
  user?: string;
  /** The database role of the connection, when known. */
  dbUser?: string;
  database?: string;
  /** The source address (the end user's when a trusted pgwarden service saw it, else the connection's). */
  addr?: string;
  /** `addr` aggregated to its block: /24 for IPv4, /64 for IPv6 (spray from neighbouring addresses). */
  addrBlock?: string;
  application?: string;
  tenant?: string;
  /** SQLSTATE of an error record. */
  sqlstate?: string;
  /** The human message (server log message, or a summary), never containing a secret. */
  message?: string;
  /** The statement text where the source carries one, with literals that look like secrets masked. */
  statement?: string;
  /** Source-specific scalars the rules may filter on (reason, class, command, rows, table …). */
  fields: Record<string, string | number | boolean>;
  /**
   * What the monitor knows about the event beyond what the source wrote, added just before the
   * rules see it (rules read it as `context.<name>`). Absent when nothing is known.
   */
  context?: EventContext;
}

/**
 * The monitor's own knowledge about an event, filled in by the pipeline's enrichers: the
 * behaviour analytics and the approved change windows. A missing value means "not known" (a
 * principal whose profile is not in memory, an event without address or rows), never "no".
 */
export interface EventContext {
  /**
   * The principal has worked from this exact address before (at least twice, learned from
   * everything but failed logins, so guessing from an address never makes it known).
   */
  known_address?: boolean;
  /** The principal's rows read or changed this hour, this event's included, are within its learned hourly volume. */
  usual_volume?: boolean;
  /** The id of the approved change window that covers the principal now (monitor.change_windows). */
  change_window?: string;
}

/** The names `context.<name>` may take in a rule. */
export const eventContextNames: readonly (keyof EventContext)[] = ['known_address', 'usual_volume', 'change_window'];

/** An event before the monitor stamped its receive time. */
export type UntimedEvent = Omit<MonitorEvent, 'time'> & { time?: number };

/**
 * Persists where a source stopped, so a restart resumes there. The daemon gives each source one
 * (backed by the monitor.source_positions table); tests may pass an in-memory one.
 */
export interface PositionStore {
  /** The last position saved under `source`, or undefined the first time. */
  load(source: string): Promise<unknown>;
  /** Saves `position` (any JSON value) under `source`. */
  save(source: string, position: unknown): Promise<void>;
}

/**
 * An in-memory PositionStore (tests, `monitor replay`).
 *
 * @example
 * const store = memoryPositionStore();
 * await store.save('server-log', { offset: 10 });
 */
export function memoryPositionStore(): PositionStore & { readonly positions: Map<string, unknown> } {
  const positions = new Map<string, unknown>();
  return {
    positions,
    load: async (source) => structuredClone(positions.get(source)),
    save: async (source, position) => {
      positions.set(source, structuredClone(position));
    },
  };
}

/** The /24 (IPv4) or /64 (IPv6) block of an address, or undefined when it is not an address. */
export function addressBlock(addr: string | undefined): string | undefined {
  if (!addr) return undefined;
  const bare = addr.replace(/\/\d+$/, '');
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(bare);
  if (v4) return `${v4[1]}.${v4[2]}.${v4[3]}.0/24`;
  const mapped = /^::ffff:(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})$/i.exec(bare);
  if (mapped) return addressBlock(mapped[1]);
  if (!bare.includes(':')) return undefined;
  const [head = '', tail = ''] = bare.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = bare.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  if (groups.length !== 8) return undefined;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * The key a username is counted by: trimmed, lower-cased, Unicode-normalised (NFKC), so `Alice`,
 * ` alice` and `ＡＬＩＣＥ` are one account to a spray rule.
 *
 * @example
 * normaliseUser(' Alice@Example.COM') // 'alice@example.com'
 */
export function normaliseUser(user: string): string {
  return user.normalize('NFKC').trim().toLowerCase();
}

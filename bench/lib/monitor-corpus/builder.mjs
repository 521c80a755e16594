// Monitor corpus: turns generated traffic into `{ at, event }` entries as each monitor source would
// hand them over (security events, audit aggregates, statistics samples, classified server-log records).

/**
 * Turns generated traffic into corpus entries `{ at, event }`: `at` is when the monitor receives
 * the event, `event` an UntimedEvent as the source would hand it over (occurredAt is the source's
 * own timestamp; events written by the skewed application host carry its clock, ahead).
 */
export class Builder {
  constructor(rng, classify, skew) {
    this.rng = rng;
    this.classify = classify;
    this.skew = skew;
    this.entries = [];
    this.seq = 0;
    this.offset = 0;
    this.pid = 3000;
    this.counts = new Map();
  }
  add(at, event) {
    this.entries.push({ at: Math.round(at), event });
    if (event.user !== undefined) this.counts.set(event.user, (this.counts.get(event.user) ?? 0) + 1);
    return event;
  }
  occurred(at, host) {
    return host !== undefined && host === this.skew.host
      ? Math.round(at + this.skew.ms)
      : Math.round(at - this.rng.int(30, 1500));
  }
  /** A row of logs.notification_log as the security-event source reads it. */
  sec(at, type, o = {}) {
    const fields = { ...o.fields };
    if (o.host !== undefined && o.addr !== undefined) fields.db_addr = o.host;
    const e = {
      id: `sec:${++this.seq}`,
      source: 'security-event',
      type,
      severity: o.severity ?? 'info',
      occurredAt: this.occurred(at, o.host),
      database: 'app',
      dbUser: o.dbUser ?? 'pgw_auth_service',
      fields,
    };
    if (o.user !== undefined) e.user = o.user;
    if (o.addr !== undefined) e.addr = o.addr;
    else if (o.host !== undefined) e.addr = o.host;
    if (o.tenant !== undefined) e.tenant = o.tenant;
    e.message = [
      type,
      fields.reason === undefined ? '' : `(${fields.reason})`,
      o.user ? `user ${o.user}` : '',
      e.addr ? `from ${e.addr}` : '',
    ]
      .filter(Boolean)
      .join(' ');
    return this.add(at, e);
  }
  /** One audit.rows_changed aggregate of the audit-trail source. */
  audit(at, user, tenant, host, table, op, rows) {
    const id = ++this.seq;
    return this.add(at, {
      id: `audit:${id}-${id + rows - 1}:${user}`,
      source: 'audit',
      type: 'audit.rows_changed',
      severity: 'info',
      occurredAt: this.occurred(at, host),
      user,
      tenant,
      dbUser: 'app',
      database: 'app',
      addr: host,
      fields: { table, op, rows },
    });
  }
  /** A statistics event (pg.rows_read, pg.rows_written, pg.activity). */
  stat(at, type, user, fields, addr) {
    const e = {
      id: `stats:${type.slice(3)}:${Math.round(at)}:${user}:${++this.seq}`,
      source: 'stats',
      type,
      severity: 'info',
      occurredAt: Math.round(at - this.rng.int(10, 300)),
      user,
      dbUser: user,
      database: 'app',
      fields,
    };
    if (addr !== undefined) e.addr = addr;
    if (type === 'pg.rows_read') e.message = `${user} read ${fields.rows} rows in ${fields.calls} statements`;
    return this.add(at, e);
  }
  /** A server-log record, classified as the server-log source would. */
  log(at, record) {
    const rec = { offset: this.offset, time: Math.round(at - this.rng.int(5, 900)), errorSeverity: 'LOG', ...record };
    this.offset += 160 + record.message.length + (record.statement?.length ?? 0);
    return this.add(at, this.classify(rec, `log:corpus:${rec.offset}`));
  }
  /** A client session in the server log: connection lines now, `end()` writes the disconnection. */
  session(at, { user, host, app = 'psql', database = 'app', failed = false }) {
    const pid = (this.pid = this.pid >= 4_000_000 ? 3000 : this.pid + this.rng.int(1, 97));
    const sessionId = `${Math.floor(at / 1000).toString(16)}.${pid.toString(16)}`;
    const base = { pid, sessionId, remoteHost: host, backendType: 'client backend' };
    let line = 1;
    const port = this.rng.int(32768, 60999);
    const hostText = host === '[local]' ? '[local]' : `host=${host} port=${port}`;
    const s = {
      pid,
      rec: (t, r) => this.log(t, { ...base, lineNumber: ++line, user, database, application: app, ...r }),
      end: (t) =>
        this.log(t, {
          ...base,
          lineNumber: ++line,
          user,
          database,
          application: app,
          message: `disconnection: session time: ${fmtDuration(t - at)} user=${user} database=${database} ${hostText}`,
        }),
    };
    this.log(at, { ...base, lineNumber: 1, message: `connection received: ${hostText}` });
    if (failed) return s;
    this.log(at + 3, {
      ...base,
      lineNumber: ++line,
      user,
      database,
      message: `connection authorized: user=${user} database=${database} application_name=${app}`,
    });
    return s;
  }
}

function fmtDuration(ms) {
  const s = Math.max(0, ms) / 1000;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h}:${String(m).padStart(2, '0')}:${(s % 60).toFixed(3).padStart(6, '0')}`;
}

/**
 * Rows read and written per role and statistics sample, and backends seen by a sample, emitted
 * as the statistics source does: one pg.rows_read / pg.rows_written per role and sample, one
 * pg.activity per backend alive at a sample (a session shorter than the interval may be missed).
 */
export class Stats {
  constructor(b, intervalMs) {
    this.b = b;
    this.interval = intervalMs;
    this.acc = new Map();
  }
  slot(t) {
    return Math.ceil((t + 1) / this.interval) * this.interval;
  }
  #add(type, role, t, rows, superuser) {
    const key = `${type}|${role}|${this.slot(t)}`;
    const v = this.acc.get(key) ?? { type, role, at: this.slot(t), rows: 0, calls: 0, superuser };
    v.rows += Math.round(rows);
    v.calls += Math.max(1, Math.round(rows / 40));
    this.acc.set(key, v);
  }
  read(role, t, rows, superuser = false) {
    if (rows >= 1) this.#add('pg.rows_read', role, t, rows, superuser);
  }
  write(role, t, rows) {
    if (rows >= 1) this.#add('pg.rows_written', role, t, rows, false);
  }
  backend(role, start, end, addr, superuser, pid) {
    const at = this.slot(start);
    if (at >= end) return;
    this.b.stat(
      at + this.b.rng.int(40, 400),
      'pg.activity',
      role,
      { superuser, backendType: 'client backend', pid },
      addr,
    );
  }
  emit() {
    for (const v of this.acc.values()) {
      this.b.stat(v.at + this.b.rng.int(40, 400), v.type, v.role, {
        rows: v.rows,
        calls: v.calls,
        superuser: v.superuser,
      });
    }
    this.acc.clear();
  }
}

/** A pgaudit line (pgaudit.log = 'role'): `AUDIT: SESSION,<id>,1,<class>,<command>,<type>,<name>,<statement>,<not logged>`. */
export function pgauditMessage(id, cls, command, statement) {
  const quoted = /[",\n]/.test(statement) ? `"${statement.replaceAll('"', '""')}"` : statement;
  return `AUDIT: SESSION,${id},1,${cls},${command},,,${quoted},<not logged>`;
}

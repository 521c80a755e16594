// What the end-to-end attack tests read back from a running monitor: its alerts, barriers that
// prove it has handled everything written so far (so "nothing was raised" is a real
// observation, not a short wait), and evidence ids resolved to the rows and log records they name.
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import type { MonitorDaemonEvent } from '../../../src/monitor/daemon.js';
import { type AlertRecord, toAlertRecord } from '../../../src/monitor/alerts/index.js';

type Sql = <T extends pg.QueryResultRow = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<T[]>;

/** A logs.notification_log row an evidence id named. */
export interface SecurityEventRow {
  id: string;
  event_type: string;
  actor: string | null;
  subject: string | null;
  source_addr: string | null;
  client_addr: string | null;
  details: Record<string, unknown>;
}

/** An evidence id and what it names. */
export type Evidence =
  | { kind: 'security-event'; id: string; row: SecurityEventRow }
  | { kind: 'log'; id: string; record: Record<string, unknown> }
  | { kind: 'stats'; id: string; statsKind: string; role: string; database: string }
  | { kind: 'activity'; id: string; pid: number };

/**
 * Polls `check` until it returns a value; throws after `timeoutMs`.
 *
 * @example
 * const row = await poll(async () => (await sql('select 1 as x'))[0], 'a row');
 */
export async function poll<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const matches = (group: Readonly<Record<string, string>>, want: Readonly<Record<string, string>>) =>
  Object.entries(want).every(([k, v]) => group[k] === v);

/**
 * Reads a running monitor's state back.
 *
 * @example
 * await probe.settle();
 * expect(await probe.alerts('pg-brute-force', { user: 'alice' })).toEqual([]);
 */
export class MonitorProbe {
  readonly #sql: Sql;
  readonly #logDir: string;
  readonly #events: { at: number; event: MonitorDaemonEvent }[];

  constructor(o: { sql: Sql; logDir: string; events: { at: number; event: MonitorDaemonEvent }[] }) {
    this.#sql = o.sql;
    this.#logDir = o.logDir;
    this.#events = o.events;
  }

  /** Alerts of `rule` whose group holds `group` (all alerts of the rule without it). */
  async alerts(rule: string, group: Record<string, string> = {}): Promise<AlertRecord[]> {
    const rows = await this.#sql('select * from monitor.alerts where rule_id = $1 order by id', [rule]);
    return rows.map(toAlertRecord).filter((a) => matches(a.group, group));
  }

  /** Waits for the one alert of `rule` and `group`, with at least `minEvents` counted. */
  async waitForAlert(
    rule: string,
    group: Record<string, string>,
    options: { minEvents?: number; timeoutMs?: number } = {},
  ): Promise<AlertRecord> {
    return poll(
      async () => (await this.alerts(rule, group)).find((a) => a.eventCount >= (options.minEvents ?? 1)),
      `an alert of ${rule} for ${JSON.stringify(group)}`,
      options.timeoutMs,
    );
  }

  /** When the monitor reported opening `alertId` (its `monitor-alert` event with created). */
  createdAt(alertId: string): number | undefined {
    const hit = this.#events.find(
      (e) => e.event.kind === 'monitor-alert' && e.event.alertId === alertId && e.event.created,
    );
    return hit?.at;
  }

  /** Resolves once the monitor handled every security event and server-log record written so far. */
  async settle(): Promise<void> {
    await this.settleServerLog();
    await this.settleSecurityEvents();
  }

  /** Every row of logs.notification_log committed so far went through the rules. */
  async settleSecurityEvents(): Promise<void> {
    const [top] = await this.#sql<{ max: string }>(
      'select coalesce(max(id), 0)::text as max from logs.notification_log',
    );
    const max = Number(top?.max ?? 0);
    await poll(async () => {
      const [row] = await this.#sql<{ position: { last: number; gaps: [number, number][] } }>(
        `select position from monitor.source_positions where source = 'security-events'`,
      );
      const p = row?.position;
      const done = p !== undefined && p.last >= max && !p.gaps.some(([from]) => from <= max);
      return done ? true : undefined;
    }, `the security-event source to pass id ${max}`);
  }

  /**
   * Every server-log record written so far went through the rules: a marker error is logged,
   * found in the jsonlog file, and the tailer's saved offset (saved after the pipeline handled
   * the batch) passes it.
   */
  async settleServerLog(): Promise<void> {
    const marker = `e2e_settle_${randomBytes(5).toString('hex')}`;
    await this.#sql(`select 1 from ${marker}`).catch(() => undefined);
    const at = await poll(() => this.#findInLog(marker), `marker ${marker} in the server log`);
    await poll(async () => {
      const [row] = await this.#sql<{ position: { files: { key: string; offset: number }[] } }>(
        `select position from monitor.source_positions where source = 'server-log:jsonlog'`,
      );
      const file = row?.position.files.find((f) => f.key === at.key);
      return file !== undefined && file.offset >= at.end ? true : undefined;
    }, `the server-log source to pass ${marker}`);
  }

  async #logFiles(): Promise<Map<string, string>> {
    const files = new Map<string, string>();
    for (const name of await readdir(this.#logDir)) {
      if (!name.endsWith('.json')) continue;
      const s = await stat(join(this.#logDir, name), { bigint: true });
      files.set(`${s.dev}-${s.ino}`, join(this.#logDir, name));
    }
    return files;
  }

  async #findInLog(text: string): Promise<{ key: string; end: number } | undefined> {
    for (const [key, path] of await this.#logFiles()) {
      const content = await readFile(path);
      const at = content.indexOf(text);
      if (at < 0) continue;
      const end = content.indexOf('\n', at);
      if (end >= 0) return { key, end: end + 1 };
    }
    return undefined;
  }

  /** Resolves each evidence id to what it names; throws for one that names nothing. */
  async evidence(ids: readonly string[]): Promise<Evidence[]> {
    const files = await this.#logFiles();
    const out: Evidence[] = [];
    for (const id of ids) out.push(await this.#resolve(id, files));
    return out;
  }

  async #resolve(id: string, files: Map<string, string>): Promise<Evidence> {
    const sec = /^sec:(\d+)$/.exec(id);
    if (sec) {
      const [row] = await this.#sql<SecurityEventRow>(
        `select id::text, event_type, actor, subject, pg_catalog.host(source_addr) as source_addr,
                pg_catalog.host(client_addr) as client_addr, details
           from logs.notification_log where id = $1`,
        [sec[1]],
      );
      if (!row) throw new Error(`evidence ${id} names no row of logs.notification_log`);
      return { kind: 'security-event', id, row };
    }
    const log = /^log:(\d+-\d+):(\d+)$/.exec(id);
    if (log) {
      const path = files.get(log[1]!);
      if (!path) throw new Error(`evidence ${id} names no log file`);
      const handle = await open(path, 'r');
      try {
        const buffer = Buffer.alloc(256 * 1024);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, Number(log[2]));
        const line = buffer.subarray(0, bytesRead).toString('utf8').split('\n', 1)[0] ?? '';
        return { kind: 'log', id, record: JSON.parse(line) as Record<string, unknown> };
      } finally {
        await handle.close();
      }
    }
    const stats = /^stats:([a-z_]+):\d+:(\d+):(\d+)$/.exec(id);
    if (stats) {
      const [row] = await this.#sql<{ role: string | null; database: string | null }>(
        `select (select rolname from pg_catalog.pg_roles where oid = $1::oid) as role,
                (select datname from pg_catalog.pg_database where oid = $2::oid) as database`,
        [stats[2], stats[3]],
      );
      if (!row?.role || !row.database) throw new Error(`evidence ${id} names no role or database`);
      return { kind: 'stats', id, statsKind: stats[1]!, role: row.role, database: row.database };
    }
    // A backend's pid: the caller compares it with the session it opened.
    const activity = /^stats:activity:\d+:(\d+)$/.exec(id);
    if (activity) return { kind: 'activity', id, pid: Number(activity[1]) };
    throw new Error(`evidence id ${id} has no known form`);
  }
}

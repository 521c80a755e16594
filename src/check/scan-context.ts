import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';

/**
 * Thrown by a check (or the context) when it cannot look: a privilege it lacks, a setting the
 * server hides from this login, a host file it cannot read. The runner reports the check as
 * "not evaluated" with this reason, never as a pass.
 *
 * @example
 * if (!visible) throw new NotEvaluated('pg_hba_file_rules needs superuser');
 */
export class NotEvaluated extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'NotEvaluated';
  }
}

/** One row of pg_settings as checks see it. */
export interface SettingRow {
  name: string;
  setting: string;
  unit: string | null;
  /** postmaster, sighup, superuser, user, backend, … (decides whether a fix needs a restart). */
  context: string;
  vartype: string;
  source: string;
  bootVal: string | null;
  resetVal: string | null;
  pendingRestart: boolean;
}

/** One line of pg_hba.conf as the server parsed it (pg_hba_file_rules). */
export interface HbaRule {
  lineNumber: number;
  /** PG 16+: the file the line is in (included files). */
  fileName: string | null;
  type: string;
  database: string[];
  userName: string[];
  address: string | null;
  netmask: string | null;
  authMethod: string;
  options: string[];
  /** A line the server could not parse: it is ignored at reload, and reported by a check. */
  error: string | null;
}

/** Settings a scan needs beyond the connection; all have defaults (see `resolveScanSettings`). */
export interface ScanSettings {
  /** Schemas an API exposes; empty: every schema a pgwarden request role or PUBLIC may use. */
  exposedSchemas: string[];
  /** Roles allowed to be superuser or BYPASSRLS besides the bootstrap superuser. */
  dbaRoles: string[];
  /** pgwarden's role prefix (pgw_). */
  rolePrefix: string;
  /** Host checks: 'auto' runs them when the data directory of this server is on this machine. */
  host: 'auto' | 'on' | 'off';
  statementTimeoutMs: number;
  /** pgwarden controls: the ledger must have been verified within this many hours. */
  ledgerMaxAgeHours: number;
  /** pgwarden controls: audit rows older than this must be sealed. */
  sealerMaxLagSeconds: number;
}

/** The server as the scanner sees it, read once at the start. */
export interface ServerFacts {
  version: string;
  versionNum: number;
  major: number;
  database: string;
  user: string;
  superuser: boolean;
  /** Predefined roles the scanning login has (pg_monitor, pg_read_all_settings, …). */
  memberOf: string[];
}

/**
 * What a check sees: the server facts, memoised catalog queries over the scanner's single
 * read-only connection, pg_settings, pg_hba_file_rules, and the data directory when on the host.
 *
 * @example
 * const log = await ctx.settingValue('log_connections'); // 'on'
 * const rows = await ctx.query('rls.tables', 'select … from pg_class …');
 */
export class ScanContext {
  readonly #client: pg.ClientBase;
  readonly #memo = new Map<string, Promise<unknown[]>>();
  #hostDir: Promise<string | null> | null = null;

  constructor(
    client: pg.ClientBase,
    readonly server: ServerFacts,
    readonly settings: ScanSettings,
    /** The scan's clock (waiver expiry, ledger age). */
    readonly now: Date,
  ) {
    this.#client = client;
  }

  /**
   * Runs a read-only query once per scan under `key` (checks sharing a key share the rows).
   * A permission error becomes NotEvaluated; other errors propagate and the runner reports the
   * check as not evaluated with the SQLSTATE.
   */
  query<T = Record<string, unknown>>(key: string, sql: string, params: unknown[] = []): Promise<T[]> {
    let rows = this.#memo.get(key);
    if (!rows) {
      rows = this.#client.query(sql, params).then(
        (r) => r.rows as unknown[],
        (err: { code?: string; message?: string }) => {
          if (err.code === '42501') throw new NotEvaluated(`insufficient privilege: ${err.message ?? ''}`.trim());
          throw err;
        },
      );
      this.#memo.set(key, rows);
    }
    return rows as Promise<T[]>;
  }

  /** Every pg_settings row this login may see, by lower-case name. */
  async allSettings(): Promise<Map<string, SettingRow>> {
    const rows = await this.query<SettingRow>(
      'pg_settings',
      `select name, setting, unit, context, vartype, source, boot_val as "bootVal", reset_val as "resetVal",
              pending_restart as "pendingRestart"
         from pg_catalog.pg_settings`,
    );
    return new Map(rows.map((r) => [r.name.toLowerCase(), r]));
  }

  /** One setting, or NotEvaluated when this login cannot see it (or the server has no such setting). */
  async setting(name: string): Promise<SettingRow> {
    const row = (await this.allSettings()).get(name.toLowerCase());
    if (!row) {
      throw new NotEvaluated(
        `setting ${name} is not visible to ${this.server.user} (grant pg_read_all_settings) or does not exist on PostgreSQL ${this.server.major}`,
      );
    }
    return row;
  }

  /** The value of a setting as pg_settings shows it (units not applied). */
  async settingValue(name: string): Promise<string> {
    return (await this.setting(name)).setting;
  }

  /** Whether the server has a setting at all (custom settings of unloaded modules are absent). */
  async hasSetting(name: string): Promise<boolean> {
    return (await this.allSettings()).has(name.toLowerCase());
  }

  /** pg_hba.conf as loaded; NotEvaluated when this login may not read pg_hba_file_rules (superuser only by default). */
  async hbaRules(): Promise<HbaRule[]> {
    const allowed = await this.query<{ ok: boolean }>(
      'hba.allowed',
      `select pg_catalog.has_function_privilege('pg_catalog.pg_hba_file_rules()', 'execute')
              and pg_catalog.has_table_privilege('pg_catalog.pg_hba_file_rules', 'select') as ok`,
    );
    if (!allowed[0]?.ok) {
      throw new NotEvaluated(
        'pg_hba_file_rules is readable only by superusers unless granted: grant select on pg_hba_file_rules and execute on pg_hba_file_rules() to the scanner',
      );
    }
    const fileColumn = this.server.major >= 16 ? 'file_name' : 'null::text';
    return this.query<HbaRule>(
      'hba.rules',
      `select line_number as "lineNumber", ${fileColumn} as "fileName", type,
              coalesce(database, '{}') as database, coalesce(user_name, '{}') as "userName",
              address, netmask, auth_method as "authMethod", coalesce(options, '{}') as options, error
         from pg_catalog.pg_hba_file_rules order by ${this.server.major >= 16 ? 'rule_number nulls last, ' : ''}line_number`,
    );
  }

  /**
   * The data directory when host checks run: the scanner is on the database host and can read
   * the server's postmaster.pid (it names this server's port and start time). NotEvaluated otherwise.
   */
  async dataDirectory(): Promise<string> {
    this.#hostDir ??= this.#findHostDir();
    const dir = await this.#hostDir;
    if (dir === null) {
      throw new NotEvaluated(
        this.settings.host === 'off'
          ? 'host checks are off (check.host = off)'
          : 'not run on the database host, or the data directory is unreadable here (run as root or the server OS user)',
      );
    }
    return dir;
  }

  /** Whether host checks run in this scan. */
  async onHost(): Promise<boolean> {
    this.#hostDir ??= this.#findHostDir();
    return (await this.#hostDir) !== null;
  }

  async #findHostDir(): Promise<string | null> {
    if (this.settings.host === 'off') return null;
    const settings = await this.allSettings().catch(() => new Map<string, SettingRow>());
    const dir = settings.get('data_directory')?.setting;
    const port = settings.get('port')?.setting;
    if (!dir || !port) return null;
    const started = await this.query<{ epoch: string }>(
      'postmaster.start',
      `select extract(epoch from pg_catalog.pg_postmaster_start_time())::bigint::text as epoch`,
    );
    try {
      // postmaster.pid: pid, data dir, start time (epoch), port, … (see pidfile.h)
      const lines = (await readFile(join(dir, 'postmaster.pid'), 'utf8')).split('\n');
      // The pid file is written early in startup; the server's own start time is taken later,
      // after TLS set-up (a slow ssl_passphrase_command), preload libraries and shared memory.
      const lead = Number(started[0]?.epoch) - Number(lines[2]);
      const sameServer = lines[1] === dir && lines[3]?.trim() === port && lead >= -2 && lead <= 600;
      return sameServer ? dir : null;
    } catch {
      return null;
    }
  }
}

import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, chmod, chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import type { ConnectionConfig } from '../../../src/db/client.js';
import { quoteIdent, quoteLiteral } from '../../../src/db/client.js';
import { detectPreloadLibraries } from '../../../src/db/embedded/binaries.js';
import { LocalCluster, resolveEmbeddedBindir } from '../../../src/db/embedded/index.js';

const run = promisify(execFile);

/**
 * The group role whose members may log in over TLS (the scanning logins of the tests).
 *
 * @example
 * await cluster.createLogin('cis_monitor', [scannerGroup, 'pg_monitor']);
 */
export const scannerGroup = 'cis_scanners';

/**
 * The hardened pg_hba.conf: TLS and SCRAM for named users on loopback only, everything else rejected.
 *
 * @example
 * hardenedHba.filter((l) => l.startsWith('hostssl')).length; // 2
 */
export const hardenedHba = [
  '# pgwarden CIS tests: hardened',
  'local   all       postgres                     peer',
  'hostssl postgres  postgres       127.0.0.1/32  scram-sha-256',
  `hostssl postgres  +${scannerGroup}  127.0.0.1/32  scram-sha-256`,
  'host    all       all            0.0.0.0/0     reject',
  'host    all       all            ::/0          reject',
];

/**
 * One misconfiguration: settings (ALTER SYSTEM), pg_hba.conf lines, SQL; each undone by `undo`.
 *
 * @example
 * const trust: Plant = { hbaLines: ['hostssl postgres app 127.0.0.1/32 trust'] };
 */
export interface Plant {
  /** Settings to change (an array for a list setting); null resets one to its default. */
  settings?: Record<string, SettingInput | null>;
  /** Lines inserted into pg_hba.conf before the final reject lines. */
  hbaLines?: string[];
  /** SQL run as the superuser in the scanned database, and the SQL that undoes it. */
  sql?: string;
  undoSql?: string;
}

/**
 * What hardening could not do on these binaries: true findings the tests must accept.
 *
 * @example
 * if (!cluster.limits.pgaudit) accepted['CIS-3.2'] = 'medium';
 */
export interface Limits {
  /** pgaudit is installed and loaded (only the Debian 15 build ships it). */
  pgaudit: boolean;
  /** pg_checksums was available and enabled data checksums. */
  checksums: boolean;
}

/**
 * A setting value; list settings (shared_preload_libraries) take one item per element.
 *
 * @example
 * const libs: SettingInput = ['pg_stat_statements', 'pgaudit'];
 */
export type SettingInput = string | string[];

const literal = (v: SettingInput) => (typeof v === 'string' ? quoteLiteral(v) : v.map(quoteLiteral).join(', '));

const exists = (path: string) =>
  access(path, constants.X_OK).then(
    () => true,
    () => false,
  );

/**
 * A throwaway cluster hardened to the CIS checks pgwarden runs: settings through ALTER SYSTEM,
 * TLS 1.3 with a self-signed certificate, a restrictive pg_hba.conf, pgaudit where installed and
 * data checksums where pg_checksums exists. One per test file; `stop()` removes it.
 *
 * @example
 * const cluster = await HardenedCluster.start();
 * const report = await scanDatabase(cluster.conn(), { only: ['cis'], host: 'off' });
 * const undo = await cluster.plant({ settings: { log_connections: 'off' } });
 * await undo();
 */
export class HardenedCluster {
  #conn!: ConnectionConfig & { port: number };
  #ssl = true;
  readonly #settings: Record<string, SettingInput> = {};

  private constructor(
    readonly root: string,
    readonly cluster: LocalCluster,
    readonly bindir: string,
    readonly limits: Limits,
  ) {}

  /** Creates, hardens and restarts the cluster. */
  static async start(): Promise<HardenedCluster> {
    const root = await mkdtemp(join(tmpdir(), 'pgwarden-cis-'));
    const bindir = process.env.PGWARDEN_PG_BINDIR || resolveEmbeddedBindir();
    const cluster = new LocalCluster({ dataDir: join(root, 'data'), bindir, ephemeral: true });
    const preload = await detectPreloadLibraries(bindir);
    const checksums = await exists(join(bindir, 'pg_checksums'));
    const self = new HardenedCluster(root, cluster, bindir, { pgaudit: preload.includes('pgaudit'), checksums });
    try {
      await cluster.init();
      self.#conn = { ...(await cluster.start()) };
      self.#ssl = false;
      await self.#harden(preload);
      await cluster.stop();
      if (checksums) await self.#asServerUser(join(bindir, 'pg_checksums'), ['--enable', '-D', cluster.dataDir]);
      self.#conn = { ...(await cluster.start()) };
      self.#ssl = true;
      await self.#setModuleSettings();
    } catch (err) {
      await self.stop();
      throw err;
    }
    return self;
  }

  /** Superuser connection to the maintenance database, over TLS while ssl is on. */
  conn(): ConnectionConfig & { port: number } {
    return { ...this.#conn, ssl: this.#ssl ? { rejectUnauthorized: false } : false };
  }

  /** Runs SQL as the superuser (in `database`, default postgres). */
  async sql<T extends pg.QueryResultRow = Record<string, unknown>>(text: string, database = 'postgres'): Promise<T[]> {
    const client = new pg.Client({ ...this.conn(), database });
    await client.connect();
    try {
      return (await client.query<T>(text)).rows;
    } finally {
      await client.end();
    }
  }

  /** The user owning the data directory: the server's OS user. */
  async #owner(): Promise<{ uid: number; gid: number }> {
    const s = await stat(this.cluster.dataDir);
    return { uid: s.uid, gid: s.gid };
  }

  async #asServerUser(file: string, args: string[]): Promise<void> {
    const owner = await this.#owner();
    const asOwner = process.getuid?.() === 0 ? owner : {};
    await run(file, args, {
      ...asOwner,
      cwd: this.cluster.dataDir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' },
    });
  }

  /** A file or directory of the server user's, with a private mode. */
  async #own(path: string, mode: number): Promise<void> {
    const owner = await this.#owner();
    if (process.getuid?.() === 0) await chown(path, owner.uid, owner.gid);
    await chmod(path, mode);
  }

  async #harden(preload: string[]): Promise<void> {
    for (const dir of ['log', 'archive', 'tblspc_temp']) {
      await mkdir(join(this.root, dir));
      await this.#own(join(this.root, dir), 0o700);
    }
    const data = this.cluster.dataDir;
    await run('openssl', [
      'req',
      '-x509',
      '-nodes',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-keyout',
      join(data, 'server.key'),
      '-out',
      join(data, 'server.crt'),
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
    ]);
    await this.#own(join(data, 'server.key'), 0o600);
    await this.#own(join(data, 'server.crt'), 0o600);
    await this.sql(`create role ${scannerGroup} nologin`);
    await this.sql(`create tablespace cis_temp location ${quoteLiteral(join(this.root, 'tblspc_temp'))}`);
    const archive = join(this.root, 'archive');
    Object.assign(this.#settings, {
      shared_preload_libraries: [...preload, 'passwordcheck', 'auth_delay'],
      logging_collector: 'on',
      log_destination: 'stderr',
      log_directory: join(this.root, 'log'),
      log_file_mode: '0600',
      log_truncate_on_rotation: 'on',
      log_connections: 'on',
      log_disconnections: 'on',
      log_error_verbosity: 'verbose',
      log_hostname: 'off',
      log_line_prefix: '%m [%p] db=%d user=%u app=%a client=%h ',
      log_statement: 'ddl',
      log_timezone: 'Etc/UTC',
      log_replication_commands: 'on',
      password_encryption: 'scram-sha-256',
      ssl: 'on',
      ssl_min_protocol_version: 'TLSv1.3',
      authentication_timeout: '30s',
      'auth_delay.milliseconds': '100',
      archive_mode: 'on',
      archive_command: `test ! -f ${archive}/%f && cp %p ${archive}/%f`,
      temp_tablespaces: 'cis_temp',
      ...(preload.includes('pgaudit') ? { 'pgaudit.log': 'ddl, write, role' } : {}),
    });
    for (const [name, value] of Object.entries(this.#settings)) {
      if (!name.includes('.')) await this.sql(`alter system set ${name} = ${literal(value)}`);
    }
    await this.#writeHba(hardenedHba);
  }

  /** Settings of preloaded modules: before 17, ALTER SYSTEM refuses them until the module is loaded. */
  async #setModuleSettings(): Promise<void> {
    const modules = Object.entries(this.#settings).filter(([name]) => name.includes('.'));
    for (const [name, value] of modules) await this.sql(`alter system set ${name} = ${literal(value)}`);
    await this.#reload();
  }

  async #writeHba(lines: string[]): Promise<void> {
    const file = join(this.cluster.dataDir, 'pg_hba.conf');
    await writeFile(file, `${lines.join('\n')}\n`);
    await this.#own(file, 0o600);
  }

  /** Reloads the configuration and waits until new sessions see it (over TLS or not: ssl may have just changed). */
  async #reload(): Promise<void> {
    const loadTime = 'select pg_catalog.pg_conf_load_time()::text as t';
    const [before] = await this.sql<{ t: string }>(loadTime);
    await this.sql('select pg_catalog.pg_reload_conf()');
    for (let i = 0; i < 100; i++) {
      const [now] = await this.sql<{ t: string }>(loadTime).catch(async (err: Error) => {
        // ssl just changed: new sessions need the other mode.
        if (!/SSL|pg_hba\.conf/.test(err.message)) throw err;
        this.#ssl = !this.#ssl;
        return this.sql<{ t: string }>(loadTime);
      });
      if (now?.t !== before?.t) return;
      await sleep(50);
    }
    throw new Error('the server did not reload its configuration within 5 s');
  }

  async #restart(): Promise<void> {
    await this.cluster.stop();
    this.#conn = { ...(await this.cluster.start()) };
  }

  /** ALTER SYSTEM for each setting (null: RESET), then a reload, or a restart when one needs it. */
  async #apply(settings: Record<string, SettingInput | null>): Promise<void> {
    const names = Object.keys(settings);
    const contexts = await this.sql<{ name: string; context: string }>(
      `select name, context from pg_catalog.pg_settings where name in (${names.map(quoteLiteral).join(', ') || 'null'})`,
    );
    for (const [name, value] of Object.entries(settings)) {
      await this.sql(value === null ? `alter system reset ${name}` : `alter system set ${name} = ${literal(value)}`);
    }
    if (contexts.some((c) => c.context === 'postmaster')) await this.#restart();
    else await this.#reload();
    if ('ssl' in settings) this.#ssl = settings.ssl === 'on';
  }

  /**
   * Applies one misconfiguration and returns its undo. hba lines go in first (and ssl = off
   * last), so the plant never locks out the superuser connection the helper itself uses.
   */
  async plant(p: Plant): Promise<() => Promise<void>> {
    const hbaFile = join(this.cluster.dataDir, 'pg_hba.conf');
    const hbaBefore = await readFile(hbaFile, 'utf8');
    if (p.hbaLines) {
      const lines = hbaBefore.trimEnd().split('\n');
      const firstReject = lines.findIndex((l) => /\sreject\s*$/.test(l));
      lines.splice(firstReject < 0 ? lines.length : firstReject, 0, ...p.hbaLines);
      await this.#writeHba(lines);
      await this.#reload();
    }
    const previous: Record<string, SettingInput | null> = {};
    for (const name of Object.keys(p.settings ?? {})) previous[name] = this.#settings[name] ?? null;
    if (p.settings) await this.#apply(p.settings);
    if (p.sql) await this.sql(p.sql);
    return async () => {
      if (p.undoSql) await this.sql(p.undoSql);
      if (p.settings) await this.#apply(previous);
      if (p.hbaLines) {
        await writeFile(hbaFile, hbaBefore);
        await this.#reload();
      }
    };
  }

  /** Creates a login role with a password passwordcheck accepts, a connection limit, in `groups`. */
  async createLogin(name: string, groups: string[]): Promise<ConnectionConfig> {
    const password = `Pw-${Math.random().toString(36).slice(2)}-9x`;
    await this.sql(`create role ${quoteIdent(name)} login connection limit 5 password ${quoteLiteral(password)}`);
    for (const g of groups) await this.sql(`grant ${quoteIdent(g)} to ${quoteIdent(name)}`);
    return { ...this.conn(), user: name, password };
  }

  /** Stops the server and deletes everything. */
  async stop(): Promise<void> {
    await this.cluster.stop().catch(() => undefined);
    await rm(this.root, { recursive: true, force: true });
  }
}

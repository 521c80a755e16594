import { randomBytes } from 'node:crypto';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { writeFileAtomic } from './atomic-write.js';
import { assertBinaries, detectPreloadLibraries, readServerMajor, resolveEmbeddedBindir } from './binaries.js';
import type { ClusterConnection, ClusterStatus, LocalClusterOptions } from './cluster-options.js';
import { readClusterState, stateFileOf, writeClusterState } from './cluster-state.js';
import { prepareDataDir, type ServerUser } from './data-dir.js';
import { findFreePort } from './free-port.js';
import { ensureSettingsInclude, runInitdb } from './initdb.js';
import { fileSize, readSince, tailLines } from './log-tail.js';
import { ensureOsUser, type OsIdentity } from './os-user.js';
import { type PgCtlTarget, pgCtlStart, pgCtlStop } from './pg-ctl.js';
import { readPostmasterPid } from './postmaster-pid.js';
import { isProcessAlive, isZombie } from './process-alive.js';
import { buildSettings, renderSettings, SETTINGS_FILE } from './server-settings.js';
import { assertTraversable } from './traversable.js';

const DEFAULT_SUPERUSER = 'postgres';
const DEFAULT_OS_USER = 'postgres';
/** One try plus three retries when another process grabs the free port first. */
const START_ATTEMPTS = 4;
const PORT_TAKEN = /could not bind IPv[46] address|Address already in use|could not create any TCP\/IP sockets/;
/** Backends of a SIGKILLed postmaster can hold its shared memory for a moment. */
const MEMORY_BUSY = /pre-existing shared memory block .* is still in use/;
/** Another process started the server on this data directory at the same moment. */
const LOCK_TAKEN = /lock file "postmaster\.pid" (already exists|is empty)/;
/** pg_ctl's message when its own postmaster did not become ready within the timeout. */
const START_TIMED_OUT = /did not start in time/;
const SETTLE_TIMEOUT_MS = 60_000;

/**
 * A PostgreSQL cluster on this machine, driven through initdb, pg_ctl and postgres. Any process
 * that knows the data directory can find it again: the server's state lives in the data
 * directory, the connection details in `cluster.json` beside it (mode 0600).
 *
 * @example
 * const cluster = new LocalCluster({ dataDir: '/var/tmp/pgwarden/data' });
 * const conn = await cluster.start(); // { host: '127.0.0.1', port: 41873, user: 'postgres', … }
 * // … later, maybe in another process:
 * await new LocalCluster({ dataDir: '/var/tmp/pgwarden/data' }).stop();
 */
export class LocalCluster {
  /** Absolute, normalised data directory. */
  readonly dataDir: string;
  /** Path of the server log file, beside the data directory. */
  readonly logFile: string;
  readonly #options: LocalClusterOptions;

  constructor(options: LocalClusterOptions) {
    if (!isAbsolute(options.dataDir)) {
      throw new PgwardenError(
        ErrorCodes.EMBEDDED_DIR_UNUSABLE,
        `The data directory must be an absolute path, got "${options.dataDir}"`,
      );
    }
    this.#options = options;
    this.dataDir = resolve(options.dataDir);
    this.logFile = join(dirname(this.dataDir), 'server.log');
  }

  /**
   * Creates the cluster if the data directory is missing or empty; otherwise only checks that
   * it was made by the same major version as the binaries (PW154) and is ready for pgwarden.
   *
   * @example
   * await new LocalCluster({ dataDir }).init();
   */
  async init(): Promise<void> {
    const bindir = this.#bindir();
    await assertBinaries(bindir);
    const major = await this.serverMajor();
    const user = await this.#serverUser();
    if (user) await this.#assertBinariesReachable(bindir, user);
    await prepareDataDir(this.dataDir, this.logFile, user);
    const version = await readFile(join(this.dataDir, 'PG_VERSION'), 'utf8').catch(() => undefined);
    if (version !== undefined) {
      this.#assertSameMajor(version.trim(), major, bindir);
      await ensureSettingsInclude(this.dataDir, user);
      return;
    }
    if ((await readdir(this.dataDir)).length > 0) {
      throw new PgwardenError(
        ErrorCodes.EMBEDDED_DIR_UNUSABLE,
        `${this.dataDir} is not empty and is not a PostgreSQL data directory`,
        { hint: 'choose an empty or missing directory for the data directory' },
      );
    }
    const superuser = this.#options.superuser ?? DEFAULT_SUPERUSER;
    const password = this.#options.password ?? randomBytes(24).toString('base64url');
    this.#log(`initialising a PostgreSQL ${major} cluster in ${this.dataDir}`);
    await runInitdb({
      bindir,
      dataDir: this.dataDir,
      superuser,
      password,
      user,
      ephemeral: this.#options.ephemeral,
      onLog: this.#options.onLog,
    });
    await ensureSettingsInclude(this.dataDir, user);
    await writeClusterState(this.dataDir, { superuser, password, bindir });
  }

  /**
   * Starts the server unless one already runs on this data directory, in which case it attaches
   * to it. Initialises the cluster first when needed.
   *
   * @example
   * const pool = new pg.Pool(await cluster.start());
   */
  async start(): Promise<ClusterConnection> {
    if ((await this.#settledStatus()).running) return this.connection();
    await this.init();
    const bindir = this.#bindir();
    const user = await this.#serverUser();
    const state = await readClusterState(this.dataDir);
    const superuser = this.#options.superuser ?? state?.superuser ?? DEFAULT_SUPERUSER;
    const password = this.#options.password ?? state?.password;
    if (password === undefined) {
      throw new PgwardenError(
        ErrorCodes.EMBEDDED_START_FAILED,
        'The superuser password of this existing cluster is unknown',
        {
          detail: `${stateFileOf(this.dataDir)} is missing or unreadable`,
          hint: 'pass the password option, or remove the data directory to create a new cluster',
        },
      );
    }
    await this.#clearZombieLock();
    const preload = await detectPreloadLibraries(bindir);
    const target: PgCtlTarget = { bindir, dataDir: this.dataDir, user, onLog: this.#options.onLog };
    for (let attempt = 1; ; attempt++) {
      const port = this.#options.port ?? (await findFreePort());
      const failure = await this.#startOnce(target, port, preload);
      if (failure === undefined) {
        await writeClusterState(this.dataDir, { superuser, password, port, bindir });
        return { host: '127.0.0.1', port, user: superuser, password, database: 'postgres' };
      }
      if (LOCK_TAKEN.test(failure) && (await this.#settledStatus()).running) {
        return this.connection();
      }
      const portTaken = this.#options.port === undefined && PORT_TAKEN.test(failure);
      const memoryBusy = MEMORY_BUSY.test(failure);
      if (attempt >= START_ATTEMPTS || !(portTaken || memoryBusy)) {
        throw new PgwardenError(ErrorCodes.EMBEDDED_START_FAILED, `PostgreSQL did not start on ${this.dataDir}`, {
          detail: tailLines(failure, 20),
          hint: `see ${this.logFile} for the full server log`,
        });
      }
      this.#log(portTaken ? `port ${port} was taken; retrying` : 'shared memory busy; retrying');
      if (memoryBusy) await sleep(500);
    }
  }

  /**
   * Stops the server (fast shutdown) if one runs; works from any process knowing `dataDir`.
   *
   * @example
   * await new LocalCluster({ dataDir }).stop();
   */
  async stop(): Promise<void> {
    if (!(await this.status()).running) return;
    const target: PgCtlTarget = {
      bindir: await this.#stopBindir(),
      dataDir: this.dataDir,
      user: await this.#dataDirOwner(),
      onLog: this.#options.onLog,
    };
    const result = await pgCtlStop(target, 'fast');
    if (result.code !== 0 && (await this.status()).running) {
      throw new PgwardenError(
        ErrorCodes.EMBEDDED_START_FAILED,
        `Could not stop the PostgreSQL server on ${this.dataDir}`,
        { detail: tailLines(result.output, 20), hint: `see ${this.logFile}` },
      );
    }
  }

  /**
   * Whether a live postmaster owns the data directory, with its pid and port.
   *
   * @example
   * if (!(await cluster.status()).running) await cluster.start();
   */
  async status(): Promise<ClusterStatus> {
    const info = await readPostmasterPid(this.dataDir);
    if (!info || !(await isProcessAlive(info.pid))) return { running: false };
    return info.port === undefined
      ? { running: true, pid: info.pid }
      : { running: true, pid: info.pid, port: info.port };
  }

  /**
   * Connection details of the running cluster; PW153 when none runs.
   *
   * @example
   * const client = new pg.Client(await new LocalCluster({ dataDir }).connection());
   */
  async connection(): Promise<ClusterConnection> {
    const current = await this.status();
    if (!current.running) {
      throw new PgwardenError(ErrorCodes.EMBEDDED_NOT_RUNNING, `No PostgreSQL server is running on ${this.dataDir}`, {
        hint: 'start it first (pgwarden up)',
      });
    }
    const state = await readClusterState(this.dataDir);
    const password = this.#options.password ?? state?.password;
    const port = current.port ?? state?.port;
    if (password === undefined || port === undefined) {
      throw new PgwardenError(
        ErrorCodes.EMBEDDED_NOT_RUNNING,
        `A server runs on ${this.dataDir} but its connection details are unknown`,
        {
          detail: `${stateFileOf(this.dataDir)} is missing or unreadable by this user`,
          hint: 'run as the user that started the cluster, or pass the password option',
        },
      );
    }
    const user = this.#options.superuser ?? state?.superuser ?? DEFAULT_SUPERUSER;
    return { host: '127.0.0.1', port, user, password, database: 'postgres' };
  }

  /**
   * Major version of the configured binaries, from `postgres --version`.
   *
   * @example
   * await new LocalCluster({ dataDir }).serverMajor(); // 17
   */
  serverMajor(): Promise<number> {
    return readServerMajor(this.#bindir());
  }

  #bindir(): string {
    return this.#options.bindir ?? resolveEmbeddedBindir();
  }

  /** For stop: fall back to the recorded bindir so a cluster of system binaries can be stopped. */
  async #stopBindir(): Promise<string> {
    try {
      return this.#bindir();
    } catch (err) {
      const recorded = (await readClusterState(this.dataDir))?.bindir;
      if (recorded === undefined) throw err;
      return recorded;
    }
  }

  /** The server's OS user when we are root; PostgreSQL refuses to run as root. */
  async #serverUser(): Promise<ServerUser | undefined> {
    if (process.getuid?.() !== 0) return undefined;
    const name = this.#options.osUser ?? DEFAULT_OS_USER;
    return { name, ...(await ensureOsUser(name)) };
  }

  /** For stop: whoever owns the data directory runs the server, whatever options say. */
  async #dataDirOwner(): Promise<OsIdentity | undefined> {
    if (process.getuid?.() !== 0) return undefined;
    const stats = await stat(this.dataDir);
    return stats.uid === 0 ? undefined : { uid: stats.uid, gid: stats.gid };
  }

  async #assertBinariesReachable(bindir: string, user: ServerUser): Promise<void> {
    await assertTraversable(bindir, user, {
      code: ErrorCodes.EMBEDDED_BINARIES_MISSING,
      subject: `the PostgreSQL binaries in ${bindir}`,
      hint: 'install pgwarden where that user can reach it, or set bindir to a system PostgreSQL (pg_config --bindir)',
    });
  }

  #assertSameMajor(dirVersion: string, major: number, bindir: string): void {
    if (dirVersion === String(major)) return;
    throw new PgwardenError(
      ErrorCodes.EMBEDDED_VERSION_MISMATCH,
      `${this.dataDir} was created by PostgreSQL ${dirVersion}, but ${bindir} holds PostgreSQL ${major}`,
      {
        hint: `set bindir to PostgreSQL ${dirVersion} binaries, upgrade the cluster (pg_upgrade, or dump and restore), or use a new data directory`,
      },
    );
  }

  /** One pg_ctl start on `port`; undefined on success, else the log lines explaining why not. */
  async #startOnce(target: PgCtlTarget, port: number, preload: string[]): Promise<string | undefined> {
    const settings = buildSettings({
      port,
      preload,
      ephemeral: this.#options.ephemeral,
      extra: this.#options.settings,
    });
    await writeFileAtomic(join(this.dataDir, SETTINGS_FILE), renderSettings(settings), {
      mode: 0o600,
      owner: target.user,
    });
    const offset = await fileSize(this.logFile);
    this.#log(`starting PostgreSQL on 127.0.0.1:${port}`);
    const result = await pgCtlStart(target, this.logFile, port);
    if (result.code === 0) return undefined;
    // A server that did not become ready in time must not linger behind a failed start. Only
    // then: after any other failure the pid file may belong to someone else's server.
    if (START_TIMED_OUT.test(result.output)) await pgCtlStop(target, 'immediate');
    const log = await readSince(this.logFile, offset);
    return log.trim() === '' ? result.output : `${log}\n${tailLines(result.output, 3)}`;
  }

  /**
   * A postmaster killed with SIGKILL stays a zombie until its parent reaps it, and where PID 1
   * does not reap promptly (containers, VMs) PostgreSQL's lock check still sees that pid as
   * alive and refuses to start. A zombie has exited for good, so its lock file is stale; and
   * PostgreSQL still refuses to start while surviving backends hold the old shared memory.
   */
  async #clearZombieLock(): Promise<void> {
    const info = await readPostmasterPid(this.dataDir);
    if (!info || !(await isZombie(info.pid))) return;
    this.#log('removing postmaster.pid left by a killed server');
    await rm(join(this.dataDir, 'postmaster.pid'), { force: true });
  }

  /** Waits out a server that is still starting or stopping, so start() sees a settled state. */
  async #settledStatus(): Promise<ClusterStatus> {
    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    for (;;) {
      const info = await readPostmasterPid(this.dataDir);
      if (!info || !(await isProcessAlive(info.pid))) return { running: false };
      const settled = info.status === 'ready' || info.status === 'standby';
      if (settled || Date.now() > deadline) return this.status();
      await sleep(100);
    }
  }

  #log(line: string): void {
    this.#options.onLog?.(`pgwarden: ${line}`);
  }
}

import { readFile, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { loadMasterKey } from '../../auth/index.js';
import {
  type CaptureService,
  setupWalCapture,
  startWalCaptureService,
  walCaptureSlot,
} from '../../audit/capture/index.js';
import {
  configuredWitnesses,
  initLedger,
  openLedgerSigners,
  type SealerService,
  startSealerService,
} from '../../audit/ledger/index.js';
import type { PgwardenConfig } from '../../config/index.js';
import { configuredContextKey, registerContextKey } from '../../context/context-keys.js';
import type { DatabaseHandle } from '../../db/index.js';
import type { Logger } from '../../logger/index.js';
import { withClient } from '../../db/index.js';
import { writeFileAtomic } from '../../db/embedded/atomic-write.js';
import { isProcessAlive } from '../../db/embedded/process-alive.js';
import { withLifecycleLock } from '../../db/embedded-lifecycle.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { getStatus } from '../../install/index.js';
import { createLogger } from '../../logger/index.js';
import { type CliContext, configFor, type GlobalFlags, withDatabase } from '../context.js';
import { paint } from '../output.js';
import { psqlHint } from '../psql-hint.js';
import { startMonitorServer, type MonitorServer } from '../../monitor/monitor-server.js';
import { logMonitorEvent, secretResolver } from './monitor.js';
import { startAuthFor, untilStopped } from './serve.js';

/** File holding the pid of the running `pgwarden up`, so `pgwarden down` can stop it cleanly. */
export const upPidFile = (cwd: string, dir: string): string => join(resolve(cwd, dir), 'up.pid');

/**
 * `pgwarden up`: starts the embedded PostgreSQL (unless a database is configured) and pgwarden's
 * services in the foreground until Ctrl-C, SIGTERM or `pgwarden down`, then stops them cleanly.
 * PW155 when another `pgwarden up` already runs on the same embedded directory.
 */
export async function upCommand(ctx: CliContext, flags: GlobalFlags): Promise<number> {
  const config = await configFor(ctx, flags);
  const { output } = ctx;
  // Structured events (JSON lines, secrets redacted) go to stderr; the human summary to stdout.
  const log = createLogger({ level: config.log.level, name: 'pgwarden-up' });
  return withDatabase(ctx, config, async (db) => {
    const pidFile = upPidFile(ctx.cwd, config.embedded.dir);
    if (db.cluster) await claimUpPidFile(pidFile);
    try {
      const status = await withClient(db.connection, (c) =>
        getStatus(c, { rolePrefix: config.install.rolePrefix, tier: config.install.tier }),
      );
      const installedModules = new Set(status.modules.filter((m) => m.installedVersion > 0).map((m) => m.module));
      // The auth API runs once the auth module is installed; before that, up serves the database only.
      const auth = installedModules.has('auth') ? await startAuthFor(ctx, config, db, log) : undefined;
      // The auth API has loaded (or created) the master key: make sure the request-context key
      // derived from it is known to the database. Needs the owner's rights; a login without
      // them gets a warning and `pgwarden keys context` to run as the installer.
      if (auth) {
        const key = await configuredContextKey(config, ctx.cwd);
        if (key) {
          await withClient(db.connection, (c) => registerContextKey(c, key)).catch((err: unknown) =>
            log.warn(
              { kind: 'context-key-unregistered', error: err instanceof Error ? err.message : String(err) },
              'could not register the request-context key; run `pgwarden keys context` as the installing role',
            ),
          );
        }
      }
      // WAL capture runs once the audit module is installed, where the server allows it.
      const capture = installedModules.has('audit') ? await startCaptureFor(config, db, log) : undefined;
      // The ledger sealer runs once the ledger module is installed (and sealing is not turned off).
      const sealer =
        installedModules.has('ledger') && config.ledger.sealIntervalMs > 0
          ? await startSealerFor(ctx, config, db, log)
          : undefined;
      // The security monitor runs once its module is installed (and it is not switched off).
      const monitor =
        installedModules.has('monitor') && config.monitor.enabled
          ? await startMonitorServer({
              config,
              connection: db.connection,
              cwd: ctx.cwd,
              secrets: secretResolver(ctx),
              onEvent: (event) => logMonitorEvent(log, event),
            }).catch(async (err: unknown) => {
              await capture?.close();
              await sealer?.close();
              await auth?.close();
              throw err;
            })
          : undefined;
      try {
        const ready = {
          kind: 'up-ready',
          database: db.description,
          embedded: Boolean(db.cluster),
          installed: status.installed ? status.tier : null,
          server: status.server.version,
          auth: auth?.url ?? null,
          sealer: sealer ? { intervalMs: config.ledger.sealIntervalMs } : null,
          walCapture: capture ? { intervalMs: config.audit.captureIntervalMs } : null,
          monitor: monitor ? monitorSummary(monitor) : null,
        };
        log.info(ready, 'pgwarden up is ready');
        if (output.json) output.out(JSON.stringify(ready));
        else {
          output.out(`${paint(output, 'green', 'up')}: ${db.description} (PostgreSQL ${status.server.version})`);
          if (db.cluster) output.out(`  psql:  ${psqlHint(config.embedded.dir, db.connection, config.database.name)}`);
          output.out(
            `  pgwarden: ${status.installed ? `tier ${status.tier} installed` : 'not installed yet — run `pgwarden install` in another terminal'}`,
          );
          if (auth) output.out(`  auth API: ${auth.url}  (JWKS ${auth.url}/.well-known/jwks.json)`);
          if (capture) output.out(`  audit: WAL capture every ${config.audit.captureIntervalMs / 1000} s`);
          if (sealer) output.out(`  ledger: sealing every ${config.ledger.sealIntervalMs / 1000} s`);
          if (monitor)
            output.out(
              `  monitor: ${monitor.rules} rules, ${monitor.dashboard ? `dashboard ${monitor.url}/, ` : ''}metrics ${monitor.url}/metrics`,
            );
          output.out('  Ctrl-C or `pgwarden down` stops it.');
        }
        await untilStopped(ctx);
      } finally {
        // The monitor first (it reads what the others write), then the last capture pass, so
        // the last seal covers what it applied.
        await monitor?.close();
        await capture?.close();
        await sealer?.close();
        await auth?.close();
      }
      log.info({ kind: 'up-stopping', reason: 'signal' }, 'pgwarden up is stopping');
      if (!output.json) output.out('stopping…');
      else output.out(JSON.stringify({ kind: 'up-stopping' }));
      return 0;
    } finally {
      if (db.cluster) await rm(pidFile, { force: true });
    }
  });
}

/**
 * Records this process in up.pid, refusing (PW155) while another `pgwarden up` runs there.
 * Under the lifecycle lock, so of two `up`s started together exactly one gets it.
 */
async function claimUpPidFile(pidFile: string): Promise<void> {
  await withLifecycleLock(dirname(pidFile), async () => {
    const running = await readUpPid(pidFile);
    if (running !== undefined) {
      throw new PgwardenError(ErrorCodes.EMBEDDED_ALREADY_UP, `pgwarden up already runs here (pid ${running})`, {
        hint: 'use the running one, or stop it first with `pgwarden down`',
      });
    }
    // up.pid decides whom `down` signals: never written through a planted symlink.
    await writeFileAtomic(pidFile, `${process.pid}\n`, { mode: 0o600 });
  });
}

/**
 * Whether `pid` is a `pgwarden up`, not a process that reused the pid of one killed without
 * cleaning up. On Linux its command line must be node running pgwarden's launcher with the `up`
 * command; elsewhere only liveness can be checked.
 */
async function isPgwardenUp(pid: number): Promise<boolean> {
  if (!(await isProcessAlive(pid))) return false;
  if (process.platform !== 'linux') return true;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  const [exe = '', ...args] = cmdline?.split('\0') ?? [];
  // bin/pgwarden.js, or the `pgwarden` shim npm links to it.
  const script = args.findIndex((a) => /^pgwarden(\.js)?$/.test(basename(a)));
  return basename(exe).startsWith('node') && script >= 0 && args.slice(script + 1).includes('up');
}

const readUpPid = async (pidFile: string): Promise<number | undefined> => {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => undefined))?.trim());
  return Number.isInteger(pid) && (await isPgwardenUp(pid)) ? pid : undefined;
};

/**
 * The pid of the `pgwarden up` running on this embedded directory, if up.pid names one that
 * really is (a stale file may name a process that reused the pid: never signal that one).
 *
 * @example
 * const pid = await runningUpPid(process.cwd(), '.pgwarden');
 */
export function runningUpPid(cwd: string, dir: string): Promise<number | undefined> {
  return readUpPid(upPidFile(cwd, dir));
}

/**
 * Starts the ledger sealer: sets the ledger up on first use (keys sealed under the master key),
 * then seals every `ledger.sealIntervalMs` and pushes checkpoints to the configured witnesses.
 */
async function startSealerFor(
  ctx: CliContext,
  config: PgwardenConfig,
  db: DatabaseHandle,
  log: Logger,
): Promise<SealerService | undefined> {
  try {
    const masterKey = await loadMasterKey(config, ctx.cwd);
    const witnesses = await withClient(db.connection, async (c) => {
      await initLedger(c, {
        masterKey,
        hybrid: config.ledger.hybrid,
        ...(config.ledger.origin ? { origin: config.ledger.origin } : {}),
      });
      return configuredWitnesses(config, await openLedgerSigners(c, masterKey), ctx.cwd);
    });
    return startSealerService({
      connection: db.connection,
      masterKey,
      intervalMs: config.ledger.sealIntervalMs,
      batchSize: config.ledger.batchSize,
      witnesses,
      log,
    });
  } catch (err) {
    log.warn(
      { kind: 'ledger-sealer-not-started', error: err instanceof Error ? err.message : String(err) },
      'the ledger sealer did not start; run `pgwarden audit keys init` and `pgwarden audit seal` to see why',
    );
    return undefined;
  }
}

/**
 * Sets WAL capture up (once; idempotent) when configured and the server allows it, and starts
 * applying the log every `audit.captureIntervalMs`. Where it cannot (wal_level is not logical, no
 * REPLICATION attribute) tables keep trigger capture, and the reason is logged once.
 */
async function startCaptureFor(
  config: PgwardenConfig,
  db: DatabaseHandle,
  log: Logger,
): Promise<CaptureService | undefined> {
  if (config.audit.captureIntervalMs === 0) return undefined;
  try {
    const slot = await withClient(db.connection, async (c) =>
      config.audit.walCapture ? (await setupWalCapture(c)).slot : walCaptureSlot(c),
    );
    if (slot === null) return undefined;
    return startWalCaptureService({ connection: db.connection, intervalMs: config.audit.captureIntervalMs, log });
  } catch (err) {
    const e = err as { code?: string; message?: string; hint?: string };
    log.info(
      { kind: 'wal-capture-unavailable', code: e.code, error: e.message, hint: e.hint },
      'WAL capture is not available here; audited tables use trigger capture',
    );
    return undefined;
  }
}

/** What `up-ready` says about the monitor (never a secret: sink names only). */
function monitorSummary(monitor: MonitorServer) {
  return {
    url: monitor.url,
    rules: monitor.rules,
    sinks: monitor.sinks,
    dashboard: monitor.dashboard,
    serverLog: monitor.serverLog.mode === 'off' ? { mode: 'off', reason: monitor.serverLog.reason } : monitor.serverLog,
  };
}

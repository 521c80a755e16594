import { configError, loadConfig, type PgwardenConfig } from '../config/index.js';
import type { PlainObject } from '../config/sources.js';
import { type DatabaseHandle, openDatabase } from '../db/index.js';
import type { Output } from './output.js';

/** Global flags every command accepts. */
export interface GlobalFlags {
  databaseUrl?: string;
  config?: string;
  json?: boolean;
  rolePrefix?: string;
  dataDir?: string;
  logLevel?: string;
}

/** What a command runs with: the process' world, passed in so commands stay testable. */
export interface CliContext {
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  output: Output;
  /** Aborted on the first SIGINT/SIGTERM; commands stop at a safe point. */
  signal: AbortSignal;
}

/** Flags shaped like the config, so they join the pipeline as its last layer. */
export function flagsToConfig(flags: GlobalFlags, extra: PlainObject = {}): PlainObject {
  return {
    database: { url: flags.databaseUrl },
    embedded: { dir: flags.dataDir },
    install: { rolePrefix: flags.rolePrefix, ...((extra.install as PlainObject) ?? {}) },
    log: { level: flags.logLevel },
    auth: { ...((extra.auth as PlainObject) ?? {}) },
    check: { ...((extra.check as PlainObject) ?? {}) },
    monitor: { ...((extra.monitor as PlainObject) ?? {}) },
  };
}

/** Loads the effective config or throws PW100 listing every bad key. */
export async function configFor(ctx: CliContext, flags: GlobalFlags, extra: PlainObject = {}): Promise<PgwardenConfig> {
  const result = await loadConfig({
    cwd: ctx.cwd,
    env: ctx.env,
    configPath: flags.config,
    flags: flagsToConfig(flags, extra),
  });
  if (!result.ok) throw configError(result.issues);
  return result.config;
}

/** Opens the configured database (starting the embedded cluster on demand), runs fn, closes. */
export async function withDatabase<T>(
  ctx: CliContext,
  config: PgwardenConfig,
  fn: (db: DatabaseHandle) => Promise<T>,
  options: { database?: string } = {},
): Promise<T> {
  const db = await openDatabase(config, { cwd: ctx.cwd, env: ctx.env, database: options.database });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

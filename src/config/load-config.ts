import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { configSchema, type PgwardenConfig } from './schema.js';
import { configFromEnv, mergeConfig, type PlainObject, readConfigFile } from './sources.js';

/** One problem found while validating the effective config. */
export interface ConfigIssue {
  /** Dotted key path, e.g. `install.tier`. */
  path: string;
  message: string;
  /** Where the offending value came from: a file path, `env` or `flags`. */
  source: string;
}

export type ConfigResult =
  | { ok: true; config: PgwardenConfig; file: string | undefined }
  | { ok: false; issues: ConfigIssue[]; file: string | undefined };

/** Inputs of the config pipeline. The library never reads `process.env` itself: pass it in. */
export interface LoadConfigOptions {
  cwd: string;
  env?: Readonly<Record<string, string | undefined>>;
  /** Explicit config file (`--config`); when absent the default names are tried in `cwd`. */
  configPath?: string | undefined;
  /** Values from command-line flags, already shaped like the config. */
  flags?: PlainObject;
}

/** Section → keys, read off the schema, so env mapping never falls behind the schema. */
export function configKeys(): Record<string, readonly string[]> {
  const shape = configSchema.shape;
  return Object.fromEntries(
    Object.entries(shape).map(([section, sectionSchema]) => {
      const inner = (sectionSchema as unknown as { unwrap(): { shape: object } }).unwrap();
      return [section, Object.keys(inner.shape)];
    }),
  );
}

/**
 * Builds the effective config: defaults < config file < `PGWARDEN_*` env < flags, validated by one
 * schema. Problems come back as data with the key path and the source of the bad value.
 *
 * @example
 * const result = await loadConfig({ cwd: process.cwd(), env: process.env, flags: { install: { tier: 'basic' } } });
 * if (!result.ok) for (const i of result.issues) console.error(`${i.path}: ${i.message}`);
 */
export async function loadConfig(options: LoadConfigOptions): Promise<ConfigResult> {
  const file = await readConfigFile(options.cwd, options.configPath);
  const fromFile = file?.data ?? {};
  const fromEnv = configFromEnv(options.env ?? {}, configKeys());
  const fromFlags = options.flags ?? {};
  const merged = mergeConfig(fromFile, fromEnv, fromFlags);
  const parsed = configSchema.safeParse(merged);
  if (parsed.success) return { ok: true, config: parsed.data, file: file?.path };
  const issues = parsed.error.issues.map((issue) => {
    const keys = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') keys.push(...issue.keys);
    const path = keys.join('.') || '(root)';
    const source = [
      ['flags', fromFlags],
      ['env', fromEnv],
      [file?.path ?? 'file', fromFile],
    ].find(([, data]) => hasPath(data as PlainObject, keys))?.[0] as string | undefined;
    return { path, message: issue.message, source: source ?? 'defaults' };
  });
  return { ok: false, issues, file: file?.path };
}

/** Like `loadConfig`, but throws PW100 with every issue in `detail`. */
export async function loadConfigOrThrow(options: LoadConfigOptions): Promise<PgwardenConfig> {
  const result = await loadConfig(options);
  if (result.ok) return result.config;
  throw configError(result.issues);
}

/** The PW100 error for a list of issues, one line per key path. */
export function configError(issues: readonly ConfigIssue[]): PgwardenError {
  const first = issues[0];
  return new PgwardenError(
    ErrorCodes.CONFIG_INVALID,
    first ? `invalid config: ${first.path}: ${first.message} (from ${first.source})` : 'invalid config',
    {
      detail:
        issues.length > 1 ? issues.map((i) => `${i.path}: ${i.message} (from ${i.source})`).join('\n') : undefined,
      hint: 'fix the key in the named source; `pgwarden config --print` shows the effective config',
    },
  );
}

function hasPath(data: PlainObject, keys: string[]): boolean {
  let cur: unknown = data;
  for (const key of keys) {
    if (typeof cur !== 'object' || cur === null || !(key in cur)) return false;
    cur = (cur as PlainObject)[key];
  }
  return true;
}

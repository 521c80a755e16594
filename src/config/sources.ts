import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ErrorCodes, PgwardenError } from '../errors/index.js';

/** Config file names looked up, in order, in the working directory. */
export const configFileNames = ['pgwarden.config.json', 'pgwarden.config.yaml', 'pgwarden.config.yml'] as const;

export type PlainObject = { [key: string]: unknown };

/** A loaded config file: its path and parsed content. */
export interface ConfigFile {
  path: string;
  data: PlainObject;
}

/**
 * Reads the config file at `path`, or the first of `configFileNames` found in `cwd`.
 * Returns undefined when no file exists and none was named.
 */
export async function readConfigFile(cwd: string, path?: string): Promise<ConfigFile | undefined> {
  const candidates = path ? [path] : configFileNames.map((name) => join(cwd, name));
  for (const candidate of candidates) {
    let text: string;
    try {
      text = await readFile(candidate, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !path) continue;
      throw new PgwardenError(ErrorCodes.CONFIG_UNREADABLE, `cannot read config file ${candidate}`, {
        detail: (err as Error).message,
        hint: 'check the path given with --config',
      });
    }
    return { path: candidate, data: parseConfigText(candidate, text) };
  }
  return undefined;
}

function parseConfigText(path: string, text: string): PlainObject {
  let data: unknown;
  try {
    data = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new PgwardenError(ErrorCodes.CONFIG_UNREADABLE, `cannot parse config file ${path}`, {
      detail: (err as Error).message.split('\n')[0],
      hint: path.endsWith('.json') ? 'the file must be valid JSON' : 'the file must be valid YAML',
    });
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new PgwardenError(ErrorCodes.CONFIG_UNREADABLE, `config file ${path} must hold an object`);
  }
  return data as PlainObject;
}

const camelToEnv = (key: string): string => key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

/**
 * Reads `PGWARDEN_<SECTION>_<KEY>` variables for every key of `shape` (two levels), e.g.
 * `PGWARDEN_INSTALL_ROLE_PREFIX` → `install.rolePrefix`. `DATABASE_URL` feeds `database.url`
 * below `PGWARDEN_DATABASE_URL`, as libpq-style tools expect.
 */
export function configFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  shape: Record<string, readonly string[]>,
): PlainObject {
  const out: Record<string, PlainObject> = {};
  for (const [section, keys] of Object.entries(shape)) {
    for (const key of keys) {
      const value = env[`PGWARDEN_${camelToEnv(section)}_${camelToEnv(key)}`];
      if (value === undefined || value === '') continue;
      out[section] ??= {};
      (out[section] as PlainObject)[key] = value;
    }
  }
  const dbUrl = env.DATABASE_URL;
  if (dbUrl && !(out.database as PlainObject | undefined)?.url) {
    out.database ??= {};
    (out.database as PlainObject).url = dbUrl;
  }
  return out;
}

/** Deep-merges plain objects; later sources win; `undefined` values are ignored. */
export function mergeConfig(...sources: PlainObject[]): PlainObject {
  const out: PlainObject = {};
  for (const source of sources) {
    for (const [key, value] of Object.entries(source)) {
      if (value === undefined) continue;
      const existing = out[key];
      out[key] = isPlain(value) && isPlain(existing) ? mergeConfig(existing, value) : structuredClone(value);
    }
  }
  return out;
}

const isPlain = (v: unknown): v is PlainObject => typeof v === 'object' && v !== null && !Array.isArray(v);

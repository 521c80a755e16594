import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { ConnectionConfig } from '../db/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import type { ScanOptions } from './run-scan.js';

/** Scan settings a targets file may set per target (or under `defaults`). */
export type FleetScanOverrides = Pick<ScanOptions, 'exposedSchemas' | 'dbaRoles' | 'only' | 'skip'>;

/** One database of a fleet, ready to scan. */
export interface FleetTarget {
  /** Unique label: letters, digits, `.`, `_`, `-` (safe in file names and metric labels). */
  name: string;
  /** Where and as whom to connect; the password comes from the environment, never the file. */
  connection: ConnectionConfig;
  /** `postgresql://user@host:port/database`, without a password, for output. */
  description: string;
  /** Per-target scan settings (file `defaults` merged in); they win over scanFleet's options. */
  options?: FleetScanOverrides;
}

/** A parsed targets file. */
export interface FleetFile {
  targets: FleetTarget[];
  /** `defaults.concurrency` of the file, when set (a command-line flag should win over it). */
  concurrency?: number;
}

const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
const noPasswordMessage = (where: string) =>
  `${where} holds a literal password: a targets file is meant for git, so name an environment variable with passwordEnv, or use PGPASSWORD/.pgpass`;
const noPassword = z.never({ error: noPasswordMessage('password') });
const words = z.array(z.string().min(1));
const shared = {
  exposedSchemas: words.optional(),
  dbaRoles: words.optional(),
  only: words.optional(),
  skip: words.optional(),
  passwordEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
    .optional(),
  ssl: z.enum(['disable', 'require', 'verify-full']).optional(),
  connectTimeoutMs: z.number().int().positive().optional(),
  password: noPassword.optional(),
};
const urlParams = new Set(['sslmode', 'host', 'port', 'connect_timeout', 'options']);

const targetSchema = z
  .object({
    name: z.string().regex(namePattern, 'letters, digits, ".", "_" and "-", at most 100 characters'),
    url: z.string().optional(),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    database: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    ...shared,
  })
  .strict()
  .superRefine((t, ctx) => {
    const issue = (message: string, path: string[] = []) => ctx.addIssue({ code: 'custom', message, path });
    if (t.url === undefined) {
      if (t.host === undefined) issue('give url, or host with database and user');
      for (const key of ['database', 'user'] as const)
        if (t[key] === undefined) issue(`${key} is required with host`, [key]);
      return;
    }
    if (t.host !== undefined || t.port !== undefined || t.database !== undefined || t.user !== undefined) {
      issue('give either url or host/port/database/user, not both');
    }
    const url = parseUrl(t.url);
    if (!url) return issue('expected a postgresql://user@host:port/database URL', ['url']);
    if (url.password !== '' || url.searchParams.has('password')) return issue(noPasswordMessage('the URL'), ['url']);
    for (const key of url.searchParams.keys()) {
      if (!urlParams.has(key))
        issue(`URL parameter ${key} is not supported here (supported: ${[...urlParams].join(', ')})`, ['url']);
    }
    if (!url.username || url.pathname.length < 2) issue('the URL must name the user and the database', ['url']);
    if (!url.hostname && !url.searchParams.has('host')) issue('the URL must name the host', ['url']);
    if (url.hostname.includes(',')) issue('one host per target (list each server as its own target)', ['url']);
    const mode = url.searchParams.get('sslmode');
    if (mode !== null && t.ssl !== undefined) issue('give sslmode in the URL or ssl, not both', ['ssl']);
    if (mode !== null && !['disable', 'require', 'verify-full'].includes(mode)) {
      issue('sslmode must be disable, require or verify-full', ['url']);
    }
  });

const fileSchema = z
  .object({
    version: z.literal(1).optional(),
    defaults: z
      .object({ ...shared, concurrency: z.number().int().min(1).max(64).optional() })
      .strict()
      .optional(),
    targets: z.array(targetSchema).min(1, 'list at least one target'),
  })
  .strict()
  .superRefine((f, ctx) => {
    const first = new Map<string, number>();
    f.targets.forEach((t, i) => {
      const seen = first.get(t.name);
      if (seen === undefined) first.set(t.name, i);
      else
        ctx.addIssue({
          code: 'custom',
          message: `duplicate name "${t.name}" (also targets.${seen})`,
          path: ['targets', i, 'name'],
        });
    });
  });

type RawTarget = z.infer<typeof targetSchema>;
type RawDefaults = NonNullable<z.infer<typeof fileSchema>['defaults']>;

function parseUrl(text: string): URL | null {
  try {
    const url = new URL(text);
    return ['postgres:', 'postgresql:'].includes(url.protocol) && /^\d*$/.test(url.port) ? url : null;
  } catch {
    return null;
  }
}

const sslConfig = (mode: string | null | undefined): ConnectionConfig['ssl'] =>
  mode === 'disable'
    ? false
    : mode === 'require'
      ? { rejectUnauthorized: false }
      : mode === 'verify-full'
        ? { rejectUnauthorized: true }
        : undefined;

const invalid = (source: string, detail: string, hint?: string) =>
  new PgwardenError(ErrorCodes.CHECK_TARGETS_INVALID, `The targets file ${source} is invalid`, { detail, hint });

/**
 * Parses a targets file (YAML or JSON) into targets ready to scan. Throws PW501 listing each bad
 * key; messages never repeat a value that could be a secret.
 *
 * Format: `targets` (required, unique `name`s), optional `version: 1` and optional `defaults`
 * (`exposedSchemas`, `dbaRoles`, `only`, `skip`, `ssl`, `passwordEnv`, `connectTimeoutMs`,
 * `concurrency`). A target has `url` (`postgresql://user@host:port/database`, parameters
 * `sslmode`, `host`, `port`, `connect_timeout`, `options`) or `host` + `port` (5432) +
 * `database` + `user`; `ssl` is `disable`, `require` (encrypt, no verification) or
 * `verify-full` (Node's CA store plus NODE_EXTRA_CA_CERTS). Target keys replace `defaults`
 * keys. Literal passwords (`password:` or one inside the URL) are refused: a targets file is
 * meant for git. The password comes from the variable `passwordEnv` names (PW501 when unset),
 * else PGPASSWORD, else ~/.pgpass, as libpq does.
 *
 * @example
 * const { targets, concurrency } = parseFleet(
 *   'targets:\n  - { name: crm, host: db2, database: crm, user: scanner, passwordEnv: CRM_PW }',
 *   'fleet.yaml',
 *   process.env,
 * );
 */
export function parseFleet(
  text: string,
  source: string,
  env: Readonly<Record<string, string | undefined>> = {},
): FleetFile {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw invalid(source, (err as Error).message.split('\n')[0] ?? 'parse error', 'write YAML or JSON');
  }
  const parsed = fileSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    throw invalid(
      source,
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('\n'),
      'each target needs a unique name and url, or host, database and user; passwords come from passwordEnv',
    );
  }
  const defaults: RawDefaults = parsed.data.defaults ?? {};
  const problems: string[] = [];
  const targets = parsed.data.targets.map((t, i) => {
    const variable = t.passwordEnv ?? defaults.passwordEnv;
    let password: string | undefined;
    if (variable !== undefined) {
      password = env[variable] || undefined;
      if (password === undefined)
        problems.push(`targets.${i} (${t.name}): the environment variable ${variable} named by passwordEnv is not set`);
    } else password = env.PGPASSWORD || undefined;
    return toTarget(t, defaults, password);
  });
  if (problems.length > 0) throw invalid(source, problems.join('\n'), 'export the variables before running pgwarden');
  return { targets, ...(defaults.concurrency !== undefined ? { concurrency: defaults.concurrency } : {}) };
}

function toTarget(t: RawTarget, d: RawDefaults, password: string | undefined): FleetTarget {
  const connection: ConnectionConfig = {
    connectionTimeoutMillis: t.connectTimeoutMs ?? d.connectTimeoutMs ?? 10_000,
  };
  if (t.url !== undefined) {
    // Taken apart here: node-postgres lets a URL's empty password override the one from the environment.
    const url = new URL(t.url);
    const param = (k: string) => url.searchParams.get(k);
    connection.host = param('host') ?? decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, '$1');
    connection.port = Number(param('port') ?? (url.port || 5432));
    connection.user = decodeURIComponent(url.username);
    connection.database = decodeURIComponent(url.pathname.slice(1));
    connection.ssl = sslConfig(param('sslmode') ?? t.ssl ?? d.ssl);
    const timeout = param('connect_timeout');
    if (timeout !== null && Number(timeout) > 0) connection.connectionTimeoutMillis = Number(timeout) * 1000;
    if (param('options') !== null) connection.options = param('options')!;
  } else {
    Object.assign(connection, { host: t.host, port: t.port ?? 5432, user: t.user, database: t.database });
    connection.ssl = sslConfig(t.ssl ?? d.ssl);
  }
  if (connection.ssl === undefined) delete connection.ssl;
  if (password !== undefined) connection.password = password;
  const options: FleetScanOverrides = {};
  for (const key of ['exposedSchemas', 'dbaRoles', 'only', 'skip'] as const) {
    const value = t[key] ?? d[key];
    if (value !== undefined) options[key] = value;
  }
  const host = connection.host?.includes(':') ? `[${connection.host}]` : connection.host;
  return {
    name: t.name,
    connection,
    description: `postgresql://${connection.user}@${host}:${connection.port}/${connection.database}`,
    ...(Object.keys(options).length > 0 ? { options } : {}),
  };
}

/**
 * The targets of a targets file (see parseFleet for the format); PW501 when invalid.
 *
 * @example
 * const targets = parseTargets(yamlText, 'fleet.yaml', process.env);
 */
export function parseTargets(
  text: string,
  source: string,
  env?: Readonly<Record<string, string | undefined>>,
): FleetTarget[] {
  return parseFleet(text, source, env).targets;
}

/**
 * Reads and parses a targets file with its `defaults.concurrency`; PW501 when unreadable or invalid.
 *
 * @example
 * const fleet = await readFleet('fleet.yaml', process.env);
 * await scanFleet(fleet.targets, { concurrency: flags.concurrency ?? fleet.concurrency });
 */
export async function readFleet(path: string, env?: Readonly<Record<string, string | undefined>>): Promise<FleetFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new PgwardenError(ErrorCodes.CHECK_TARGETS_INVALID, `The targets file ${path} cannot be read`, {
      detail: (err as NodeJS.ErrnoException).code ?? String(err),
    });
  }
  return parseFleet(text, path, env);
}

/**
 * Reads and parses a targets file; PW501 when unreadable or invalid.
 *
 * @example
 * const targets = await readTargets('fleet.yaml', process.env);
 */
export async function readTargets(
  path: string,
  env?: Readonly<Record<string, string | undefined>>,
): Promise<FleetTarget[]> {
  return (await readFleet(path, env)).targets;
}

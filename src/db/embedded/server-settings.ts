import { ErrorCodes, PgwardenError } from '../../errors/index.js';

/** A postgresql.conf value as callers give it. */
export type SettingValue = string | number | boolean;

/** The file pgwarden owns inside the data directory; postgresql.conf only includes it. */
export const SETTINGS_FILE = 'pgwarden.conf';

/** The line appended once to postgresql.conf so `SETTINGS_FILE` takes effect. */
export const INCLUDE_LINE = `include_if_exists = '${SETTINGS_FILE}'`;

/** What `buildSettings` needs to know about this cluster. */
export interface SettingsInput {
  port: number;
  /** Libraries available on this server, e.g. ['pg_stat_statements', 'pgaudit']. */
  preload: readonly string[];
  ephemeral?: boolean | undefined;
  extra?: Readonly<Record<string, SettingValue>> | undefined;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;

/**
 * Formats one value for postgresql.conf: booleans as on/off, finite numbers bare, everything
 * else as a single-quoted string with quotes and backslashes doubled.
 *
 * @example
 * quoteSetting("it's"); // "'it''s'"
 */
export function quoteSetting(value: SettingValue): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalid(`non-finite number ${value}`);
    return String(value);
  }
  // A newline or NUL cannot be represented inside a postgresql.conf string.
  if (/[\r\n\0]/.test(value)) throw invalid('a value contains a line break or NUL');
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

function invalid(detail: string): PgwardenError {
  return new PgwardenError(ErrorCodes.EMBEDDED_START_FAILED, 'Invalid server setting', {
    detail,
    hint: 'settings take names like work_mem or pgaudit.log and single-line values',
  });
}

function splitList(value: SettingValue | undefined): string[] {
  if (value === undefined) return [];
  return String(value)
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

/**
 * The settings pgwarden always applies, merged with the caller's: loopback TCP only (no Unix
 * socket, so no socket-directory permission problems), logs on stderr to the file pg_ctl
 * redirects to, and the preload libraries. A caller's shared_preload_libraries is added to ours
 * rather than replacing it, since pgwarden's monitoring depends on pg_stat_statements.
 *
 * @example
 * buildSettings({ port: 5433, preload: ['pg_stat_statements'] }).get('port'); // 5433
 */
export function buildSettings(input: SettingsInput): Map<string, SettingValue> {
  const settings = new Map<string, SettingValue>();
  for (const [name, value] of Object.entries(input.extra ?? {})) {
    if (!NAME.test(name)) throw invalid(`bad setting name "${name}"`);
    settings.set(name.toLowerCase(), value);
  }
  const preload = [...new Set([...input.preload, ...splitList(settings.get('shared_preload_libraries'))])];
  settings.set('shared_preload_libraries', preload.join(','));
  if (input.ephemeral) {
    // Throwaway clusters trade crash safety for speed; never use for data you keep.
    settings.set('fsync', false);
    settings.set('synchronous_commit', false);
    settings.set('full_page_writes', false);
  }
  // Logical decoding, for the audit trail's WAL capture: it changes only what the log records.
  if (!settings.has('wal_level')) settings.set('wal_level', 'logical');
  settings.set('listen_addresses', '127.0.0.1');
  settings.set('port', input.port);
  settings.set('unix_socket_directories', '');
  settings.set('logging_collector', false);
  return settings;
}

/**
 * Renders settings as the text of `SETTINGS_FILE`.
 *
 * @example
 * renderSettings(new Map([['port', 5433]])); // "# Written by pgwarden …\nport = 5433\n"
 */
export function renderSettings(settings: ReadonlyMap<string, SettingValue>): string {
  const lines = ['# Written by pgwarden on every start; edits here are overwritten.'];
  for (const [name, value] of settings) lines.push(`${name} = ${quoteSetting(value)}`);
  return `${lines.join('\n')}\n`;
}

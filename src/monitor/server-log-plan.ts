import { access, constants } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type pg from 'pg';
import { recommendedLogLinePrefix } from './sources/server-log/index.js';

/** The log formats the monitor reads. */
export type ServerLogFormat = 'jsonlog' | 'csvlog' | 'stderr';

/** How the monitor will read the server log, or why it will not. */
export type ServerLogPlan =
  | { mode: 'file'; directory: string; format: ServerLogFormat; expectPrefix?: boolean }
  | { mode: 'sql'; format: ServerLogFormat; expectPrefix?: boolean }
  | { mode: 'off'; reason: string };

/** What the user asked for (the `monitor` config section). */
export interface ServerLogRequest {
  serverLog: 'auto' | 'file' | 'sql' | 'off';
  logDirectory?: string | undefined;
  logFormat: 'auto' | ServerLogFormat;
}

interface ServerLogSettings {
  logging_collector: string;
  log_line_prefix: string;
  log_destination: string;
  log_directory: string;
  data_directory: string | null;
  can_read_files: boolean;
}

/**
 * Decides how to read the server log: tail the log directory when this machine has it, else read
 * it through pg_read_binary_file when the login may (superuser, or pg_monitor with EXECUTE
 * on pg_read_binary_file), else not at all, with the reason. The format is the best the server writes:
 * jsonlog, then csvlog, then stderr (which needs pgwarden's documented log_line_prefix).
 *
 * @example
 * const plan = await planServerLog(client, { serverLog: 'auto', logFormat: 'auto' });
 * if (plan.mode === 'off') log.warn({ reason: plan.reason }, 'no server log');
 */
export async function planServerLog(client: pg.ClientBase, request: ServerLogRequest): Promise<ServerLogPlan> {
  if (request.serverLog === 'off') return { mode: 'off', reason: 'monitor.serverLog is off' };
  const settings = await readSettings(client);
  const destinations = settings.log_destination.split(',').map((d) => d.trim().toLowerCase());
  const collected = settings.logging_collector === 'on';
  const format = pickFormat(request.logFormat, destinations, collected);
  if (!format) {
    return {
      mode: 'off',
      reason: collected
        ? `log_destination (${settings.log_destination}) writes no file format the monitor reads`
        : 'logging_collector is off, so the server writes no log file (set logging_collector = on and log_destination = jsonlog, then restart)',
    };
  }
  // stderr written with pgwarden's prefix: a line without it is never a record, from the first
  // line on (a forged "ERROR:  …" in a user or database name is reported, not read).
  const prefix =
    format === 'stderr' && settings.log_line_prefix === recommendedLogLinePrefix ? { expectPrefix: true } : {};
  const configured = request.logDirectory;
  const directory =
    configured ??
    (isAbsolute(settings.log_directory) || !settings.data_directory
      ? settings.log_directory
      : join(settings.data_directory, settings.log_directory));
  const local = (settings.data_directory !== null || configured !== undefined) && (await readable(directory));
  if (request.serverLog === 'file' || (request.serverLog === 'auto' && local)) {
    if (!local) return { mode: 'off', reason: `the log directory ${directory} is not readable on this machine` };
    return { mode: 'file', directory, format, ...prefix };
  }
  if (settings.can_read_files) return { mode: 'sql', format, ...prefix };
  return {
    mode: 'off',
    reason:
      'the log directory is not on this machine and the login may not read it through pg_read_binary_file (grant pg_monitor and EXECUTE on pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean), or run the monitor where the log is)',
  };
}

async function readSettings(client: pg.ClientBase): Promise<ServerLogSettings> {
  const { rows } = await client.query<ServerLogSettings>(
    `select pg_catalog.current_setting('logging_collector') as logging_collector,
            pg_catalog.current_setting('log_line_prefix') as log_line_prefix,
            pg_catalog.current_setting('log_destination') as log_destination,
            pg_catalog.current_setting('log_directory') as log_directory,
            -- data_directory is readable by superusers and pg_read_all_settings only
            pg_catalog.current_setting('data_directory', true) as data_directory,
            -- pg_ls_logdir needs pg_monitor; reading needs EXECUTE on pg_read_binary_file, which
            -- pg_read_server_files alone does not give
            (select r.rolsuper from pg_catalog.pg_roles r where r.rolname = current_user)
              or (pg_catalog.pg_has_role(current_user, 'pg_monitor', 'usage')
                  and pg_catalog.has_function_privilege(
                    'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)', 'execute')) as can_read_files`,
  );
  const row = rows[0];
  if (!row) throw new Error('reading the log settings returned no row');
  return row;
}

function pickFormat(
  requested: ServerLogRequest['logFormat'],
  destinations: readonly string[],
  collected: boolean,
): ServerLogFormat | undefined {
  if (!collected) return undefined;
  if (requested !== 'auto') return destinations.includes(requested) ? requested : undefined;
  return (['jsonlog', 'csvlog', 'stderr'] as const).find((f) => destinations.includes(f));
}

async function readable(directory: string): Promise<boolean> {
  try {
    await access(directory, constants.R_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

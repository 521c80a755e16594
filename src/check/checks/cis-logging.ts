import type { ScanContext, SettingRow } from '../scan-context.js';
import type { CheckDefinition } from '../types.js';
import { levelWithin } from './cis-log-format.js';
import { cis, isOn, type Judgement, listItems, mustBe, Section, settingCheck, shown } from './cis-support.js';

/**
 * Where the server sends its log (log_destination items).
 *
 * @example
 * await logDestinations(ctx); // ['stderr', 'csvlog']
 */
export async function logDestinations(ctx: ScanContext): Promise<string[]> {
  return listItems(await ctx.settingValue('log_destination'));
}

/**
 * Reason a collector-only setting does not apply, or null when the collector runs.
 *
 * @example
 * const reason = await collectorOff(ctx); // null when logging_collector = on
 */
export async function collectorOff(ctx: ScanContext): Promise<string | null> {
  return isOn(await ctx.setting('logging_collector'))
    ? null
    : 'the logging collector is off, so this setting has no effect (see CIS-3.1.3)';
}

async function syslogOff(ctx: ScanContext): Promise<string | null> {
  return (await logDestinations(ctx)).includes('syslog') ? null : 'log_destination does not include syslog';
}

function logLevel(most: string, least: string): (row: SettingRow) => Judgement {
  return (row) => {
    const where = levelWithin(row.setting, most, least);
    if (where === 'ok') return null;
    return where === 'too_quiet'
      ? { message: `${row.name} is ${row.setting}: less severe messages are not logged`, severity: 'medium' }
      : {
          message: `${row.name} is ${row.setting}: debug output floods the log and may record data values`,
          severity: 'low',
        };
  };
}

function manualSetting(
  cisId: string,
  title: string,
  names: string[],
  applies?: (ctx: ScanContext) => Promise<string | null>,
): CheckDefinition {
  return cis({
    cis: cisId,
    section: Section.logging,
    title,
    severity: 'low',
    source: 'sql',
    rationale:
      'The benchmark leaves the value to local policy; a person checks it against the retention and log-shipping setup.',
    remediation: `Set ${names.join(', ')} to match the log retention policy (ALTER SYSTEM, then reload).`,
    evaluate: async (ctx) => {
      const reason = applies ? await applies(ctx) : null;
      if (reason !== null) return { verdict: 'not_applicable', reason };
      const evidence: Record<string, unknown> = {};
      for (const name of names) evidence[name] = shown(await ctx.setting(name));
      return { verdict: 'manual', evidence, message: 'review against the log retention policy' };
    },
  });
}

const off = (cisId: string, setting: string, why: string): CheckDefinition =>
  settingCheck({
    cis: cisId,
    section: Section.logging,
    title: `'${setting}' is disabled`,
    severity: 'low',
    setting,
    rationale: why,
    remediation: `ALTER SYSTEM SET ${setting} = 'off'; SELECT pg_reload_conf();`,
    judge: mustBe('off'),
    fixValue: 'off',
    fixSafety: 'safe',
  });

/**
 * CIS 3.1.2–3.1.19 and 3.1.22–3.1.25: one setting each.
 *
 * @example
 * loggingSettingChecks.find((c) => c.id === 'CIS-3.1.25')?.title;
 */
export const loggingSettingChecks: CheckDefinition[] = [
  settingCheck({
    cis: '3.1.2',
    section: Section.logging,
    title: 'The log destinations are set',
    severity: 'medium',
    setting: 'log_destination',
    rationale: 'Without a log destination the server keeps no record of connections, errors or audited statements.',
    remediation: "ALTER SYSTEM SET log_destination = 'stderr' (or csvlog/jsonlog/syslog as your log pipeline expects).",
    judge: (row) => (listItems(row.setting).length > 0 ? null : { message: 'log_destination is empty' }),
    fixValue: 'stderr',
    fixSafety: 'safe',
  }),
  settingCheck({
    cis: '3.1.3',
    section: Section.logging,
    title: 'The logging collector is enabled',
    severity: 'low',
    setting: 'logging_collector',
    rationale:
      "The collector captures everything the server writes to stderr into rotated files; csvlog and jsonlog are written only by the collector. Without it, logs depend on whatever captured the postmaster's stderr.",
    remediation:
      "ALTER SYSTEM SET logging_collector = 'on', then restart the server (check where your log shipping reads from first).",
    applies: async (ctx) => {
      const dest = await logDestinations(ctx);
      return dest.some((d) => ['stderr', 'csvlog', 'jsonlog'].includes(d))
        ? null
        : 'logs go only to syslog or the event log, which do not need the collector';
    },
    judge: (row) => (isOn(row) ? null : { message: 'logging_collector is off' }),
    fixValue: 'on',
    fixSafety: 'manual',
  }),
  settingCheck({
    cis: '3.1.4',
    section: Section.logging,
    title: 'The log file directory is set',
    severity: 'medium',
    setting: 'log_directory',
    rationale: 'The collector writes log files to log_directory; an empty value leaves nowhere to write them.',
    remediation:
      'ALTER SYSTEM SET log_directory to an absolute directory outside the data directory, owned by the server user.',
    applies: collectorOff,
    judge: (row) => (row.setting.trim() !== '' ? null : { message: 'log_directory is empty' }),
  }),
  manualSetting('3.1.5', 'The filename pattern for log files is set correctly', ['log_filename'], collectorOff),
  settingCheck({
    cis: '3.1.6',
    section: Section.logging,
    title: 'Log files are readable only by the server user',
    severity: 'medium',
    setting: 'log_file_mode',
    rationale:
      'Server logs hold statements, user names and client addresses (and, with pgAudit, every audited statement); other OS users must not read them.',
    remediation:
      "ALTER SYSTEM SET log_file_mode = '0600'; SELECT pg_reload_conf(); then fix the modes of existing log files.",
    applies: collectorOff,
    judge: (row) => {
      const mode = Number.parseInt(row.setting, 8);
      if ((mode & 0o007) !== 0) return { message: `log_file_mode is ${row.setting}: every OS user can read the logs` };
      if ((mode & 0o070) !== 0)
        return { message: `log_file_mode is ${row.setting}: the server's OS group can read the logs`, severity: 'low' };
      return null;
    },
    fixValue: '0600',
    fixSafety: 'safe',
  }),
  settingCheck({
    cis: '3.1.7',
    section: Section.logging,
    title: "'log_truncate_on_rotation' is enabled",
    severity: 'low',
    setting: 'log_truncate_on_rotation',
    rationale:
      'With a repeating log_filename pattern, appending to an old file makes files grow without bound and mixes periods.',
    remediation:
      "ALTER SYSTEM SET log_truncate_on_rotation = 'on' after making sure the files it overwrites have been shipped or archived.",
    applies: collectorOff,
    judge: mustBe('on'),
    fixValue: 'on',
    // Truncation discards old log content: a person confirms the logs are shipped first.
    fixSafety: 'manual',
  }),
  manualSetting('3.1.8', 'The maximum log file lifetime is set correctly', ['log_rotation_age'], collectorOff),
  manualSetting('3.1.9', 'The maximum log file size is set correctly', ['log_rotation_size'], collectorOff),
  manualSetting('3.1.10', 'The correct syslog facility is selected', ['syslog_facility'], syslogOff),
  settingCheck({
    cis: '3.1.11',
    section: Section.logging,
    title: 'Syslog messages are not suppressed',
    severity: 'low',
    setting: 'syslog_sequence_numbers',
    rationale:
      'Without sequence numbers, syslog implementations collapse repeated messages ("last message repeated N times"), losing audit records.',
    remediation: "ALTER SYSTEM SET syslog_sequence_numbers = 'on'; SELECT pg_reload_conf();",
    applies: syslogOff,
    judge: mustBe('on'),
    fixValue: 'on',
    fixSafety: 'safe',
  }),
  settingCheck({
    cis: '3.1.12',
    section: Section.logging,
    title: 'Syslog messages are not lost due to size',
    severity: 'low',
    setting: 'syslog_split_messages',
    rationale: 'Many syslog daemons truncate messages over about 1 KB; splitting keeps long statements whole.',
    remediation: "ALTER SYSTEM SET syslog_split_messages = 'on'; SELECT pg_reload_conf();",
    applies: syslogOff,
    judge: mustBe('on'),
    fixValue: 'on',
    fixSafety: 'safe',
  }),
  manualSetting('3.1.13', 'The program name for syslog messages is correct', ['syslog_ident'], syslogOff),
  settingCheck({
    cis: '3.1.14',
    section: Section.logging,
    title: 'The correct messages are written to the server log',
    severity: 'medium',
    setting: 'log_min_messages',
    rationale:
      'WARNING (or INFO/NOTICE) keeps the warnings an investigation needs; ERROR and above lose them, DEBUG floods the log.',
    remediation: "ALTER SYSTEM SET log_min_messages = 'warning'; SELECT pg_reload_conf();",
    judge: logLevel('info', 'warning'),
    fixValue: 'warning',
    fixSafety: 'safe',
  }),
  settingCheck({
    cis: '3.1.15',
    section: Section.logging,
    title: 'SQL statements generating errors are recorded',
    severity: 'medium',
    setting: 'log_min_error_statement',
    rationale: 'Logging the statement behind each error shows failed injection attempts and permission probes.',
    remediation: "ALTER SYSTEM SET log_min_error_statement = 'error'; SELECT pg_reload_conf();",
    judge: logLevel('info', 'error'),
    fixValue: 'error',
    fixSafety: 'safe',
  }),
  off('3.1.16', 'debug_print_parse', 'Parse trees in the log are noise that can carry literal values from queries.'),
  off(
    '3.1.17',
    'debug_print_rewritten',
    'Rewritten query trees in the log are noise that can carry literal values from queries.',
  ),
  off('3.1.18', 'debug_print_plan', 'Plans in the log are noise that can carry literal values from queries.'),
  settingCheck({
    cis: '3.1.19',
    section: Section.logging,
    title: "'debug_pretty_print' is enabled",
    severity: 'low',
    setting: 'debug_pretty_print',
    rationale: 'If debug output is ever enabled, indented output keeps it readable for the person investigating.',
    remediation: "ALTER SYSTEM SET debug_pretty_print = 'on'; SELECT pg_reload_conf();",
    judge: mustBe('on'),
    fixValue: 'on',
    fixSafety: 'safe',
  }),
  settingCheck({
    cis: '3.1.22',
    section: Section.logging,
    title: "'log_error_verbosity' is verbose",
    severity: 'low',
    setting: 'log_error_verbosity',
    rationale:
      'Verbose entries add the SQLSTATE and the source location, which an investigation needs to tell similar errors apart.',
    remediation: "ALTER SYSTEM SET log_error_verbosity = 'verbose'; SELECT pg_reload_conf();",
    judge: (row) => (row.setting === 'verbose' ? null : { message: `log_error_verbosity is ${row.setting}` }),
    fixValue: 'verbose',
    fixSafety: 'safe',
  }),
  settingCheck({
    cis: '3.1.23',
    section: Section.logging,
    title: "'log_hostname' is disabled",
    severity: 'low',
    setting: 'log_hostname',
    rationale:
      'A reverse DNS lookup on every connection slows logins, and an attacker who controls reverse DNS controls what the log says; log the address instead.',
    remediation: "ALTER SYSTEM SET log_hostname = 'off'; SELECT pg_reload_conf();",
    judge: mustBe('off'),
    fixValue: 'off',
    fixSafety: 'safe',
  }),
  settingCheck({
    cis: '3.1.25',
    section: Section.logging,
    title: "'log_statement' records at least DDL",
    severity: 'medium',
    setting: 'log_statement',
    rationale:
      'With log_statement = none, schema and privilege changes (CREATE, ALTER, GRANT, DROP) leave no trace in the server log.',
    remediation: "ALTER SYSTEM SET log_statement = 'ddl'; SELECT pg_reload_conf(); (or 'mod' to add data changes)",
    judge: (row) => (row.setting === 'none' ? { message: 'log_statement is none: DDL is not logged' } : null),
    fixValue: 'ddl',
    fixSafety: 'safe',
  }),
];

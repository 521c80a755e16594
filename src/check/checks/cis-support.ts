import type { ScanContext, SettingRow } from '../scan-context.js';
import { settingName, sqlLiteral } from '../sql-text.js';
import type { CheckDefinition, Finding, FixStatement, Outcome, Severity } from '../types.js';

/**
 * Report headings of the CIS sections pgwarden evaluates.
 *
 * @example
 * Section.logging; // 'Logging and auditing'
 */
export const Section = {
  install: 'Installation and patches',
  logging: 'Logging and auditing',
  access: 'User access and authorization',
  connection: 'Connection and login',
  settings: 'PostgreSQL settings',
  replication: 'Replication',
  special: 'Special configuration considerations',
} as const;

/**
 * A CIS check as written in the cis-*.ts files: `cis()` derives the id and family from its number.
 *
 * @example
 * const check = cis({ cis: '7.2', section: Section.replication, … } satisfies CisCheck);
 */
export type CisCheck = Omit<CheckDefinition, 'id' | 'family' | 'cis'> & { cis: string };

/**
 * Completes a CIS check: id `CIS-<number>`, family 'cis'.
 *
 * @example
 * cis({ cis: '7.2', section: Section.replication, title: '…', severity: 'low', source: 'sql', … });
 */
export function cis(check: CisCheck): CheckDefinition {
  return { ...check, id: `CIS-${check.cis}`, family: 'cis' };
}

/**
 * A setting's value as people write it: `30 s`, `0600`, `on`.
 *
 * @example
 * shown(authenticationTimeoutRow); // '60 s'
 */
export function shown(row: SettingRow): string {
  if (!row.unit) return row.setting;
  // Block-sized units (8kB pages, 16MB WAL segments) count blocks, not bytes.
  return /^\d/.test(row.unit) ? `${row.setting} × ${row.unit}` : `${row.setting} ${row.unit}`;
}

/**
 * Whether a boolean setting is on (pg_settings prints booleans as on/off).
 *
 * @example
 * isOn(await ctx.setting('ssl')); // true
 */
export const isOn = (row: SettingRow): boolean => row.setting === 'on';

/**
 * Items of a comma-separated list setting, trimmed and lower-cased, without quotes.
 *
 * @example
 * listItems('pg_stat_statements, "PgAudit"'); // ['pg_stat_statements', 'pgaudit']
 */
export function listItems(value: string): string[] {
  return value
    .split(',')
    .map((s) =>
      s
        .trim()
        .replace(/^"(.*)"$/, '$1')
        .toLowerCase(),
    )
    .filter((s) => s !== '');
}

/**
 * The libraries preloaded by shared_, session_ and local_preload_libraries, as far as this login sees them.
 *
 * @example
 * (await preloadedLibraries(ctx)).includes('passwordcheck');
 */
export async function preloadedLibraries(ctx: ScanContext): Promise<string[]> {
  const all = await ctx.allSettings();
  const shared = await ctx.setting('shared_preload_libraries');
  const libs = listItems(shared.setting);
  for (const name of ['session_preload_libraries', 'local_preload_libraries']) {
    const row = all.get(name);
    if (row) libs.push(...listItems(row.setting));
  }
  // `$libdir/plugins/pgaudit` and `pgaudit.so` both name pgaudit.
  return libs.map((l) => (l.split('/').pop() ?? l).replace(/\.(so|dylib|dll)$/, ''));
}

/**
 * `alter system set …` for a setting; `restart` when its context is postmaster. No reload
 * statement: the fix runner reloads once after its ALTER SYSTEM statements. A list setting takes
 * an array, each item its own literal, since `'a,b'` would name one library "a,b" in
 * shared_preload_libraries.
 *
 * @example
 * alterSystem(row, 'on', 'safe'); // [{ sql: "alter system set log_connections = 'on'", safety: 'safe' }]
 * alterSystem(shared, ['pg_stat_statements', 'pgaudit'], 'manual'); // … = 'pg_stat_statements', 'pgaudit', restart: true
 */
export function alterSystem(
  row: Pick<SettingRow, 'name' | 'context'>,
  value: string | readonly string[],
  safety: 'safe' | 'manual',
): FixStatement[] {
  const rhs =
    typeof value === 'string' ? sqlLiteral(value) : value.length === 0 ? "''" : value.map(sqlLiteral).join(', ');
  const sql = `alter system set ${settingName(row.name)} = ${rhs}`;
  return [row.context === 'postmaster' ? { sql, safety, restart: true } : { sql, safety }];
}

/**
 * Same as alterSystem for a setting the server may not show (a module's setting, not loaded yet).
 *
 * @example
 * alterSystemByName('pgaudit.log', 'ddl, write, role', 'safe');
 */
export function alterSystemByName(
  name: string,
  value: string,
  safety: 'safe' | 'manual',
  restart = false,
): FixStatement[] {
  return alterSystem({ name, context: restart ? 'postmaster' : 'sighup' }, value, safety);
}

/**
 * How one setting rule judges a value: null when fine, else the message and an optional severity.
 *
 * @example
 * const j: Judgement = { message: 'log_statement is none', severity: 'medium' };
 */
export type Judgement = null | { message: string; severity?: Severity; fixValue?: string };

/**
 * A check of one setting, the common shape of most CIS rows.
 *
 * @example
 * settingCheck({ cis: '7.2', setting: 'log_replication_commands', judge: mustBe('on'), … } satisfies SettingRule);
 */
export interface SettingRule extends Omit<CisCheck, 'evaluate' | 'source'> {
  setting: string;
  /** Judges the row. */
  judge: (row: SettingRow) => Judgement;
  /** The value the fix sets; absent: no SQL fix (remediation only). */
  fixValue?: string;
  fixSafety?: 'safe' | 'manual';
  /** A reason the check does not apply here, or null. */
  applies?: (ctx: ScanContext) => Promise<string | null>;
}

/**
 * Builds a check of one pg_settings value. A setting this login cannot see is NotEvaluated (via
 * ctx.setting); a value the rule rejects is one finding about the server-wide setting.
 *
 * @example
 * settingCheck({ cis: '7.2', setting: 'log_replication_commands', judge: (r) => (isOn(r) ? null : { message: 'off' }), … });
 */
export function settingCheck(rule: SettingRule): CheckDefinition {
  const { setting, judge, fixValue, fixSafety, applies, ...meta } = rule;
  return cis({
    ...meta,
    source: 'sql',
    evaluate: async (ctx): Promise<Outcome> => {
      const reason = applies ? await applies(ctx) : null;
      if (reason !== null) return { verdict: 'not_applicable', reason };
      const row = await ctx.setting(setting);
      const verdict = judge(row);
      if (verdict === null) return { verdict: 'pass', evidence: { [row.name]: shown(row) } };
      const value = verdict.fixValue ?? fixValue;
      const finding: Finding = {
        message: verdict.message,
        evidence: { setting: row.name, value: shown(row), source: row.source },
        ...(verdict.severity ? { severity: verdict.severity } : {}),
        ...(value !== undefined ? { fix: alterSystem(row, value, fixSafety ?? 'manual') } : {}),
      };
      return { verdict: 'fail', findings: [finding] };
    },
  });
}

/**
 * Judge for a boolean setting that must have the given value.
 *
 * @example
 * settingCheck({ …, setting: 'log_disconnections', judge: mustBe('on') });
 */
export function mustBe(want: 'on' | 'off', message?: string): (row: SettingRow) => Judgement {
  return (row) => (row.setting === want ? null : { message: message ?? `${row.name} is ${row.setting}` });
}

/**
 * Pass or fail from a list of findings.
 *
 * @example
 * return outcomeOf(findings, { checked: rows.length });
 */
export function outcomeOf(findings: Finding[], evidence?: Record<string, unknown>): Outcome {
  if (findings.length > 0) return { verdict: 'fail', findings };
  return evidence ? { verdict: 'pass', evidence } : { verdict: 'pass' };
}

/**
 * Settings whose values must never appear in evidence: connection strings, commands and scripts
 * (which may embed credentials) and anything naming a password, secret, token, credential, salt,
 * private part or key (paths such as ssl_key_file are masked too: cheaper than a leak).
 * password_encryption names an algorithm.
 *
 * @example
 * SECRET_SETTING.test('primary_conninfo'); // true
 */
export const SECRET_SETTING =
  /conninfo|passphrase|passw(?!ord_encryption)|pwd|secret|token|credential|private|salt|key|_command$|_script$/i;

/**
 * A list for a person, capped so a report stays readable; the count tells what was left out.
 *
 * @example
 * capped(roles, 50); // { count: 120, items: [first 50], truncated: true }
 */
export function capped<T>(items: T[], max = 50): { count: number; items: T[]; truncated?: true } {
  return items.length > max
    ? { count: items.length, items: items.slice(0, max), truncated: true }
    : { count: items.length, items };
}

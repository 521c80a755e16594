import { createHash } from 'node:crypto';
import type pg from 'pg';
import { connect, type ConnectionConfig, wrapPgError } from '../db/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { pgwardenVersion } from '../install/index.js';
import { applyBaseline, type Baseline } from './baseline.js';
import { allChecks } from './checks/index.js';
import { redactSecrets } from './redact.js';
import { printableSql } from './sql-text.js';
import { orderResults, summarize } from './summary.js';
import { NotEvaluated, ScanContext, type ScanSettings, type ServerFacts } from './scan-context.js';
import { checkLimits, pinSession } from './session.js';
import type { CheckDefinition, CheckResult, Outcome, ScanReport } from './types.js';

/** Options of one scan; every field has a default. */
export interface ScanOptions extends Partial<ScanSettings> {
  /** Label of the target in reports (fleet name); default user@host:port/database. */
  name?: string;
  /** The checks to run; default every check pgwarden has. */
  checks?: readonly CheckDefinition[];
  /** Run only these ids, id prefixes (`CIS-3.`) or families (`rls`). */
  only?: readonly string[];
  /** Skip these ids, id prefixes or families. */
  skip?: readonly string[];
  /** Accepted findings and waivers. */
  baseline?: Baseline;
  /** The scan's clock; default the system clock. */
  now?: () => Date;
}

/** Defaults of the scan settings (the `check` config section has the same). */
export const defaultScanSettings: ScanSettings = {
  exposedSchemas: [],
  dbaRoles: [],
  rolePrefix: 'pgw_',
  host: 'auto',
  statementTimeoutMs: 10_000,
  ledgerMaxAgeHours: 24,
  sealerMaxLagSeconds: 300,
};

const selects = (patterns: readonly string[], check: CheckDefinition) =>
  patterns.some((p) => p === check.family || p === check.id || (p.endsWith('.') && check.id.startsWith(p)));

/**
 * The checks a scan runs after --only/--skip; PW502 when a pattern matches no check (a typo
 * would otherwise silently scan nothing).
 *
 * @example
 * selectChecks(allChecks, ['rls'], []); // the RLS lints only
 */
export function selectChecks(
  checks: readonly CheckDefinition[],
  only: readonly string[] = [],
  skip: readonly string[] = [],
): CheckDefinition[] {
  for (const p of [...only, ...skip]) {
    if (!checks.some((c) => selects([p], c))) {
      throw new PgwardenError(ErrorCodes.CHECK_UNKNOWN_CHECK, `No check matches "${p}"`, {
        hint: 'use a check id (CIS-5.12), an id prefix ending in a dot (CIS-3.) or a family (cis, host, rls, privilege, pgwarden, version); pgwarden check --list shows them',
      });
    }
  }
  return checks.filter((c) => (only.length === 0 || selects(only, c)) && !selects(skip, c));
}

/**
 * Scans one database over a single read-only connection of its own (every statement runs in a
 * read-only transaction under `statement_timeout`, with search_path pinned to pg_catalog and the
 * login's own role, see pinSession), and returns the report. Checks that cannot look are "not
 * evaluated", never passed.
 *
 * @example
 * const report = await scanDatabase({ connectionString: process.env.DATABASE_URL }, { exposedSchemas: ['api'] });
 * console.log(report.summary.score, report.summary.findings.high);
 */
export async function scanDatabase(connection: ConnectionConfig, options: ScanOptions = {}): Promise<ScanReport> {
  const settings = resolveSettings(options);
  const limits = {
    readOnly: true,
    statementTimeoutMs: settings.statementTimeoutMs,
    lockTimeoutMs: Math.min(settings.statementTimeoutMs, 2000),
  };
  checkLimits(limits);
  const client = await connect({
    ...connection,
    application_name: 'pgwarden-check',
    // Read-only and bounded before the first statement: nothing the scanner sends can write.
    options: [
      connection.options ?? '',
      '-c default_transaction_read_only=on',
      `-c statement_timeout=${settings.statementTimeoutMs}`,
      `-c lock_timeout=${Math.min(settings.statementTimeoutMs, 2000)}`,
      '-c idle_in_transaction_session_timeout=60000',
    ]
      .join(' ')
      .trim(),
  });
  try {
    // Also after the startup options: a connection string's options or the connection's
    // statement_timeout replace them, and the database's defaults could set a search_path.
    await pinSession(client, limits).catch((err: unknown) => {
      throw wrapPgError(err);
    });
    return await scanWithClient(client, options);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Scans over a client the caller owns. The caller is responsible for making the session
 * read-only and bounded, and for pinning its search_path to pg_catalog (scanDatabase does all
 * three with pinSession): on a search_path the database owner chose, their operators run as the
 * scanning login. Prefer scanDatabase.
 *
 * @example
 * await pinSession(client, { readOnly: true, statementTimeoutMs: 10_000, lockTimeoutMs: 2_000 });
 * const report = await scanWithClient(client);
 */
export async function scanWithClient(client: pg.ClientBase, options: ScanOptions = {}): Promise<ScanReport> {
  const now = options.now ?? (() => new Date());
  const startedAt = now();
  const t0 = performance.now();
  const checks = selectChecks(options.checks ?? allChecks, options.only, options.skip);
  const server = await readServer(client);
  const ctx = new ScanContext(client, server, resolveSettings(options), startedAt);
  const results: CheckResult[] = [];
  for (const check of checks) results.push(toResult(check, await evaluate(check, ctx)));
  const ordered = orderResults(results);
  const notes = options.baseline ? applyBaseline(ordered, options.baseline, startedAt) : [];
  const host = await ctx.onHost();
  const conn = (client as pg.Client & { connectionParameters?: { host?: string; port?: number } }).connectionParameters;
  return {
    tool: { name: 'pgwarden', version: pgwardenVersion },
    target: {
      // A label is printed in every format: a caller passing a connection string must not leak its password.
      name: redactSecrets(
        options.name ?? `${server.user}@${conn?.host ?? 'localhost'}:${conn?.port ?? 5432}/${server.database}`,
      ),
      database: server.database,
      user: server.user,
      serverVersion: server.version,
      serverVersionNum: server.versionNum,
    },
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - t0),
    host,
    results: ordered,
    summary: summarize(ordered),
    notes,
  };
}

function resolveSettings(options: ScanOptions): ScanSettings {
  const s = { ...defaultScanSettings };
  for (const key of Object.keys(defaultScanSettings) as (keyof ScanSettings)[]) {
    if (options[key] !== undefined) (s as Record<string, unknown>)[key] = options[key];
  }
  return s;
}

async function readServer(client: pg.ClientBase): Promise<ServerFacts> {
  const { rows } = await client.query<{
    version: string;
    num: number;
    database: string;
    user: string;
    superuser: boolean;
    member_of: string[];
  }>(
    `select pg_catalog.current_setting('server_version') as version,
            pg_catalog.current_setting('server_version_num')::int as num,
            pg_catalog.current_database() as database, current_user as user,
            r.rolsuper as superuser,
            array(select m.rolname::text from pg_catalog.pg_roles m
                   where m.rolname like 'pg\\_%' and pg_catalog.pg_has_role(current_user, m.oid, 'USAGE')
                   order by 1) as member_of
       from pg_catalog.pg_roles r where r.rolname = current_user`,
  );
  const r = rows[0]!;
  return {
    version: r.version,
    versionNum: r.num,
    major: Math.floor(r.num / 10000),
    database: r.database,
    user: r.user,
    superuser: r.superuser,
    memberOf: r.member_of,
  };
}

async function evaluate(check: CheckDefinition, ctx: ScanContext): Promise<Outcome> {
  try {
    return await check.evaluate(ctx);
  } catch (err) {
    if (err instanceof NotEvaluated) return { verdict: 'not_evaluated', reason: redactSecrets(err.reason) };
    const e = err as { code?: string; message?: string };
    // Never a pass: a check that broke says so, with the SQLSTATE when there is one.
    return {
      verdict: 'not_evaluated',
      reason: `the check failed to run${e.code ? ` (SQLSTATE ${e.code})` : ''}: ${redactSecrets(e.message ?? String(err))}`,
    };
  }
}

/** The stable identity of a finding: its check and object (the message may change between versions). */
export function fingerprintOf(checkId: string, object: string | undefined): string {
  return createHash('sha256')
    .update(`${checkId}\0${object ?? ''}`)
    .digest('hex')
    .slice(0, 32);
}

function toResult(check: CheckDefinition, outcome: Outcome): CheckResult {
  const result: CheckResult = {
    id: check.id,
    family: check.family,
    section: check.section,
    title: check.title,
    severity: check.severity,
    source: check.source,
    ...(check.cis ? { cis: check.cis } : {}),
    ...(check.stig ? { stig: check.stig } : {}),
    ...(check.references ? { references: check.references } : {}),
    rationale: check.rationale,
    remediation: check.remediation,
    verdict: outcome.verdict,
    findings: [],
  };
  switch (outcome.verdict) {
    case 'fail':
      if (outcome.findings.length === 0) {
        // A failure must name what is wrong; an empty list is a bug in the check, never a pass.
        result.verdict = 'not_evaluated';
        result.reason = 'the check reported a failure without findings';
        break;
      }
      result.findings = outcome.findings.map((f) => ({
        ...f,
        // Every format shows the same statement pgwarden fix runs: no raw control character in a name.
        ...(f.fix ? { fix: f.fix.map((s) => ({ ...s, sql: printableSql(s.sql) })) } : {}),
        checkId: check.id,
        severity: f.severity ?? check.severity,
        fingerprint: fingerprintOf(check.id, f.object),
      }));
      break;
    case 'pass':
      if (outcome.evidence) result.evidence = outcome.evidence;
      break;
    case 'manual':
      result.evidence = outcome.evidence;
      if (outcome.message) result.reason = outcome.message;
      break;
    case 'not_evaluated':
    case 'not_applicable':
      result.reason = outcome.reason;
      break;
  }
  return result;
}

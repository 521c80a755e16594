import type { ScanContext } from './scan-context.js';

/** How bad a failing check is; `info` findings never fail a build. */
export const severities = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof severities)[number];

/**
 * What a check concluded.
 * - `pass`: evaluated, nothing wrong.
 * - `fail`: evaluated, one or more findings.
 * - `not_evaluated`: the scanner could not look (privilege, not on the host, setting hidden):
 *   never counted as a pass.
 * - `manual`: the benchmark asks a person to judge; evidence is listed for them.
 * - `not_applicable`: the control does not apply here (e.g. syslog settings while logging to files).
 */
export const verdicts = ['fail', 'not_evaluated', 'manual', 'pass', 'not_applicable'] as const;
export type Verdict = (typeof verdicts)[number];

/** Families group checks in reports and fix the order of the output. */
export const families = ['version', 'cis', 'host', 'rls', 'privilege', 'pgwarden'] as const;
export type Family = (typeof families)[number];

/** Where a check's data comes from. */
export type CheckSource = 'sql' | 'hba' | 'host' | 'pgwarden';

/** One statement of a remediation, and whether `pgwarden fix --apply` may run it. */
export interface FixStatement {
  sql: string;
  /**
   * `safe`: pgwarden fix --apply runs it (idempotent, no data change, no lock-out risk).
   * `manual`: shown by --dry-run, a person decides.
   */
  safety: 'safe' | 'manual';
  /** The change takes effect only after a server restart (a postmaster-context setting). */
  restart?: boolean;
}

/** One thing wrong, on one object. */
export interface Finding {
  /** The object it is about, e.g. `app.orders`, `role alice`, `pg_hba.conf line 92`; absent for server-wide settings. */
  object?: string;
  /** One line saying what is wrong here, e.g. "log_connections is off". */
  message: string;
  /** What was found: setting values, file modes, policy text. Never a secret. */
  evidence: Record<string, unknown>;
  /** Overrides the check's severity for this finding (e.g. trust over host lines is critical, md5 medium). */
  severity?: Severity;
  /** Statements that remediate this finding; absent when only a person can fix it (see the check's remediation). */
  fix?: FixStatement[];
}

/** What a check's evaluate() returns. */
export type Outcome =
  | { verdict: 'pass'; evidence?: Record<string, unknown> }
  | { verdict: 'fail'; findings: Finding[] }
  | { verdict: 'not_evaluated'; reason: string }
  | { verdict: 'manual'; evidence: Record<string, unknown>; message?: string }
  | { verdict: 'not_applicable'; reason: string };

/**
 * A check: metadata that never changes meaning for a given id, and a function over the scan context.
 *
 * @example
 * const check: CheckDefinition = {
 *   id: 'CIS-5.12', family: 'cis', section: 'Connection and login', cis: '5.12', stig: ['V-261891'],
 *   title: "password_encryption is scram-sha-256", severity: 'high', source: 'sql',
 *   rationale: 'md5 hashes are replayable …', remediation: "ALTER SYSTEM SET password_encryption = 'scram-sha-256'",
 *   evaluate: async (ctx) => …,
 * };
 */
export interface CheckDefinition {
  /** Stable id: `CIS-<section>` for benchmark rows, `RLS-nnn`, `PRIV-nnn`, `PGW-nnn`, `VER-nnn`, `HOST-…`. */
  id: string;
  family: Family;
  /** Report section heading, e.g. 'Logging and auditing'. */
  section: string;
  title: string;
  /** Severity of a failure (findings may override). */
  severity: Severity;
  source: CheckSource;
  /** CIS PostgreSQL benchmark recommendation number, when one applies. */
  cis?: string;
  /** DISA STIG ids (PostgreSQL STIG), when one applies. */
  stig?: string[];
  /** Other references: splinter lint names, ASVS, CVE ids, PostgreSQL manual pages. */
  references?: string[];
  /** Why it matters, one or two sentences. */
  rationale: string;
  /** What to do, as steps or SQL; shown with every finding. */
  remediation: string;
  evaluate(ctx: ScanContext): Promise<Outcome>;
}

/** A waiver or accepted finding matched from the baseline file. */
export interface Suppression {
  kind: 'baseline' | 'waiver';
  reason: string;
  /** ISO date; absent for baseline entries without expiry. */
  expires?: string;
}

/** A finding as reported: with its check's id, effective severity and fingerprint. */
export interface ReportedFinding extends Finding {
  checkId: string;
  severity: Severity;
  /** Stable across runs: sha256 of check id + object + message-independent key; used by baselines and SARIF. */
  fingerprint: string;
  /** Set when a baseline entry or a waiver accepts this finding. */
  suppressed?: Suppression;
}

/** One check's result in a report: the check's metadata, its verdict and findings. */
export interface CheckResult extends Omit<CheckDefinition, 'evaluate'> {
  verdict: Verdict;
  /** Why it was not evaluated / not applicable. */
  reason?: string;
  /** Evidence of a pass or a manual listing. */
  evidence?: Record<string, unknown>;
  findings: ReportedFinding[];
}

/** Counts of a report. `fail` counts checks with at least one unsuppressed finding. */
export interface ScanSummary {
  checks: number;
  pass: number;
  fail: number;
  notEvaluated: number;
  manual: number;
  notApplicable: number;
  /** Unsuppressed findings by severity. */
  findings: Record<Severity, number>;
  /** Findings accepted by the baseline or a waiver. */
  suppressed: number;
  /** Checks that failed only on accepted findings (counted as passing in the score). */
  accepted: number;
  /** 0–100: severity-weighted share of evaluated checks that pass (suppressed findings count as passing). */
  score: number;
}

/** The result of scanning one database. */
export interface ScanReport {
  tool: { name: 'pgwarden'; version: string };
  target: {
    /** A label: the fleet name, or user@host:port/db without a password. */
    name: string;
    database: string;
    user: string;
    serverVersion: string;
    serverVersionNum: number;
  };
  startedAt: string;
  durationMs: number;
  /** Whether host checks ran (the scanner found the data directory on this machine). */
  host: boolean;
  results: CheckResult[];
  summary: ScanSummary;
  /** Things the reader should know about the run itself: expired waivers, unknown baseline ids. */
  notes: string[];
}

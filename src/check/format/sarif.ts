import { pgwardenVersion } from '../../install/index.js';
import type { CheckResult, ReportedFinding, ScanReport, Severity } from '../types.js';
import { type FleetEntry, mdText, referenceList, withVerdict } from './shared.js';

const sarifSchema = 'https://json.schemastore.org/sarif-2.1.0.json';

/** GitHub code scanning ranks alerts by this score: > 9 critical, ≥ 7 high, ≥ 4 medium, else low. */
const securitySeverity: Record<Severity, string> = {
  critical: '9.5',
  high: '8.0',
  medium: '5.5',
  low: '3.0',
  info: '0.0',
};

type Level = 'error' | 'warning' | 'note';
const levelOf = (s: Severity): Level =>
  s === 'critical' || s === 'high' ? 'error' : s === 'medium' ? 'warning' : 'note';

/** `PasswordEncryptionIsScramSha256` from "password_encryption is scram-sha-256". */
function ruleName(title: string): string {
  const words = title
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9]+/g, ' ')
    .trim()
    .split(' ')
    .filter((w) => w !== '');
  return words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('') || 'Check';
}

const isUrl = (s: string) => /^https?:\/\/\S+$/.test(s);

function rule(r: CheckResult) {
  const refs = referenceList(r);
  const url = (r.references ?? []).find(isUrl);
  const mdRefs = refs.map((ref) => (isUrl(ref) ? `<${ref}>` : mdText(ref)));
  return {
    id: r.id,
    name: ruleName(r.title),
    shortDescription: { text: r.title },
    fullDescription: { text: r.rationale },
    help: {
      text: `${r.remediation}${refs.length ? `\n\nReferences: ${refs.join(', ')}` : ''}`,
      markdown:
        `**Remediation**\n\n${mdText(r.remediation, true)}\n\n**Why**: ${mdText(r.rationale)}` +
        (mdRefs.length ? `\n\n**References**: ${mdRefs.join(' · ')}` : ''),
    },
    ...(url ? { helpUri: url } : {}),
    defaultConfiguration: { level: levelOf(r.severity) },
    properties: {
      tags: [...new Set([r.family, ...(r.cis ? [`CIS-${r.cis}`] : []), ...(r.stig ?? []), 'security'])],
      'security-severity': securitySeverity[r.severity],
      severity: r.severity,
      family: r.family,
      section: r.section,
    },
  };
}

function result(report: ScanReport, f: ReportedFinding, ruleIndex: number) {
  const text = f.object && !f.message.includes(f.object) ? `${f.object}: ${f.message}` : f.message;
  return {
    ruleId: f.checkId,
    ruleIndex,
    level: levelOf(f.severity),
    message: { text },
    locations: [
      {
        // GitHub requires a physical location; a database has no file, so every finding points
        // at one stable pseudo-path per database and the object goes in the logical location.
        physicalLocation: {
          artifactLocation: { uri: `postgresql/${encodeURIComponent(report.target.database)}` },
          region: { startLine: 1 },
        },
        logicalLocations: [{ name: f.object ?? 'server', kind: 'resource' }],
      },
    ],
    partialFingerprints: { 'pgwardenFinding/v1': f.fingerprint },
    ...(f.suppressed
      ? {
          suppressions: [
            {
              kind: 'external',
              status: 'accepted',
              justification: `${f.suppressed.reason}${f.suppressed.expires ? ` (expires ${f.suppressed.expires})` : ''}`,
              properties: {
                source: f.suppressed.kind,
                ...(f.suppressed.expires ? { expires: f.suppressed.expires } : {}),
              },
            },
          ],
        }
      : {}),
    properties: {
      severity: f.severity,
      ...(f.object !== undefined ? { object: f.object } : {}),
      evidence: f.evidence,
      ...(f.fix ? { fix: f.fix } : {}),
    },
  };
}

const driver = (version: string) => ({
  name: 'pgwarden',
  version,
  semanticVersion: version,
});

function endTime(report: ScanReport): { startTimeUtc?: string; endTimeUtc?: string } {
  const start = Date.parse(report.startedAt);
  if (Number.isNaN(start)) return {};
  return { startTimeUtc: report.startedAt, endTimeUtc: new Date(start + report.durationMs).toISOString() };
}

/** One SARIF run for one report; `category` sets runAutomationDetails.id (needed when a file holds several runs). */
function run(report: ScanReport, category?: string) {
  const index = new Map(report.results.map((r, i) => [r.id, i]));
  return {
    tool: { driver: { ...driver(report.tool.version), rules: report.results.map(rule) } },
    ...(category !== undefined ? { automationDetails: { id: category } } : {}),
    invocations: [
      {
        executionSuccessful: true,
        ...endTime(report),
        toolExecutionNotifications: withVerdict(report, 'not_evaluated').map((r) => ({
          level: 'warning',
          descriptor: { id: r.id },
          associatedRule: { id: r.id, index: index.get(r.id) ?? 0 },
          message: { text: r.reason ?? 'not evaluated' },
        })),
        toolConfigurationNotifications: report.notes.map((note) => ({
          level: 'warning',
          descriptor: { id: 'baseline' },
          message: { text: note },
        })),
      },
    ],
    results: report.results.flatMap((r) => r.findings.map((f) => result(report, f, index.get(r.id) ?? 0))),
    properties: {
      target: report.target,
      host: report.host,
      summary: report.summary,
      manual: withVerdict(report, 'manual').map((r) => r.id),
    },
  };
}

const log = (runs: unknown[]) => JSON.stringify({ $schema: sarifSchema, version: '2.1.0', runs }, null, 2);

/**
 * The report as SARIF 2.1.0 for GitHub code scanning and other SARIF viewers: one rule per check
 * that ran, one result per finding (suppressed ones carry `suppressions`), and the checks that
 * could not be evaluated as tool execution notifications.
 *
 * @example
 * await writeFile('pgwarden.sarif', renderSarif(report)); // then github/codeql-action/upload-sarif
 */
export const renderSarif = (report: ScanReport): string => log([run(report)]);

/**
 * A fleet as one SARIF log with one run per target. Each run has its own category
 * (`pgwarden/<target>/`): GitHub rejects a file with two runs of one tool and category, and
 * accepts at most 20 runs per upload.
 *
 * @example
 * await writeFile('fleet.sarif', renderFleetSarif(entries));
 */
export function renderFleetSarif(entries: readonly FleetEntry[]): string {
  return log(
    entries.map((e) => {
      const category = `pgwarden/${e.target}/`;
      if (e.report && !e.error) return run(e.report, category);
      return {
        tool: { driver: driver(e.report?.tool.version ?? pgwardenVersion) },
        automationDetails: { id: category },
        invocations: [
          {
            executionSuccessful: false,
            toolExecutionNotifications: [
              {
                level: 'error',
                descriptor: { id: e.error?.code ?? 'no-report' },
                message: { text: e.error?.message ?? 'the scan produced no report' },
              },
            ],
          },
        ],
        results: [],
        properties: { target: { name: e.target } },
      };
    }),
  );
}

import type { CheckDefinition } from '../types.js';

/**
 * Security fixes pgwarden knows, as the first fixed minor of each major (server_version_num).
 * Offline on purpose: the scanner never calls out; this table is updated with each release of
 * pgwarden. Majors absent from a row were never affected (or are past end of life: VER-002).
 */
export const securityFixes: ReadonlyArray<{ cve: string; title: string; fixed: Readonly<Record<number, number>> }> = [
  {
    cve: 'CVE-2019-10130',
    title: 'selectivity estimators bypass row security',
    fixed: { 9: 90613, 10: 100008, 11: 110003 },
  },
  {
    cve: 'CVE-2023-2455',
    title: 'row security policies disregard user ID changes after inlining',
    fixed: { 11: 110020, 12: 120015, 13: 130011, 14: 140008, 15: 150003 },
  },
  {
    cve: 'CVE-2023-39418',
    title: 'MERGE fails to enforce UPDATE or SELECT row security policies',
    fixed: { 15: 150004 },
  },
  {
    cve: 'CVE-2024-10976',
    title: 'row security below subqueries disregards user ID changes',
    fixed: { 12: 120021, 13: 130017, 14: 140014, 15: 150009, 16: 160005, 17: 170001 },
  },
  {
    cve: 'CVE-2024-10978',
    title: 'SET ROLE and SET SESSION AUTHORIZATION reset to the wrong user ID',
    fixed: { 12: 120021, 13: 130017, 14: 140014, 15: 150009, 16: 160005, 17: 170001 },
  },
  {
    cve: 'CVE-2025-8713',
    title: 'optimizer statistics expose sampled rows of a view, partition or child table past row security',
    fixed: { 13: 130022, 14: 140019, 15: 150014, 16: 160010, 17: 170006 },
  },
];

/** Last day each major receives fixes (the PostgreSQL versioning policy: five years). */
export const endOfLife: Readonly<Record<number, string>> = {
  12: '2024-11-21',
  13: '2025-11-13',
  14: '2026-11-12',
  15: '2027-11-11',
  16: '2028-11-09',
  17: '2029-11-08',
  18: '2030-11-14',
};

const formatVersion = (num: number) =>
  num >= 100000
    ? `${Math.floor(num / 10000)}.${num % 10000}`
    : `${Math.floor(num / 10000)}.${Math.floor(num / 100) % 100}.${num % 100}`;

/** Security fixes missing from a server of this version. */
export function missingFixes(versionNum: number): Array<{ cve: string; title: string; fixedIn: string }> {
  const major = versionNum >= 100000 ? Math.floor(versionNum / 10000) : Math.floor(versionNum / 100);
  const key = versionNum >= 100000 ? major : Math.floor(versionNum / 10000);
  const missing: Array<{ cve: string; title: string; fixedIn: string }> = [];
  for (const fix of securityFixes) {
    const fixed = fix.fixed[key];
    if (fixed !== undefined && versionNum < fixed)
      missing.push({ cve: fix.cve, title: fix.title, fixedIn: formatVersion(fixed) });
  }
  return missing;
}

export const versionChecks: CheckDefinition[] = [
  {
    id: 'VER-001',
    family: 'version',
    section: 'Installation and patches',
    title: 'The server has the security fixes for row security and role switching',
    severity: 'high',
    source: 'sql',
    cis: '1.5',
    references: securityFixes.map((f) => f.cve),
    rationale:
      'These releases fixed ways to read rows that row-level security hides or to act as another role; an unpatched minor version undoes the isolation pgwarden builds on.',
    remediation:
      'Upgrade to the latest minor release of your major version (a minor upgrade replaces the binaries and restarts; no dump and restore).',
    evaluate: async (ctx) => {
      const missing = missingFixes(ctx.server.versionNum);
      if (missing.length === 0) return { verdict: 'pass', evidence: { serverVersion: ctx.server.version } };
      return {
        verdict: 'fail',
        findings: missing.map((m) => ({
          object: m.cve,
          message: `PostgreSQL ${ctx.server.version} lacks the fix for ${m.cve} (${m.title}), fixed in ${m.fixedIn}`,
          evidence: { serverVersion: ctx.server.version, fixedIn: m.fixedIn },
        })),
      };
    },
  },
  {
    id: 'VER-002',
    family: 'version',
    section: 'Installation and patches',
    title: 'The major version still receives security fixes',
    severity: 'high',
    source: 'sql',
    cis: '1.5',
    references: ['https://www.postgresql.org/support/versioning/'],
    rationale: 'A major version past its end of life gets no more security fixes.',
    remediation: 'Plan a major upgrade (pg_upgrade or logical replication) to a supported major version.',
    evaluate: async (ctx) => {
      const eol = endOfLife[ctx.server.major];
      if (eol === undefined) {
        return ctx.server.major > 18
          ? { verdict: 'pass', evidence: { major: ctx.server.major, note: 'newer than the end-of-life table' } }
          : {
              verdict: 'fail',
              findings: [
                {
                  message: `PostgreSQL ${ctx.server.major} is past its end of life`,
                  evidence: { major: ctx.server.major },
                },
              ],
            };
      }
      if (ctx.now.getTime() < Date.parse(`${eol}T00:00:00Z`) + 86_400_000) {
        return { verdict: 'pass', evidence: { major: ctx.server.major, endOfLife: eol } };
      }
      return {
        verdict: 'fail',
        findings: [
          {
            message: `PostgreSQL ${ctx.server.major} stopped receiving fixes on ${eol}`,
            evidence: { major: ctx.server.major, endOfLife: eol },
          },
        ],
      };
    },
  },
];

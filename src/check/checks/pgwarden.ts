import type { CheckDefinition } from '../types.js';
import { section } from './pgwarden-support.js';
import { installationHealth, auditCoverage, ddlCapture } from './pgwarden-install.js';
import { ledgerVerified, sealerLag, passwordHashes, signingKeys } from './pgwarden-ledger.js';

// pgwarden's own controls; the evaluations live in pgwarden-install.ts and pgwarden-ledger.ts.
export const pgwardenChecks: CheckDefinition[] = [
  {
    id: 'PGW-001',
    family: 'pgwarden',
    section,
    title: 'pgwarden is installed completely, unmodified, with its roles',
    severity: 'high',
    source: 'pgwarden',
    rationale:
      'A module left behind its shipped version, an edited migration or a missing group role means the controls pgwarden reports are not the ones in force.',
    remediation:
      'Run `pgwarden install --tier <tier>` with this pgwarden version; an edited migration needs the original file restored (see `pgwarden status`).',
    evaluate: installationHealth,
  },
  {
    id: 'PGW-002',
    family: 'pgwarden',
    section,
    title: 'Row audit covers tenant data, and its capture works',
    severity: 'medium',
    source: 'pgwarden',
    rationale:
      'Tables under row-level security hold tenant data; without row audit a change to them leaves no trail, and a disabled trigger or a lost WAL slot silently stops a trail that looks enabled.',
    remediation:
      'Enable row audit on each table (`select audit.enable(…)`, choosing columns to exclude or redact); for WAL capture run `pgwarden audit capture setup` again and re-enable the listed tables.',
    evaluate: auditCoverage,
  },
  {
    id: 'PGW-003',
    family: 'pgwarden',
    section,
    title: 'DDL and privilege changes are captured',
    severity: 'medium',
    source: 'pgwarden',
    rationale:
      'The DDL event triggers record GRANTs, policy and RLS changes and disabled triggers; without them such changes leave no security event.',
    remediation: 'As a superuser: `select audit.ddl_capture_enable();` (creates or repairs the event triggers).',
    evaluate: ddlCapture,
  },
  {
    id: 'PGW-004',
    family: 'pgwarden',
    section,
    title: 'The ledger is initialised and verified recently without finding tampering',
    severity: 'high',
    source: 'pgwarden',
    rationale:
      'The ledger only detects tampering when someone verifies it; a successful `pgwarden audit verify` records a ledger.verified security event, a failing one ledger.tamper_detected.',
    remediation:
      'Initialise the ledger (`pgwarden audit keys init`), run `pgwarden audit verify` on a schedule shorter than check.ledgerMaxAgeHours, and investigate any tampering it reports.',
    evaluate: ledgerVerified,
  },
  {
    id: 'PGW-005',
    family: 'pgwarden',
    section,
    title: 'The sealer keeps up with the audit trail',
    severity: 'high',
    source: 'pgwarden',
    rationale: 'Rows not yet sealed into the ledger can be changed or removed by a superuser without a trace.',
    remediation:
      'Run the sealer (`pgwarden up` seals continuously, or `pgwarden audit seal` from a scheduler) and check its logs.',
    evaluate: sealerLag,
  },
  {
    id: 'PGW-006',
    family: 'pgwarden',
    section,
    title: 'Stored password hashes meet OWASP cost minimums',
    severity: 'medium',
    source: 'pgwarden',
    references: ['https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html'],
    rationale:
      'A hash below the recommended cost makes offline guessing of a leaked credential table cheap. The password policy itself is bounded by auth.policy and the config schema; the stored hashes show what was really used.',
    remediation:
      "pgwarden's auth service rehashes with argon2id at each user's next login; reset the password of accounts that do not log in (auth.set_password).",
    evaluate: passwordHashes,
  },
  {
    id: 'PGW-007',
    family: 'pgwarden',
    section,
    title: 'JWT signing keys are sound and rotated',
    severity: 'medium',
    source: 'pgwarden',
    references: ['RFC 8725', 'NIST SP 800-57 Part 1'],
    rationale:
      'Tokens are only as trustworthy as the keys that sign them: private material must never be published, one key signs, retired keys leave the JWKS once no valid token needs them, and keys are rotated.',
    remediation:
      'Rotate with `pgwarden keys rotate-jwt`; retire extra active keys; never store a private JWK member in public_jwk.',
    evaluate: signingKeys,
  },
];

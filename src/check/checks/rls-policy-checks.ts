import type { ScanContext } from '../scan-context.js';
import type { CheckDefinition, Finding } from '../types.js';
import {
  alwaysTrue,
  filterColumnsByBranch,
  identityColumns,
  nullIdentityDisjunct,
  type Policy,
  policies,
  settingReadingFunctions,
  settingsRead,
  userEditableClaims,
} from './rls-policies.js';
import { constantTruth } from './rls-policy-expr.js';
import { adminRoles, outcome } from './rls-scope.js';

// Lints over the text of the policies (pg_get_expr), read with rls-policy-expr.ts. Policies of
// every application schema are read (not system schemas, not pgwarden's own).

const section = 'Row-level security';
const remedyIdentity =
  "read the caller's identity only through pgwarden's helpers (auth.uid(), auth.tenant_id(), auth.sub(), auth.has_permission()), which verify a MAC over the request context and return NULL without one, and wrap them in a sub-select so they run once per statement: tenant_id = (select auth.tenant_id())";

const scope = async (ctx: ScanContext) => ({ policies: (await policies(ctx)).length });

/** A policy only administrators are subject to: every role it names is an admin role (not PUBLIC). */
async function adminOnly(ctx: ScanContext): Promise<(p: Policy) => boolean> {
  const admins = await adminRoles(ctx);
  return (p) => p.roles.every((r) => r !== 'PUBLIC' && admins.has(r));
}

const expressions = (p: Policy) =>
  [
    ['USING', p.using],
    ['WITH CHECK', p.check],
  ] as const;

const alwaysTrueCheck: CheckDefinition = {
  id: 'RLS-004',
  family: 'rls',
  section,
  title: 'No permissive policy admits every row to non-administrators',
  severity: 'high',
  source: 'sql',
  cis: '4.7',
  references: ['splinter 0024_rls_policy_always_true', 'ASVS 5.0 V8.2.2'],
  rationale:
    "A permissive policy whose USING or WITH CHECK is constantly true (true, 1 = 1, 'a' = 'a', true OR …) turns row-level security off for the roles it names: UPDATE and ALL policies without WITH CHECK reuse USING, so USING (true) there admits any new row too. Policies whose roles are all administrators (superusers, BYPASSRLS roles, check.dbaRoles, pgwarden's owner, security_admin, auditor and auth_service roles, none reachable from a request role) are not reported. SELECT-only USING (true) is medium (public read can be deliberate), writes are high. Unlike splinter, a policy with no expression is not reported: PostgreSQL adds nothing for it, so it admits no row.",
  remediation: `Restrict the policy to the rows of the caller: ${remedyIdentity}; or name only administrative roles in TO.`,
  evaluate: async (ctx) => {
    const isAdminOnly = await adminOnly(ctx);
    const findings: Finding[] = [];
    for (const p of await policies(ctx)) {
      const at = alwaysTrue(p);
      if (!p.permissive || !(at.using || at.check) || isAdminOnly(p)) continue;
      const what = at.using && at.check ? 'USING and WITH CHECK are' : at.using ? 'USING is' : 'WITH CHECK is';
      findings.push({
        object: p.object,
        message: `${p.object} (${p.command} to ${p.roles.join(', ')}): ${what} always true, so every row is admitted`,
        evidence: { command: p.command, roles: p.roles, using: p.qual, withCheck: p.withCheck },
        severity: p.command === 'SELECT' ? 'medium' : 'high',
      });
    }
    return outcome(findings, await scope(ctx));
  },
};

const nullDisjunctCheck: CheckDefinition = {
  id: 'RLS-005',
  family: 'rls',
  section,
  title: 'No policy is true when the caller has no identity',
  severity: 'high',
  source: 'sql',
  cis: '4.7',
  references: ['splinter 0030_rls_policy_null_auth_disjunct', 'ASVS 5.0 V8.2.2'],
  rationale:
    'A top-level disjunct such as `auth.uid() IS NULL OR owner_id = auth.uid()` (or NOT (… IS NOT NULL), on auth.* helpers or current_setting(…, true)) is true for every session without an identity: anonymous callers, forged or expired contexts, background jobs. So the whole policy admits every row to them. Checked in USING and WITH CHECK of permissive policies; policies for administrative roles only are not reported. current_setting(name) without missing_ok never returns NULL (it raises), so it is not reported.',
  remediation: `Remove the IS NULL disjunct, or gate it: (select auth.uid()) IS NOT NULL AND …; ${remedyIdentity}.`,
  evaluate: async (ctx) => {
    const isAdminOnly = await adminOnly(ctx);
    const findings: Finding[] = [];
    for (const p of await policies(ctx)) {
      if (!p.permissive || isAdminOnly(p)) continue;
      const hits = expressions(p).flatMap(([clause, expr]) => {
        const sources = expr && nullIdentityDisjunct(p, expr);
        return sources ? [{ clause, sources }] : [];
      });
      if (hits.length === 0) continue;
      findings.push({
        object: p.object,
        message: `${p.object} (${p.command}): ${hits.map((h) => `${h.clause} is true when ${h.sources.join(', ')} is NULL`).join('; ')}`,
        evidence: { command: p.command, roles: p.roles, using: p.qual, withCheck: p.withCheck },
      });
    }
    return outcome(findings, await scope(ctx));
  },
};

const userEditableCheck: CheckDefinition = {
  id: 'RLS-006',
  family: 'rls',
  section,
  title: 'No policy trusts user-editable claims',
  severity: 'critical',
  source: 'sql',
  cis: '4.7',
  references: ['splinter 0015_rls_references_user_metadata', 'ASVS 5.0 V8.2.2'],
  rationale:
    "user_metadata (raw_user_meta_data in an identity provider's user table) is written by the end user: a policy that reads a role, tenant or flag from it lets anyone grant themselves access (R-20). Matched on the names user_metadata, raw_user_meta_data and their spellings, in identifiers and JSON keys of USING and WITH CHECK.",
  remediation: `Authorize only on claims the server sets (tenant, roles, permissions): ${remedyIdentity}.`,
  evaluate: async (ctx) => {
    const findings: Finding[] = [];
    for (const p of await policies(ctx)) {
      const names = [...new Set(expressions(p).flatMap(([, e]) => (e ? userEditableClaims(e) : [])))].sort();
      if (names.length === 0) continue;
      findings.push({
        object: p.object,
        message: `${p.object} (${p.command}) authorizes on user-editable data: ${names.join(', ')}`,
        evidence: { command: p.command, roles: p.roles, fields: names, using: p.qual, withCheck: p.withCheck },
      });
    }
    return outcome(findings, await scope(ctx));
  },
};

const forgeableSettingCheck: CheckDefinition = {
  id: 'RLS-007',
  family: 'rls',
  section,
  title: 'No policy reads identity from a setting any session can change',
  severity: 'high',
  source: 'sql',
  cis: '4.7',
  references: ['https://www.postgresql.org/docs/current/runtime-config-custom.html', 'ASVS 5.0 V8.2.2'],
  rationale:
    "Custom settings (request.jwt.claims, request.jwt.claim.sub, app.tenant_id, pgwarden.context, …) are ordinary GUCs: any role can SET or set_config() them, so a policy that trusts current_setting('request.…') trusts whatever the caller typed (R-15). Reported when a policy calls current_setting() on a name with a dot, directly or through a function it calls whose body does (pgwarden's own auth.* helpers read pgwarden.context but verify its MAC first, and are not reported).",
  remediation: `Replace the setting with pgwarden's verified context: ${remedyIdentity}.`,
  evaluate: async (ctx) => {
    const findings: Finding[] = [];
    for (const p of await policies(ctx)) {
      const direct = [...new Set(expressions(p).flatMap(([, e]) => (e ? settingsRead(e) : [])))].sort();
      const via = settingReadingFunctions(ctx, p);
      if (direct.length === 0 && via.length === 0) continue;
      const parts = [
        ...(direct.length > 0 ? [`reads ${direct.join(', ')}`] : []),
        ...via.map((f) => `calls ${f.signature}, which reads ${f.settings.join(', ')}`),
      ];
      findings.push({
        object: p.object,
        message: `${p.object} (${p.command}) ${parts.join('; ')}: settings any session can change`,
        evidence: {
          command: p.command,
          settings: direct,
          functions: via.map((f) => ({ function: f.signature, settings: f.settings })),
          using: p.qual,
          withCheck: p.withCheck,
        },
      });
    }
    return outcome(findings, await scope(ctx));
  },
};

const withCheckCheck: CheckDefinition = {
  id: 'RLS-008',
  family: 'rls',
  section,
  title: 'Write policies check new rows as strictly as they filter old ones',
  severity: 'high',
  source: 'sql',
  cis: '4.7',
  references: ['https://www.postgresql.org/docs/current/sql-createpolicy.html', 'ASVS 5.0 V8.2.2'],
  rationale:
    "For UPDATE and ALL policies PostgreSQL uses USING as WITH CHECK when none is given, so a missing WITH CHECK is not a hole there. The hole is an explicit WITH CHECK that drops a condition of USING: `USING (tenant_id = (select auth.tenant_id())) WITH CHECK (owner_id = (select auth.uid()))` lets a caller move a row it can see into another tenant (R-09). Reported (high) when a column compared with the caller's identity in USING is not compared in WITH CHECK (always-true checks are RLS-004's). A permissive INSERT policy without WITH CHECK is reported as low: PostgreSQL adds nothing for it, so it admits no row, which is rarely what its author meant.",
  remediation:
    'Repeat every identity condition of USING in WITH CHECK (or omit WITH CHECK on UPDATE/ALL policies so USING is used); give INSERT policies a WITH CHECK such as tenant_id = (select auth.tenant_id()).',
  evaluate: async (ctx) => {
    const findings: Finding[] = [];
    for (const p of await policies(ctx)) {
      if (!p.permissive) continue;
      if (p.command === 'INSERT' && p.check === null) {
        findings.push({
          object: p.object,
          message: `${p.object} is an INSERT policy without WITH CHECK: it admits no row`,
          evidence: { command: p.command, roles: p.roles },
          severity: 'low',
        });
        continue;
      }
      if ((p.command !== 'UPDATE' && p.command !== 'ALL') || !p.using || !p.check) continue;
      if (constantTruth(p.check) === true) continue;
      const checked = new Set(identityColumns(p, p.check));
      const dropped = identityColumns(p, p.using).filter((c) => !checked.has(c));
      if (dropped.length === 0) continue;
      findings.push({
        object: p.object,
        message: `${p.object} (${p.command}) filters ${dropped.join(', ')} by the caller's identity in USING but not in WITH CHECK: an update can move a row out of the caller's reach`,
        evidence: { command: p.command, columns: dropped, using: p.qual, withCheck: p.withCheck },
      });
    }
    return outcome(findings, await scope(ctx));
  },
};

const unindexedCheck: CheckDefinition = {
  id: 'RLS-011',
  family: 'rls',
  section,
  title: 'Columns policies filter on are indexed',
  severity: 'low',
  source: 'sql',
  references: ['https://www.postgresql.org/docs/current/indexes-multicolumn.html'],
  rationale:
    "A policy's USING is added to every query on the table; when the column it compares with the caller's identity (tenant_id = (select auth.tenant_id())) leads no index, every query scans the whole table. For each top-level alternative of USING, reported when no valid, non-partial index starts with any of the columns its conjuncts compare with the identity (a performance finding, not a security one). Tables without row-level security are skipped.",
  remediation:
    'CREATE INDEX CONCURRENTLY on the column (or a composite index that starts with it, e.g. (tenant_id, id)).',
  evaluate: async (ctx) => {
    const seen = new Map<string, Finding>();
    for (const p of await policies(ctx)) {
      if (!p.rlsEnabled || p.command === 'INSERT') continue;
      for (const cols of filterColumnsByBranch(p)) {
        if (cols.length === 0 || cols.some((c) => p.indexLeads.includes(c))) continue;
        const col = p.quotedColumns[p.columns.indexOf(cols[0]!)] ?? cols[0]!;
        const object = `column ${p.table}.${col}`;
        const prior = seen.get(object);
        if (prior) {
          (prior.evidence.policies as string[]).push(p.name);
          continue;
        }
        seen.set(object, {
          object,
          message: `${p.table}.${col} is compared with the caller's identity by ${p.object} and leads no index`,
          evidence: { policies: [p.name], candidates: cols, indexLeads: p.indexLeads },
          fix: [{ sql: `create index concurrently on ${p.table} (${col});`, safety: 'manual' }],
        });
      }
    }
    return outcome([...seen.values()], await scope(ctx));
  },
};

/**
 * The policy-expression lints (RLS-004 … RLS-008, RLS-011).
 *
 * @example
 * rlsPolicyChecks.map((c) => c.id); // ['RLS-004', …]
 */
export const rlsPolicyChecks: CheckDefinition[] = [
  alwaysTrueCheck,
  nullDisjunctCheck,
  userEditableCheck,
  forgeableSettingCheck,
  withCheckCheck,
  unindexedCheck,
];

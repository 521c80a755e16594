import type pg from 'pg';
import { readInstallation, roleNames } from '../install/index.js';
import { type PolicyFacts, readRelations } from './catalog.js';
import { pgwardenSchemas } from './plan.js';
import { isManagedPolicy } from './policy-sql.js';
import {
  defaultSchemas,
  foreignKeyOracleRows,
  leakproofRows,
  managedPolicyRoles,
  tableRows,
  uniqueOracleRows,
  viewRows,
} from './status-queries.js';
import { type RlsCommand, rlsCommands } from './table-spec.js';
import { isSecurityInvoker } from './views.js';

/** How bad a finding is: `high` is a way around tenant isolation, `warn` a weakness, `info` a fact. */
export type FindingSeverity = 'high' | 'warn' | 'info';

/** One thing `status` found, with a stable `kind` for scripts. */
export interface RlsFinding {
  severity: FindingSeverity;
  kind:
    | 'unprotected'
    | 'request-role-owner'
    | 'not-forced'
    | 'owner-bypasses'
    | 'default-deny'
    | 'partition-unprotected'
    | 'table-wide-privilege'
    | 'policy-always-true'
    | 'view-leaks'
    | 'materialized-view'
    | 'leakproof-function'
    | 'leakproof-helper'
    | 'unique-oracle'
    | 'foreign-key-oracle'
    | 'server-version';
  /** The table, view or function concerned. */
  object: string;
  message: string;
}

/** One table's row-level security state. */
export interface TableStatus {
  table: string;
  kind: 'table' | 'partitioned table' | 'partition' | 'inheritance child';
  parent: string | null;
  owner: string;
  rlsEnabled: boolean;
  rlsForced: boolean;
  policies: Array<
    Omit<PolicyFacts, 'using' | 'check'> & { managed: boolean; using: string | null; check: string | null }
  >;
  /** Commands some permissive policy allows a request role. */
  commands: RlsCommand[];
  /** Request roles with a privilege on the table (and USAGE on its schema). */
  reachableBy: string[];
  /** RLS on and no policy: nobody subject to RLS sees or writes a row. */
  defaultDeny: boolean;
  /** Reachable by a request role with RLS off. */
  unprotected: boolean;
}

/** A view or materialized view over a table with row-level security. */
export interface ViewStatus {
  view: string;
  kind: 'view' | 'materialized view';
  securityInvoker: boolean;
  over: string[];
  reachableBy: string[];
}

/**
 * The first minor release of each major with every fix for the row-level-security and role
 * CVEs the toolkit relies on: CVE-2019-10130, CVE-2023-2455 (14.8, 15.3), CVE-2023-39418 (MERGE,
 * 15.4), CVE-2024-10976 and CVE-2024-10978 (14.14, 15.9, 16.5, 17.1).
 */
export const rlsFixedReleases: Readonly<Record<number, number>> = { 14: 140014, 15: 150009, 16: 160005, 17: 170001 };

/**
 * A high finding when the server (`server_version_num`) lacks one of those fixes; none
 * for 18 and later.
 */
export function serverVersionFinding(versionNum: number): RlsFinding | null {
  const major = Math.floor(versionNum / 10000);
  if (major >= 18) return null;
  const fixed = rlsFixedReleases[major];
  if (fixed !== undefined && versionNum >= fixed) return null;
  const wanted = fixed === undefined ? 'a supported major (14 or later)' : `${major}.${fixed % 100} or later`;
  return {
    severity: 'high',
    kind: 'server-version',
    object: 'server',
    message: `PostgreSQL ${major}.${versionNum % 100} lacks fixes for row-level security and SET ROLE (CVE-2023-2455, CVE-2023-39418, CVE-2024-10976, CVE-2024-10978); upgrade to ${wanted}`,
  };
}

/** What `pgwarden rls status` reports. */
export interface RlsStatus {
  schemas: string[];
  requestRoles: string[];
  tables: TableStatus[];
  views: ViewStatus[];
  findings: RlsFinding[];
}

/** Options of `rlsStatus`. */
export interface RlsStatusOptions {
  /** Schemas to look at; default every non-system schema except pgwarden's `auth`, `logs`, `pgwarden`. */
  schemas?: readonly string[] | undefined;
  /** Role prefix when the installation does not record one; default `pgw_`. */
  rolePrefix?: string | undefined;
  /** More request roles than anon, app_user and the roles of pgwarden's policies. */
  roles?: readonly string[] | undefined;
}

const severityRank: Record<FindingSeverity, number> = { high: 0, warn: 1, info: 2 };

/** Whether any finding is at or above a severity (for `--fail-on`). */
export function hasFindingAtLeast(status: RlsStatus, severity: FindingSeverity): boolean {
  return status.findings.some((f) => severityRank[f.severity] <= severityRank[severity]);
}

/**
 * Reads the row-level security state of every table and view in the schemas and lists what
 * weakens tenant isolation. Read-only.
 *
 * @example
 * const status = await withClient(connection, (c) => rlsStatus(c, { schemas: ['app'] }));
 * for (const f of status.findings) console.log(f.severity, f.kind, f.object);
 */
export async function rlsStatus(client: pg.ClientBase, options: RlsStatusOptions = {}): Promise<RlsStatus> {
  const prefix = (await readInstallation(client))?.rolePrefix ?? options.rolePrefix ?? 'pgw_';
  const names = roleNames(prefix);
  const schemas = options.schemas?.length ? [...options.schemas] : await defaultSchemas(client, pgwardenSchemas);
  const requestRoles = [
    ...new Set([names.anon, names.app_user, ...(await managedPolicyRoles(client)), ...(options.roles ?? [])]),
  ].sort();
  const findings: RlsFinding[] = [];
  const find = (severity: FindingSeverity, kind: RlsFinding['kind'], object: string, message: string) =>
    findings.push({ severity, kind, object, message });
  const { rows: version } = await client.query<{ v: string }>(
    `select pg_catalog.current_setting('server_version_num') v`,
  );
  const outdated = serverVersionFinding(Number(version[0]!.v));
  if (outdated) findings.push(outdated);

  const rows = await tableRows(client, schemas, requestRoles);
  const relations = await readRelations(
    client,
    rows.map((r) => r.oid),
  );
  const tables: TableStatus[] = relations.map((rel, i) => {
    const row = rows[i]!;
    const appliesToRequest = (p: PolicyFacts) => p.roles.some((r) => r === 'public' || requestRoles.includes(r));
    const commands = rlsCommands.filter((c) =>
      rel.policies.some((p) => p.permissive && (p.command === c || p.command === 'all') && appliesToRequest(p)),
    );
    const status: TableStatus = {
      table: rel.display,
      kind:
        rel.relkind === 'p'
          ? 'partitioned table'
          : rel.isPartition
            ? 'partition'
            : row.parent
              ? 'inheritance child'
              : 'table',
      parent: row.parent,
      owner: rel.owner,
      rlsEnabled: rel.rlsEnabled,
      rlsForced: rel.rlsForced,
      policies: rel.policies.map((p) => ({ ...p, managed: isManagedPolicy(p.name) })),
      commands,
      reachableBy: row.reachableBy,
      defaultDeny: rel.rlsEnabled && rel.policies.length === 0,
      unprotected: !rel.rlsEnabled && row.reachableBy.length > 0,
    };
    const t = rel.display;
    if (requestRoles.includes(rel.owner)) {
      find(
        'high',
        'request-role-owner',
        t,
        `owned by the request role ${rel.owner}, which can turn row-level security off`,
      );
    }
    if (status.unprotected) {
      find('high', 'unprotected', t, `reachable by ${row.reachableBy.join(', ')} without row-level security`);
    } else if (!rel.rlsEnabled && row.parentRls) {
      find(
        'warn',
        'partition-unprotected',
        t,
        `child of ${row.parent}, which has row-level security; this one has none`,
      );
    }
    if (status.defaultDeny) {
      find('info', 'default-deny', t, 'row-level security on and no policy: default deny (0 rows, every write fails)');
    }
    if (rel.rlsEnabled && !rel.rlsForced && !rel.ownerBypassesRls) {
      find('warn', 'not-forced', t, `not FORCE ROW LEVEL SECURITY: its owner ${rel.owner} sees and writes every row`);
    }
    if (rel.rlsEnabled && rel.ownerBypassesRls) {
      find('info', 'owner-bypasses', t, `owned by ${rel.owner}, a superuser or BYPASSRLS role: no policy binds it`);
    }
    for (const w of row.widePrivileges) {
      find(
        rel.rlsEnabled ? 'high' : 'warn',
        'table-wide-privilege',
        t,
        `${w.role} holds ${w.privilege}, which row-level security does not govern`,
      );
    }
    for (const p of rel.policies) {
      if (p.permissive && appliesToRequest(p) && (p.using === 'true' || p.check === 'true')) {
        find(
          'warn',
          'policy-always-true',
          t,
          `policy ${p.name} (${p.command}) is always true for ${p.roles.join(', ')}`,
        );
      }
    }
    return status;
  });

  const views: ViewStatus[] = (await viewRows(client, schemas, requestRoles)).map((v) => {
    const securityInvoker = v.relkind === 'v' && isSecurityInvoker(v.reloptions);
    const severity = v.reachableBy.length ? 'high' : 'warn';
    const over = v.over.join(', ');
    if (v.relkind === 'm') {
      find(
        severity,
        'materialized-view',
        v.view,
        `stores rows of ${over} as its owner saw them: no row-level security`,
      );
    } else if (!securityInvoker) {
      find(
        severity,
        'view-leaks',
        v.view,
        `runs as its owner over ${over} without security_invoker=true; fix: pgwarden rls protect-view ${v.view}`,
      );
    }
    const kind = v.relkind === 'm' ? 'materialized view' : 'view';
    return { view: v.view, kind, securityInvoker, over: v.over, reachableBy: v.reachableBy };
  });

  for (const l of await leakproofRows(client, schemas)) {
    if (l.table) {
      find('warn', 'leakproof-function', l.fn, `LEAKPROOF and called by policy ${l.policy} on ${l.table}`);
    } else {
      find('high', 'leakproof-helper', l.fn, 'an identity helper marked LEAKPROOF: it may run before the policies');
    }
  }
  for (const u of await uniqueOracleRows(client, schemas)) {
    find(
      'warn',
      'unique-oracle',
      u.table,
      `unique ${u.index} (${u.columns.join(', ')}) spans tenants: a duplicate-key error reveals another tenant's value; make it unique per tenant`,
    );
  }
  for (const f of await foreignKeyOracleRows(client, schemas, requestRoles)) {
    find(
      'warn',
      'foreign-key-oracle',
      f.table,
      `foreign key ${f.constraint} (${f.columns.join(', ')}) → ${f.references} is checked without row-level security: a tenant can reference, and so detect, another tenant's row; include the tenant column in the key`,
    );
  }
  findings.sort((a, b) => severityRank[a.severity] - severityRank[b.severity] || a.object.localeCompare(b.object));
  return { schemas, requestRoles, tables, views, findings };
}

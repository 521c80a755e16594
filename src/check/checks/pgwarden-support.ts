import { moduleDefinitions } from '../../install/index.js';
import { NotEvaluated, type ScanContext } from '../scan-context.js';
import type { Finding, Outcome } from '../types.js';

// Shared by pgwarden's own controls (PGW-001…007): whether a module is installed, reads that
// name the grant they need, the installation row.
export const section = 'pgwarden controls';
export const day = 86_400_000;

// Looked up in the catalogs, which every login may read, so a scanner without pgwarden's grants
// is told "not evaluated" (by the reads that follow) rather than "pgwarden is not installed".
export const markers = {
  core: 'pgwarden.migrations',
  audit: 'audit.audited_tables',
  ledger: 'ledger.state',
  auth: 'auth.signing_keys',
} as const;

export async function applicable(ctx: ScanContext, module: keyof typeof markers): Promise<Outcome | null> {
  const rows = await ctx.query<{ name: string }>(
    'pgw.objects',
    `select n.nspname || '.' || c.relname as name
       from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname || '.' || c.relname = any($1::text[])`,
    [Object.values(markers)],
  );
  const have = new Set(rows.map((r) => r.name));
  if (!have.has(markers.core))
    return { verdict: 'not_applicable', reason: 'pgwarden is not installed in this database' };
  if (!have.has(markers[module])) {
    const tier = moduleDefinitions.find((m) => m.name === module)?.tier;
    return { verdict: 'not_applicable', reason: `pgwarden's ${module} module is not installed here (${tier} tier)` };
  }
  return null;
}

/** ctx.query, with what to grant the scanner added to a permission error. */
export async function read<T>(
  ctx: ScanContext,
  key: string,
  sql: string,
  params: unknown[],
  grant: string,
): Promise<T[]> {
  try {
    return await ctx.query<T>(key, sql, params);
  } catch (err) {
    if (err instanceof NotEvaluated) throw new NotEvaluated(`${err.reason}; ${grant}`);
    throw err;
  }
}

export const asAuditor = 'grant the pgwarden auditor role to the scanning login';

/** The installation row (tier, role prefix), or undefined when it is missing. */
export async function readInstallation(
  ctx: ScanContext,
): Promise<{ tier: 'basic' | 'standard' | 'advanced'; rolePrefix: string } | undefined> {
  const rows = await read<{ tier: 'basic' | 'standard' | 'advanced'; rolePrefix: string }>(
    ctx,
    'pgw.installation',
    `select tier, role_prefix as "rolePrefix" from pgwarden.installation`,
    [],
    asAuditor,
  );
  return rows[0];
}

export const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
export const fail = (findings: Finding[], evidence: Record<string, unknown>): Outcome =>
  findings.length > 0 ? { verdict: 'fail', findings } : { verdict: 'pass', evidence };

import type pg from 'pg';
import { quoteIdent, wrapPgError } from '../db/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import { readInstallation, roleNames } from '../install/index.js';
import { readRoles, readTableFacts } from './catalog.js';
import { dropPolicySql, managedPolicyPrefix } from './policy-sql.js';
import { type ProtectOptions, specError, tableSpec } from './table-spec.js';
import { planTable } from './table-plan.js';
import { planViews } from './views.js';

/** The kinds of change a plan holds. */
export type RlsStepKind =
  | 'enable-rls'
  | 'force-rls'
  | 'create-policy'
  | 'replace-policy'
  | 'drop-policy'
  | 'create-index'
  | 'revoke'
  | 'grant'
  | 'security-invoker';

/** One change: what it touches, what it does in words, and the SQL that does it. */
export interface RlsStep {
  kind: RlsStepKind;
  /** The table or view changed, as `schema.name` (quoted where needed). */
  object: string;
  summary: string;
  sql: string;
}

/** What `plan` found: the steps that would make the database match, and warnings. */
export interface RlsPlan {
  /** The tables planned (partitions included), quoted. */
  tables: string[];
  views: string[];
  steps: RlsStep[];
  warnings: string[];
}

/** What to plan for. */
export interface RlsPlanOptions {
  tables?: readonly ProtectOptions[] | undefined;
  /** Views to give `security_invoker = true`. */
  views?: readonly string[] | undefined;
  /**
   * Drop pgwarden's policies (`pgw_tenant_*`) from tables not listed, as a declarative file means
   * "exactly these". Row-level security stays on there, so those tables fall back to default deny.
   */
  prune?: boolean | undefined;
  /** Role prefix when pgwarden's installation does not record one; default `pgw_`. */
  rolePrefix?: string | undefined;
  /** Where the options came from, for error messages (a file path, `the options`). */
  source?: string | undefined;
}

/** Schemas that are pgwarden's own: the toolkit never plans for them. */
export const pgwardenSchemas = ['auth', 'logs', 'pgwarden'] as const;

/**
 * Compares what the options ask for with the catalog and returns the steps that would make them
 * match, without changing anything.
 *
 * @example
 * const plan = await withClient(connection, (c) =>
 *   planRls(c, { tables: [{ table: 'app.invoices', tenantColumn: 'tenant_id' }] }),
 * );
 * for (const step of plan.steps) console.log(step.sql);
 */
export async function planRls(client: pg.ClientBase, options: RlsPlanOptions): Promise<RlsPlan> {
  await client.query('begin');
  try {
    return await computePlan(client, options);
  } catch (err) {
    throw wrapPgError(err);
  } finally {
    await client.query('rollback').catch(() => undefined);
  }
}

/** The plan, computed inside the caller's open transaction (it probes in a savepoint). */
export async function computePlan(client: pg.ClientBase, options: RlsPlanOptions): Promise<RlsPlan> {
  const source = options.source ?? 'the options';
  const prefix = (await readInstallation(client))?.rolePrefix ?? options.rolePrefix ?? 'pgw_';
  const names = roleNames(prefix);
  const specs = (options.tables ?? []).map((t) => tableSpec(t, prefix, source));
  if (specs.length > 0) await assertHelpers(client);
  const plan: RlsPlan = { tables: [], views: [], steps: [], warnings: [] };

  const policyRoles = [...new Set(specs.flatMap((s) => s.roles))];
  const roleFacts = await readRoles(client, policyRoles);
  const roleIdents = new Map(roleFacts.map((r) => [r.name, r.ident]));
  const roleIdent = (name: string) => roleIdents.get(name) ?? quoteIdent(name);
  for (const role of roleFacts) {
    const refuse = (why: string) =>
      new PgwardenError(ErrorCodes.RLS_BAD_ROLE, `role ${role.name} cannot be a request role: ${why}`, {
        hint: `policies are for request roles such as ${names.app_user} (NOLOGIN, no BYPASSRLS)`,
      });
    if (!role.exists) throw refuse('it does not exist');
    if (role.superuser || role.bypassRls) throw refuse('it bypasses row-level security');
    if (role.canLogin) throw refuse('it can log in; requests switch to a NOLOGIN role');
    if (role.name === names.owner || role.name === names.authenticator) throw refuse("it is one of pgwarden's own");
    if (!role.authUsage) {
      plan.warnings.push(
        `role ${role.name} has no USAGE on schema auth: its policies will fail until \`grant usage on schema auth to ${role.ident}\``,
      );
    }
  }

  const covered = new Set<number>();
  for (const spec of specs) {
    const facts = await readTableFacts(client, spec.table);
    const rels = [facts.relation, ...facts.descendants];
    if (rels.some((r) => covered.has(r.oid))) {
      throw specError([`${spec.table}: listed twice (or under a parent already listed)`], source);
    }
    for (const r of rels) {
      covered.add(r.oid);
      plan.tables.push(r.display);
    }
    const requestRoles = [...new Set([names.anon, names.app_user, ...spec.roles])];
    const roles = { requestRoles, roleIdent, pgwardenOwner: names.owner };
    plan.steps.push(...(await planTable(client, facts, spec, roles, plan.warnings)));
  }

  if (options.views?.length) {
    const views = await planViews(client, options.views);
    plan.views.push(...views.views);
    plan.steps.push(...views.steps);
  }

  if (options.prune) plan.steps.push(...(await planPrune(client, covered)));
  return plan;
}

/** PW314 unless the identity helpers the policies call are installed. */
async function assertHelpers(client: pg.ClientBase): Promise<void> {
  const { rows } = await client.query<{ ok: boolean }>(
    `select pg_catalog.to_regprocedure('auth.tenant_id()') is not null
        and pg_catalog.to_regprocedure('auth.has_permission(text)') is not null as ok`,
  );
  if (!rows[0]?.ok) {
    throw new PgwardenError(
      ErrorCodes.AUTH_NOT_INSTALLED,
      'the identity helpers auth.tenant_id() and co. are missing',
      {
        hint: 'install pgwarden (`pgwarden install`) before protecting tables: the policies call its helpers',
      },
    );
  }
}

/** Drops pgwarden's policies from tables no longer listed. */
async function planPrune(client: pg.ClientBase, covered: ReadonlySet<number>): Promise<RlsStep[]> {
  const { rows } = await client.query<{ oid: string; display: string; policy: string; ident: string }>(
    `select c.oid::int8 as oid, pg_catalog.format('%I.%I', n.nspname, c.relname) as display, p.polname as policy,
            pg_catalog.quote_ident(p.polname) as ident
       from pg_catalog.pg_policy p
       join pg_catalog.pg_class c on c.oid = p.polrelid
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where pg_catalog.starts_with(p.polname, $1)
        and n.nspname <> all ($2::text[]) and n.nspname !~ '^pg_' and n.nspname <> 'information_schema'
      order by 2, 3`,
    [managedPolicyPrefix, pgwardenSchemas],
  );
  return rows
    .filter((r) => !covered.has(Number(r.oid)))
    .map((r) => ({
      kind: 'drop-policy' as const,
      object: r.display,
      summary: `drop policy ${r.policy} (table not in the file; row-level security stays on: default deny)`,
      sql: dropPolicySql(r.display, r.ident),
    }));
}

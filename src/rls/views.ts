import type pg from 'pg';
import { quoteIdent } from '../db/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import type { RlsStep } from './plan.js';
import { resolveRelation } from './catalog.js';

/** Whether a view's reloptions say `security_invoker` is on. */
export function isSecurityInvoker(reloptions: readonly string[] | null | undefined): boolean {
  const option = (reloptions ?? []).find((o) => o.toLowerCase().startsWith('security_invoker='));
  return option !== undefined && ['true', 'on', 'yes', '1'].includes(option.split('=')[1]!.toLowerCase());
}

/**
 * SQL for a view that runs with the rights of whoever queries it (PostgreSQL 15+), so the
 * row-level security of the tables under it applies to the caller, not to the view's owner.
 *
 * @example
 * invokerViewSql({ schema: 'app', name: 'open_invoices' }, "select * from app.invoices where status = 'open'");
 * // create or replace view "app"."open_invoices" with (security_invoker = true) as select …;
 */
export function invokerViewSql(view: { schema: string; name: string }, query: string): string {
  const body = query.trim().replace(/;+\s*$/, '');
  return `create or replace view ${quoteIdent(view.schema)}.${quoteIdent(view.name)} with (security_invoker = true) as\n${body};`;
}

/** PW359 unless the server has security_invoker views (PostgreSQL 15+). */
export async function assertInvokerViews(client: pg.ClientBase): Promise<void> {
  const { rows } = await client.query<{ v: number }>(
    `select pg_catalog.current_setting('server_version_num')::int as v`,
  );
  if ((rows[0]?.v ?? 0) < 150000) {
    throw new PgwardenError(ErrorCodes.RLS_UNSUPPORTED_SERVER, 'security_invoker views need PostgreSQL 15 or later', {
      hint: 'upgrade the server, or revoke the request roles from views over protected tables',
    });
  }
}

/** Steps that give each named view `security_invoker = true`; PW358 for anything not a view. */
export async function planViews(
  client: pg.ClientBase,
  names: readonly string[],
): Promise<{ views: string[]; steps: RlsStep[] }> {
  await assertInvokerViews(client);
  const out: { views: string[]; steps: RlsStep[] } = { views: [], steps: [] };
  const seen = new Set<number>();
  for (const name of names) {
    const found = await resolveRelation(client, name);
    if (!found || found.relkind !== 'v') {
      throw new PgwardenError(ErrorCodes.RLS_NOT_A_VIEW, found ? `${found.display} is not a view` : `no view ${name}`, {
        hint:
          found?.relkind === 'm'
            ? 'a materialized view stores rows as its owner saw them; replace it with a view, or keep request roles away from it'
            : 'name an existing view as schema.view',
      });
    }
    if (seen.has(found.oid)) continue;
    seen.add(found.oid);
    out.views.push(found.display);
    const { rows } = await client.query<{ reloptions: string[] | null }>(
      'select reloptions from pg_catalog.pg_class where oid = $1::oid',
      [found.oid],
    );
    if (!isSecurityInvoker(rows[0]?.reloptions)) {
      out.steps.push({
        kind: 'security-invoker',
        object: found.display,
        summary: "set security_invoker = true (the caller's row-level security applies)",
        sql: `alter view ${found.display} set (security_invoker = true);`,
      });
    }
  }
  return out;
}

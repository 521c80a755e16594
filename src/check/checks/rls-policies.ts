import type { ScanContext } from '../scan-context.js';
import {
  callsOf,
  columnOf,
  comparison,
  comparisonsOf,
  conjuncts,
  constantTruth,
  disjuncts,
  firstString,
  isWord,
  type Node,
  parseExpr,
  stripCasts,
  tokensOf,
  unwrap,
} from './rls-policy-expr.js';
import { applicationSchemas, pgwardenRoles } from './rls-scope.js';

/** A function a policy calls, from pg_depend. */
export interface PolicyFunction {
  schema: string;
  name: string;
  /** `schema.name(argtypes)` */
  signature: string;
  owner: string;
  /** Custom settings (names with a dot) its body reads with current_setting(). */
  settings: string[];
}

/** One policy of an application table, as the catalog has it. */
export interface PolicyRow {
  table: string;
  name: string;
  /** `policy <name> on <schema>.<table>` */
  object: string;
  permissive: boolean;
  command: 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE' | 'ALL';
  /** Role names; `PUBLIC` for public. */
  roles: string[];
  qual: string | null;
  withCheck: string | null;
  rlsEnabled: boolean;
  columns: string[];
  /** The same columns as SQL identifiers (quoted where needed). */
  quotedColumns: string[];
  /** Columns that lead a valid, non-partial index of the table. */
  indexLeads: string[];
  functions: PolicyFunction[];
}

/** A policy with its expressions parsed. */
export interface Policy extends PolicyRow {
  using: Node[] | null;
  check: Node[] | null;
  /** Printed names of calls that return the caller's identity (lower case). */
  identityCalls: Set<string>;
  columnSet: Set<string>;
}

// current_setting('<name with a dot>') in a function body: a custom setting, which any session can set.
const settingInBody = String.raw`current_setting\s*\(\s*'([^']*\.[^']*)'`;

/**
 * Every policy on a table of an application schema, parsed; ordered by schema, table, name.
 *
 * @example
 * for (const p of await policies(ctx)) if (alwaysTrue(p).using) console.log(p.object);
 */
export async function policies(ctx: ScanContext): Promise<Policy[]> {
  const rows = await ctx.query<PolicyRow>(
    'rls.policies',
    `select pg_catalog.format('%I.%I', n.nspname, c.relname) as "table", p.polname::text as name,
            pg_catalog.format('policy %I on %I.%I', p.polname, n.nspname, c.relname) as object,
            p.polpermissive as permissive,
            case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE' when 'd' then 'DELETE'
                          else 'ALL' end as command,
            array(select case when x = 0 then 'PUBLIC' else pg_catalog.pg_get_userbyid(x)::text end
                    from pg_catalog.unnest(p.polroles) x order by 1) as roles,
            pg_catalog.pg_get_expr(p.polqual, p.polrelid) as qual,
            pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid) as "withCheck",
            c.relrowsecurity as "rlsEnabled",
            array(select a.attname::text from pg_catalog.pg_attribute a
                   where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped order by a.attnum) as columns,
            array(select pg_catalog.quote_ident(a.attname) from pg_catalog.pg_attribute a
                   where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped order by a.attnum) as "quotedColumns",
            array(select distinct a.attname::text from pg_catalog.pg_index i
                    join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
                   where i.indrelid = c.oid and i.indisvalid and i.indpred is null order by 1) as "indexLeads",
            coalesce((select pg_catalog.json_agg(pg_catalog.json_build_object(
                        'schema', fn.nspname, 'name', f.proname,
                        'signature', pg_catalog.format('%I.%I(%s)', fn.nspname, f.proname, pg_catalog.oidvectortypes(f.proargtypes)),
                        'owner', pg_catalog.pg_get_userbyid(f.proowner),
                        'settings', array(select distinct m[1] from pg_catalog.regexp_matches(
                                            f.prosrc || coalesce(pg_catalog.pg_get_function_sqlbody(f.oid), ''), $2, 'gi') m
                                           order by 1))
                        order by fn.nspname, f.proname)
                        from pg_catalog.pg_proc f join pg_catalog.pg_namespace fn on fn.oid = f.pronamespace
                       where f.oid in (select d.refobjid from pg_catalog.pg_depend d
                                        where d.classid = 'pg_catalog.pg_policy'::regclass and d.objid = p.oid
                                          and d.refclassid = 'pg_catalog.pg_proc'::regclass)), '[]') as functions
       from pg_catalog.pg_policy p
       join pg_catalog.pg_class c on c.oid = p.polrelid
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = any($1::text[])
      order by n.nspname, c.relname, p.polname`,
    [await applicationSchemas(ctx), settingInBody],
  );
  return rows.map((r) => {
    const identityCalls = new Set(['current_setting', 'pg_catalog.current_setting']);
    for (const f of r.functions) {
      if (f.schema === 'auth' || f.settings.length > 0) {
        // Printed qualified unless the scanner's search_path makes it visible.
        identityCalls.add(`${f.schema}.${f.name}`.toLowerCase());
        identityCalls.add(f.name.toLowerCase());
      }
    }
    return {
      ...r,
      using: r.qual === null ? null : parseExpr(r.qual),
      check: r.withCheck === null ? null : parseExpr(r.withCheck),
      identityCalls,
      columnSet: new Set(r.columns),
    };
  });
}

const identityWords = ['current_user', 'session_user', 'current_role', 'user'];

/**
 * The identity sources a run reads: auth.* calls, current_setting(), CURRENT_USER, …; printed names.
 *
 * @example
 * identitySources(p, p.using!); // ['auth.tenant_id()']
 */
export function identitySources(p: Policy, items: Node[]): string[] {
  const found = new Set<string>();
  for (const c of callsOf(items)) if (p.identityCalls.has(c.name)) found.add(`${c.name}()`);
  for (const t of tokensOf(items))
    if (t.kind === 'ident' && identityWords.includes(t.value.toLowerCase())) found.add(t.value);
  return [...found].sort();
}

/**
 * Whether the policy's USING and its WITH CHECK are always true. UPDATE and ALL reuse USING as the check.
 *
 * @example
 * alwaysTrue(p); // { using: true, check: true } for FOR UPDATE USING (true)
 */
export function alwaysTrue(p: Policy): { using: boolean; check: boolean } {
  const using = p.using !== null && constantTruth(p.using) === true;
  const check =
    p.check !== null ? constantTruth(p.check) === true : using && (p.command === 'UPDATE' || p.command === 'ALL');
  return { using, check };
}

/**
 * A top-level disjunct of the form `<identity> IS NULL` (or `NOT (<identity> IS NOT NULL)`):
 * true for every caller without an identity, so the whole expression is. Returns the identity
 * sources of the first such disjunct.
 *
 * @example
 * nullIdentityDisjunct(p, p.using!); // ['auth.uid()'] for auth.uid() IS NULL OR owner_id = auth.uid()
 */
export function nullIdentityDisjunct(p: Policy, items: Node[]): string[] | undefined {
  const parts = disjuncts(items);
  if (parts.length < 2) return undefined;
  for (const part of parts) {
    let run = unwrap(part);
    let wantNot = false;
    if (isWord(run[0], 'not')) {
      run = unwrap(run.slice(1));
      wantNot = true;
    }
    const n = run.length;
    if (n < 3 || !isWord(run[n - 1], 'null') || !isWord(run[n - (wantNot ? 3 : 2)], 'is')) continue;
    if (wantNot !== isWord(run[n - 2], 'not')) continue;
    const operand = run.slice(0, n - (wantNot ? 3 : 2));
    const sources = identitySources(p, operand);
    if (sources.length > 0 && !neverNull(operand)) return sources;
  }
  return undefined;
}

// current_setting(name) and current_setting(name, false) raise rather than return NULL.
function neverNull(operand: Node[]): boolean {
  const bare = stripCasts(unwrap(operand));
  const calls = callsOf(bare);
  const onlyTheCall = bare.length === 2 || (bare.length === 4 && isWord(bare[0], 'pg_catalog'));
  return (
    onlyTheCall &&
    calls.length === 1 &&
    /(^|\.)current_setting$/.test(calls[0]!.name) &&
    ![...tokensOf(calls[0]!.args)].some((t) => isWord(t, 'true'))
  );
}

/**
 * Names of user-editable claim fields a run reads: user_metadata, raw_user_meta_data, ….
 *
 * @example
 * userEditableClaims(parseExpr("((auth.claims() -> 'user_metadata'::text) ->> 'role'::text)")); // ['user_metadata']
 */
export function userEditableClaims(items: Node[]): string[] {
  const found = new Set<string>();
  for (const t of tokensOf(items)) {
    if (t.kind === 'string' && /user_?meta_?data/i.test(t.value)) found.add(t.value);
    if ((t.kind === 'ident' || t.kind === 'qident') && /^(raw_)?user_?meta_?data$/i.test(t.value)) found.add(t.value);
  }
  return [...found].sort();
}

/**
 * Custom settings a run reads directly with current_setting('name.with.dot').
 *
 * @example
 * settingsRead(parseExpr("current_setting('request.jwt.claims'::text, true)")); // ['request.jwt.claims']
 */
export function settingsRead(items: Node[]): string[] {
  const names = callsOf(items)
    .filter((c) => /(^|\.)current_setting$/.test(c.name))
    .map((c) => firstString(c.args))
    .filter((s): s is string => s !== undefined && s.includes('.'));
  return [...new Set(names)].sort();
}

/**
 * Functions the policy calls whose body reads a custom setting, pgwarden's own verified helpers excepted.
 *
 * @example
 * settingReadingFunctions(ctx, p).map((f) => f.signature); // ['app.current_tenant()']
 */
export function settingReadingFunctions(ctx: ScanContext, p: Policy): PolicyFunction[] {
  const owner = pgwardenRoles(ctx).owner;
  return p.functions.filter((f) => f.settings.length > 0 && !(f.schema === 'auth' && f.owner === owner));
}

/**
 * Columns compared with `=` or IN to the caller's identity anywhere under the run's AND/OR tree.
 *
 * @example
 * identityColumns(p, p.using!); // ['tenant_id'] for tenant_id = (select auth.tenant_id())::uuid
 */
export function identityColumns(p: Policy, items: Node[]): string[] {
  const cols = new Set<string>();
  for (const cmp of comparisonsOf(items)) {
    const col = equalityColumn(p, cmp.op, cmp.left, cmp.right);
    if (col) cols.add(col);
  }
  return [...cols].sort();
}

function equalityColumn(p: Policy, op: string, left: Node[], right: Node[]): string | undefined {
  if (op !== '=' && op !== 'in') return undefined;
  const l = columnOf(left, p.columnSet);
  if (l && identitySources(p, right).length > 0) return l;
  const r = columnOf(right, p.columnSet);
  if (r && identitySources(p, left).length > 0) return r;
  return undefined;
}

/**
 * For each top-level alternative of the USING expression, the columns its conjuncts compare with
 * the caller's identity, in order of appearance (the index candidates).
 *
 * @example
 * filterColumnsByBranch(p); // [['tenant_id', 'owner_id']]
 */
export function filterColumnsByBranch(p: Policy): string[][] {
  if (p.using === null) return [];
  return disjuncts(p.using).map((branch) => {
    const cols: string[] = [];
    for (const c of conjuncts(branch)) {
      const cmp = comparison(c);
      const col = cmp && equalityColumn(p, cmp.op, cmp.left, cmp.right);
      if (col && !cols.includes(col)) cols.push(col);
    }
    return cols;
  });
}

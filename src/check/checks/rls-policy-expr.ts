// A small reader of policy expressions as PostgreSQL prints them (pg_get_expr, non-pretty). That
// output is regular enough to analyse without a full SQL grammar: every boolean expression
// (AND/OR/NOT), every operator expression and every IS [NOT] NULL test is wrapped in its own
// parentheses, BETWEEN and IN-lists are already rewritten into comparisons, and columns inside a
// sub-select are always qualified. So grouping tokens by parentheses is enough to find the
// top-level connective, the disjuncts and conjuncts, and the two sides of each comparison.

import { type Token, tokenize } from './rls-policy-tokens.js';

export type { Token } from './rls-policy-tokens.js';

/** A parenthesised or bracketed run of nodes. */
export interface Group {
  kind: 'group';
  open: '(' | '[';
  items: Node[];
}

export type Node = Token | Group;

/**
 * Parses a printed policy expression into nested groups.
 *
 * @example
 * parseExpr("(tenant_id = auth.tenant_id())"); // [{ kind: 'group', open: '(', items: [...] }]
 */
export function parseExpr(text: string): Node[] {
  const stack: Group[] = [{ kind: 'group', open: '(', items: [] }];
  for (const t of tokenize(text)) {
    const top = stack[stack.length - 1]!;
    if (t.kind === 'punct' && (t.value === '(' || t.value === '[')) {
      const g: Group = { kind: 'group', open: t.value, items: [] };
      top.items.push(g);
      stack.push(g);
    } else if (t.kind === 'punct' && (t.value === ')' || t.value === ']')) {
      if (stack.length === 1 || top.open !== (t.value === ')' ? '(' : '[')) {
        throw new Error('unbalanced parentheses in policy expression');
      }
      stack.pop();
    } else {
      top.items.push(t);
    }
  }
  if (stack.length !== 1) throw new Error('unbalanced parentheses in policy expression');
  return stack[0]!.items;
}

const isGroup = (n: Node | undefined): n is Group => n?.kind === 'group';
/**
 * Whether a node is an unquoted word, compared case-insensitively (how keywords print).
 *
 * @example
 * isWord(parseExpr('NOT x')[0], 'not'); // true
 */
export const isWord = (n: Node | undefined, word: string): boolean =>
  n?.kind === 'ident' && n.value.toLowerCase() === word;

/**
 * Drops parentheses that wrap the whole run.
 *
 * @example
 * unwrap(parseExpr('((a))')); // [{ kind: 'ident', value: 'a' }]
 */
export function unwrap(items: Node[]): Node[] {
  let cur = items;
  while (cur.length === 1 && isGroup(cur[0]) && cur[0].open === '(') cur = cur[0].items;
  return cur;
}

function splitOn(items: Node[], word: 'and' | 'or'): Node[][] {
  const parts: Node[][] = [[]];
  for (const n of items) {
    if (isWord(n, word)) parts.push([]);
    else parts[parts.length - 1]!.push(n);
  }
  return parts;
}

/**
 * The top-level disjuncts: `(a OR b)` → [a, b]; anything else → [itself].
 *
 * @example
 * disjuncts(parseExpr('((auth.uid() IS NULL) OR (owner_id = auth.uid()))')).length; // 2
 */
export const disjuncts = (items: Node[]): Node[][] => splitOn(unwrap(items), 'or');
/**
 * The top-level conjuncts: `(a AND b)` → [a, b]; anything else → [itself].
 *
 * @example
 * conjuncts(parseExpr('((a = 1) AND (b = 2))')).length; // 2
 */
export const conjuncts = (items: Node[]): Node[][] => splitOn(unwrap(items), 'and');

// Type names a cast may print as more than one word.
const multiWordTypes: Record<string, string[][]> = {
  character: [['varying']],
  bit: [['varying']],
  double: [['precision']],
  timestamp: [
    ['with', 'time', 'zone'],
    ['without', 'time', 'zone'],
  ],
  time: [
    ['with', 'time', 'zone'],
    ['without', 'time', 'zone'],
  ],
};

/**
 * Removes `::type` casts (qualified, multi-word, with typmod or array brackets).
 *
 * @example
 * stripCasts(parseExpr("'x'::character varying(10)")); // [{ kind: 'string', value: 'x' }]
 */
export function stripCasts(items: Node[]): Node[] {
  const out: Node[] = [];
  for (let i = 0; i < items.length; i++) {
    const n = items[i]!;
    if (!(n.kind === 'punct' && n.value === '::')) {
      out.push(n);
      continue;
    }
    let j = i + 1;
    const first = items[j];
    if (first?.kind !== 'ident' && first?.kind !== 'qident') {
      out.push(n);
      continue;
    }
    j++;
    if (items[j]?.kind === 'punct' && (items[j] as Token).value === '.') j += 2;
    for (const tail of multiWordTypes[first.value.toLowerCase()] ?? []) {
      if (tail.every((w, k) => isWord(items[j + k], w))) {
        j += tail.length;
        break;
      }
    }
    while (isGroup(items[j])) j++;
    i = j - 1;
  }
  return out;
}

/**
 * Every token of a run, depth first.
 *
 * @example
 * [...tokensOf(parseExpr('(a = 1)'))].map((t) => t.value); // ['a', '=', '1']
 */
export function* tokensOf(items: Node[]): Generator<Token> {
  for (const n of items) {
    if (isGroup(n)) yield* tokensOf(n.items);
    else yield n;
  }
}

/** A function call found in an expression: its printed name and its argument nodes. */
export interface Call {
  /** As printed, lower-cased: `auth.uid`, `current_setting`, `pg_catalog.current_setting`. */
  name: string;
  args: Node[];
}

/**
 * Every function call in a run, nested ones included.
 *
 * @example
 * callsOf(parseExpr('(tenant_id = ( SELECT auth.tenant_id() AS tenant_id))'))[0]?.name; // 'auth.tenant_id'
 */
export function callsOf(items: Node[]): Call[] {
  const calls: Call[] = [];
  const walk = (run: Node[]) => {
    for (let i = 0; i < run.length; i++) {
      const n = run[i]!;
      if (isGroup(n)) {
        walk(n.items);
        continue;
      }
      const next = run[i + 1];
      if ((n.kind !== 'ident' && n.kind !== 'qident') || !isGroup(next) || next.open !== '(') continue;
      const prev = run[i - 1];
      if (prev?.kind === 'punct' && prev.value === '::') continue; // a typmod: ::varchar(10)
      const before = run[i - 2];
      const qualified = prev?.kind === 'punct' && prev.value === '.' && before && !isGroup(before);
      calls.push({ name: (qualified ? `${before.value}.${n.value}` : n.value).toLowerCase(), args: next.items });
    }
  };
  walk(items);
  return calls;
}

/**
 * The first string constant among a call's arguments (current_setting's name).
 *
 * @example
 * firstString(callsOf(parseExpr("current_setting('request.jwt.claims'::text, true)"))[0]!.args); // 'request.jwt.claims'
 */
export const firstString = (args: Node[]): string | undefined => {
  const t = args.find((n): n is Token => !isGroup(n) && n.kind === 'string');
  return t?.value;
};

/**
 * Whether a run is a constant truth value: `true`, `(1 = 1)`, `('a'::text = 'a'::text)`,
 * `(true OR x)`, `(NOT false)`. Undefined when it depends on anything else.
 *
 * @example
 * constantTruth(parseExpr('(1 = 1)')); // true
 */
export function constantTruth(items: Node[]): boolean | undefined {
  const run = unwrap(items);
  const ors = splitOn(run, 'or');
  if (ors.length > 1) {
    const vals = ors.map(constantTruth);
    if (vals.includes(true)) return true;
    return vals.every((v) => v === false) ? false : undefined;
  }
  const ands = splitOn(run, 'and');
  if (ands.length > 1) {
    const vals = ands.map(constantTruth);
    if (vals.includes(false)) return false;
    return vals.every((v) => v === true) ? true : undefined;
  }
  if (isWord(run[0], 'not')) {
    const v = constantTruth(run.slice(1));
    return v === undefined ? undefined : !v;
  }
  const bare = stripCasts(run);
  if (bare.length === 1 && isWord(bare[0], 'true')) return true;
  if (bare.length === 1 && isWord(bare[0], 'false')) return false;
  const cmp = comparison(run);
  if (cmp && (cmp.op === '=' || cmp.op === '<>' || cmp.op === '!=')) {
    const l = constantText(cmp.left);
    const r = constantText(cmp.right);
    if (l !== undefined && l === r) return cmp.op === '=';
  }
  return undefined;
}

/** A literal operand (casts ignored) as comparable text; undefined when not a literal. */
function constantText(items: Node[]): string | undefined {
  const bare = stripCasts(unwrap(items));
  if (bare.length !== 1) return undefined;
  const t = bare[0]!;
  if (t.kind === 'string' || t.kind === 'number') return `${t.kind}:${t.value}`;
  return isWord(t, 'true') || isWord(t, 'false') ? `bool:${(t as Token).value.toLowerCase()}` : undefined;
}

/** A binary comparison at the top of a run: `(a = b)`, `(a IN (SELECT …))`, `(a = ANY (…))`. */
export interface Comparison {
  op: string;
  left: Node[];
  right: Node[];
}

/**
 * The run's top-level comparison, when it is one.
 *
 * @example
 * comparison(parseExpr("(status = 'open'::text)"))?.op; // '='
 */
export function comparison(items: Node[]): Comparison | undefined {
  const run = unwrap(items);
  const at = run.findIndex(
    (n, i) => i > 0 && ((n.kind === 'op' && n.value !== '::') || (isWord(n, 'in') && !isWord(run[i - 1], 'not'))),
  );
  if (at <= 0) return undefined;
  const op = (run[at] as Token).value.toLowerCase();
  return { op, left: run.slice(0, at), right: run.slice(at + 1) };
}

/**
 * The column a side names, when it is a bare column of `columns` (casts and parentheses aside).
 *
 * @example
 * columnOf(parseExpr('(tenant_id)::text'), new Set(['tenant_id'])); // 'tenant_id'
 */
export function columnOf(items: Node[], columns: ReadonlySet<string>): string | undefined {
  const bare = stripCasts(unwrap(items));
  const t = bare.length === 1 ? bare[0] : undefined;
  if (!t || isGroup(t) || (t.kind !== 'ident' && t.kind !== 'qident')) return undefined;
  return columns.has(t.value) ? t.value : undefined;
}

/**
 * The comparisons under the run's AND/OR/NOT tree; not those inside sub-selects (their columns
 * are other tables') nor inside CASE or function arguments.
 *
 * @example
 * comparisonsOf(parseExpr('((a = 1) OR (NOT (b = 2)))')).length; // 2
 */
export function comparisonsOf(items: Node[]): Comparison[] {
  const found: Comparison[] = [];
  const visit = (run: Node[]) => {
    const top = unwrap(run);
    if (isWord(top[0], 'select')) return;
    const parts = splitOn(top, 'or').flatMap((p) => splitOn(p, 'and'));
    if (parts.length > 1) {
      parts.forEach(visit);
      return;
    }
    if (isWord(top[0], 'not')) {
      visit(top.slice(1));
      return;
    }
    const cmp = comparison(top);
    if (cmp) found.push(cmp);
  };
  visit(items);
  return found;
}

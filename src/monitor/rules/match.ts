import type { MonitorEvent } from '../event.js';
import { withoutSqlComments } from '../sources/server-log/sql-lexer.js';
import { type Cidr, inCidr, parseAddress, parseCidr } from './cidr.js';
import { decodeForMatch } from './decode.js';
import { eventTexts, type FieldGetter, fieldGetter, type FieldValue, maxTextLength, RuleFieldError } from './fields.js';
import type { MatchScalar, Selection } from './rule-schema.js';

/** A compiled match condition. */
export type Predicate = (event: MonitorEvent) => boolean;

const operators = new Set([
  'contains',
  'startswith',
  'endswith',
  're',
  'gte',
  'gt',
  'lte',
  'lt',
  'cidr',
  'exists',
  'fieldref',
]);
const flags = new Set(['all', 'not', 'cased', 'decoded', 'sql']);

/**
 * Compiles selections (any may match) into one predicate. Throws RuleFieldError naming the key for
 * an unknown field or modifier, a bad regular expression, address block or number.
 *
 * @example
 * const p = compileSelections([{ type: 'auth.login_failed', 'fields.reason|not': 'expired' }]);
 * p(event); // true or false
 */
export function compileSelections(selections: readonly Selection[]): Predicate {
  const compiled = selections.map(compileSelection);
  if (compiled.length === 1) return compiled[0] as Predicate;
  return (e) => {
    for (const p of compiled) if (p(e)) return true;
    return false;
  };
}

function compileSelection(selection: Selection): Predicate {
  const keys = Object.entries(selection).map(([key, value]) => compileKey(key, value));
  if (keys.length === 0) return () => true;
  return (e) => {
    for (const p of keys) if (!p(e)) return false;
    return true;
  };
}

/** The event types and categories a selection is limited to, for the engine's index. */
export function selectionIndex(selection: Selection): { types?: string[]; categories?: string[] } {
  const pick = (key: string) => {
    const v = selection[key];
    const list = Array.isArray(v) ? v : [v];
    return list.every((x) => typeof x === 'string') ? (list as string[]).map((x) => x.toLowerCase()) : undefined;
  };
  if (selection.type !== undefined) {
    const types = pick('type');
    if (types) return { types };
  }
  if (selection['fields.category'] !== undefined) {
    const categories = pick('fields.category');
    if (categories) return { categories };
  }
  return {};
}

function compileKey(key: string, value: MatchScalar | readonly MatchScalar[]): Predicate {
  const [field = '', ...mods] = key.split('|');
  const values = (Array.isArray(value) ? value : [value]) as MatchScalar[];
  let op = 'eq';
  const set = new Set<string>();
  for (const mod of mods) {
    if (operators.has(mod)) {
      if (op !== 'eq') throw new RuleFieldError(key, `"${key}" has two operators (${op}, ${mod})`);
      op = mod;
    } else if (flags.has(mod)) set.add(mod);
    else throw new RuleFieldError(key, `unknown modifier "${mod}" in "${key}"`);
  }
  const isAny = field === 'any';
  const get: FieldGetter | undefined = isAny ? undefined : fieldGetter(field);
  const test: Test = op === 'fieldref' ? () => false : compileTest(key, op, values, set);
  const all = set.has('all');
  const decoded = set.has('decoded');
  // `sql`: comments read as the space the server reads them as (`drop/*x*/policy`).
  const sql = set.has('sql');
  const prepare = (v: FieldValue): FieldValue => {
    if (typeof v !== 'string') return v;
    const s = v.length > maxTextLength ? v.slice(0, maxTextLength) : v;
    const d = decoded ? decodeForMatch(s) : s;
    return sql ? withoutSqlComments(d) : d;
  };
  let holds: Predicate;
  if (op === 'fieldref') {
    const refs = values.map((r) => {
      if (typeof r !== 'string') throw new RuleFieldError(key, `"${key}" expects field names`);
      return fieldGetter(r);
    });
    const cased = set.has('cased');
    const same = (a: FieldValue, b: FieldValue) =>
      a !== undefined &&
      b !== undefined &&
      (cased ? String(a) === String(b) : String(a).toLowerCase() === String(b).toLowerCase());
    if (!get) throw new RuleFieldError(key, '"any" cannot be compared with fieldref');
    holds = all ? (e) => refs.every((r) => same(get(e), r(e))) : (e) => refs.some((r) => same(get(e), r(e)));
  } else if (isAny) {
    holds = (e) => {
      const texts = eventTexts(e);
      if (op === 'exists') return test(texts.length > 0 ? 'x' : undefined, all);
      for (const t of texts) if (test(prepare(t), all)) return true;
      return false;
    };
  } else {
    const g = get as FieldGetter;
    holds = (e) => test(prepare(g(e)), all);
  }
  return set.has('not') ? (e) => !holds(e) : holds;
}

type Test = (v: FieldValue, all: boolean) => boolean;

function compileTest(key: string, op: string, values: MatchScalar[], mods: Set<string>): Test {
  const cased = mods.has('cased');
  const fold = (s: string) => (cased ? s : s.toLowerCase());
  switch (op) {
    case 'eq': {
      const wanted = new Set(values.filter((v) => v !== null).map((v) => fold(String(v))));
      const absentOk = values.includes(null);
      return (v, all) => {
        if (v === undefined) return absentOk;
        const s = fold(String(v));
        return all ? values.every((w) => w !== null && fold(String(w)) === s) : wanted.has(s);
      };
    }
    case 'exists': {
      const want = values[0];
      if (values.length !== 1 || typeof want !== 'boolean')
        throw new RuleFieldError(key, `"${key}" expects true or false`);
      return (v) => (v !== undefined && v !== '') === want;
    }
    case 'contains':
    case 'startswith':
    case 'endswith': {
      const needles = values.map((v) => {
        if (v === null) throw new RuleFieldError(key, `"${key}" cannot compare with null`);
        return fold(String(v));
      });
      const one =
        op === 'contains'
          ? (s: string, n: string) => s.includes(n)
          : op === 'startswith'
            ? (s: string, n: string) => s.startsWith(n)
            : (s: string, n: string) => s.endsWith(n);
      return (v, all) => {
        if (v === undefined) return false;
        const s = fold(String(v));
        return all ? needles.every((n) => one(s, n)) : needles.some((n) => one(s, n));
      };
    }
    case 're': {
      const patterns = values.map((v) => compileRegex(key, v));
      return (v, all) => {
        if (v === undefined) return false;
        const s = String(v);
        return all ? patterns.every((p) => p.test(s)) : patterns.some((p) => p.test(s));
      };
    }
    case 'cidr': {
      const blocks = values.map((v) => {
        const c = typeof v === 'string' ? parseCidr(v) : undefined;
        if (!c)
          throw new RuleFieldError(key, `"${key}": ${JSON.stringify(v)} is not an address block such as 10.0.0.0/8`);
        return c;
      });
      return (v, all) => {
        if (typeof v !== 'string') return false;
        const addr = parseAddress(v);
        if (!addr) return false;
        return all ? blocks.every((b: Cidr) => inCidr(addr, b)) : blocks.some((b: Cidr) => inCidr(addr, b));
      };
    }
    default: {
      const bounds = values.map((v) => {
        const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
        if (!Number.isFinite(n)) throw new RuleFieldError(key, `"${key}" expects a number`);
        return n;
      });
      const cmp =
        op === 'gte'
          ? (a: number, b: number) => a >= b
          : op === 'gt'
            ? (a: number, b: number) => a > b
            : op === 'lte'
              ? (a: number, b: number) => a <= b
              : (a: number, b: number) => a < b;
      return (v, all) => {
        if (v === undefined || v === '' || typeof v === 'boolean') return false;
        const n = typeof v === 'number' ? v : Number(v);
        if (!Number.isFinite(n)) return false;
        return all ? bounds.every((b) => cmp(n, b)) : bounds.some((b) => cmp(n, b));
      };
    }
  }
}

function compileRegex(key: string, value: MatchScalar): RegExp {
  if (typeof value !== 'string') throw new RuleFieldError(key, `"${key}" expects regular expressions as strings`);
  const insensitive = value.startsWith('(?i)');
  try {
    return new RegExp(insensitive ? value.slice(4) : value, insensitive ? 'i' : '');
  } catch (err) {
    throw new RuleFieldError(key, `"${key}": invalid regular expression: ${(err as Error).message}`);
  }
}

import type { AlertRuleRef } from '../alert-signal.js';
import type { MonitorEvent } from '../event.js';
import { type FieldGetter, fieldGetter, type KeyField, keyField, RuleFieldError } from './fields.js';
import { compileSelections, type Predicate, selectionIndex } from './match.js';
import { ruleError } from './parse-rules.js';
import { LruMap } from './lru-map.js';
import type { Rule, Selection } from './rule-schema.js';
import type { GroupPart } from './summary.js';
import type { DistinctSet, SlotCounter, TimeRing } from './window.js';

/** An incident a group fired: later events of the group add to it until it goes quiet. */
export interface Incident {
  firstSeen: number;
  total: number;
  pending: number;
  pendingFirst: number;
  pendingLast: number;
  pendingIds: string[];
  lastEmit: number;
  /** Distinct counts and sums at the crossing, for the summaries of later updates. */
  distinct: Record<string, number>;
  sum: Record<string, number>;
}

/** The state of one group of one rule. */
export interface Group {
  key: string;
  parts: GroupPart[];
  lastTime: number;
  ring?: TimeRing | undefined;
  distinct?: DistinctSet[] | undefined;
  sums?: SlotCounter[] | undefined;
  /** Events pushed out of the ring, by slot, so a large count stays known. */
  counter?: SlotCounter | undefined;
  incident?: Incident | undefined;
}

/** What a group of an `after` condition remembers. */
export interface AfterState {
  key: string;
  lastTime: number;
  ring: TimeRing;
  distinct: DistinctSet[];
}

/** A rule ready to run: matchers compiled, its groups attached. */
export interface CompiledRule {
  rule: Rule;
  ref: AlertRuleRef;
  match: Predicate;
  exclude: Predicate | undefined;
  keys: KeyField[];
  distinct: { spec: string; field: KeyField; min: number }[];
  sums: { spec: string; get: FieldGetter; min: number }[];
  count: number;
  windowMs: number;
  ringCap: number;
  needsCounter: boolean;
  details: { path: string; get: FieldGetter }[];
  after:
    | {
        match: Predicate;
        keys: KeyField[] | undefined;
        windowMs: number;
        count: number;
        distinct: { spec: string; field: KeyField; min: number }[];
        ringCap: number;
      }
    | undefined;
  groups: LruMap<Group>;
  afterGroups: LruMap<AfterState>;
  dirty: Set<Group>;
  /** The last event sequence number that visited this rule (so an indexed rule runs once per event). */
  seq: number;
  /** Index keys: `type:<t>` / `category:<c>`, or none when the rule must see every event. */
  index: string[] | undefined;
}

/** Reads the group-by values of an event. */
export function readParts(keys: readonly KeyField[], e: MonitorEvent): GroupPart[] {
  return keys.map((k) => {
    const kv = k.read(e);
    return { spec: k.spec, name: kv?.name, value: kv?.value };
  });
}

/** The map key of the group of an event. */
export function groupKey(keys: readonly KeyField[], e: MonitorEvent): string {
  let key = '';
  for (const k of keys) key += `${k.keyOf(e) ?? ''}\u001e`;
  return key;
}

function indexOf(selections: readonly Selection[]): string[] | undefined {
  const keys: string[] = [];
  for (const s of selections) {
    const idx = selectionIndex(s);
    if (idx.types) keys.push(...idx.types.map((t) => `type:${t}`));
    else if (idx.categories) keys.push(...idx.categories.map((c) => `category:${c}`));
    else return undefined;
  }
  return keys;
}

/** Compiles a validated rule; PW602 if it is not valid after all (a Rule built by hand). */
export function compileRule(rule: Rule, maxEvidence: number): CompiledRule {
  try {
    const distinct = (d: Readonly<Record<string, number>>) =>
      Object.entries(d).map(([spec, min]) => ({ spec, field: keyField(spec), min }));
    const mainIndex = indexOf(rule.match);
    const afterIndex = rule.after ? indexOf(rule.after.match) : [];
    const hasExtra = Object.keys(rule.threshold.distinct).length > 0 || Object.keys(rule.threshold.sum).length > 0;
    return {
      rule,
      ref: {
        id: rule.id,
        title: rule.title,
        severity: rule.severity,
        attack: rule.attack,
        suppressSeconds: rule.suppressSeconds,
      },
      match: compileSelections(rule.match),
      exclude: rule.exclude.length > 0 ? compileSelections(rule.exclude) : undefined,
      keys: rule.groupBy.map(keyField),
      distinct: distinct(rule.threshold.distinct),
      sums: Object.entries(rule.threshold.sum).map(([spec, min]) => ({ spec, get: fieldGetter(spec), min })),
      count: rule.threshold.count,
      windowMs: rule.windowMs,
      ringCap: Math.max(rule.threshold.count, maxEvidence),
      needsCounter: hasExtra,
      details: rule.detailsFields.map((path) => ({ path, get: fieldGetter(path) })),
      after: rule.after
        ? {
            match: compileSelections(rule.after.match),
            keys: rule.after.groupBy?.map(keyField),
            windowMs: rule.after.windowMs ?? rule.windowMs,
            count: rule.after.count,
            distinct: distinct(rule.after.distinct),
            ringCap: Math.max(rule.after.count, maxEvidence),
          }
        : undefined,
      groups: new LruMap(),
      afterGroups: new LruMap(),
      dirty: new Set(),
      seq: 0,
      index: mainIndex && afterIndex ? [...new Set([...mainIndex, ...afterIndex])] : undefined,
    };
  } catch (err) {
    if (err instanceof RuleFieldError) throw ruleError(rule.origin, [`${err.field}: ${err.message}`], rule.id);
    throw err;
  }
}

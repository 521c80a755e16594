import { createHash } from 'node:crypto';
import type { Rule } from './rule-schema.js';
import { humanDuration } from './rule-schema.js';

/** One group-by value of an incident: the field actually used and its value. */
export interface GroupPart {
  /** The rule's group_by entry (`user??fields.account`). */
  spec: string;
  /** The field the value came from (`fields.account`), or undefined when the event had none. */
  name: string | undefined;
  value: string | undefined;
}

/** The placeholders a rule's summary template may use. */
export function summaryPlaceholders(rule: Rule): Set<string> {
  const out = new Set(['count', 'window', 'title']);
  for (const spec of rule.groupBy) {
    out.add(spec);
    out.add(spec.split('??')[0]?.trim() ?? spec);
  }
  for (const spec of Object.keys(rule.threshold.distinct)) out.add(`distinct.${spec}`);
  for (const spec of Object.keys(rule.threshold.sum)) out.add(`sum.${spec}`);
  return out;
}

/** What a summary is rendered from. */
export interface SummaryFacts {
  count: number;
  windowMs: number;
  parts: readonly GroupPart[];
  distinct: Readonly<Record<string, number>>;
  sum: Readonly<Record<string, number>>;
}

// eslint-disable-next-line no-control-regex
const controls = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** A value fit for one line a person reads: no control characters, at most 80 characters. */
export function displayValue(value: string): string {
  const clean = value.replace(controls, ' ');
  return clean.length > 80 ? `${clean.slice(0, 79)}…` : clean;
}

/**
 * The alert summary: the rule's template with `{count}`, `{window}`, `{title}`, each group-by field
 * (`{user}` or the full spec `{user??fields.account}`), `{distinct.<field>}` and `{sum.<field>}`
 * filled in, or a generic line when the rule has none. Only group values and numbers ever appear,
 * never a statement.
 */
export function renderSummary(rule: Rule, facts: SummaryFacts): string {
  const values = new Map<string, string>([
    ['count', String(facts.count)],
    ['window', humanDuration(facts.windowMs)],
    ['title', rule.title],
  ]);
  for (const part of facts.parts) {
    const shown = part.value === undefined ? 'unknown' : displayValue(part.value);
    values.set(part.spec, shown);
    values.set(part.spec.split('??')[0]?.trim() ?? part.spec, shown);
  }
  for (const [k, v] of Object.entries(facts.distinct)) values.set(`distinct.${k}`, String(v));
  for (const [k, v] of Object.entries(facts.sum)) values.set(`sum.${k}`, String(Math.round(v)));
  if (rule.summary !== undefined)
    return rule.summary.replace(/\{([^{}]+)\}/g, (whole, name: string) => values.get(name) ?? whole);
  const who = facts.parts
    .filter((p) => p.value !== undefined)
    .map((p) => `${p.name ?? p.spec}=${displayValue(p.value ?? '')}`)
    .join(', ');
  const n = facts.count === 1 ? '1 event' : `${facts.count} events`;
  return `${rule.title}: ${n}${who ? ` (${who})` : ''} within ${humanDuration(facts.windowMs)}`;
}

function keyValue(value: string): string {
  const escaped = value.replace(/%/g, '%25').replace(/\|/g, '%7C');
  if (escaped.length <= 200) return escaped;
  const digest = createHash('sha256').update(value).digest('hex').slice(0, 16);
  return `${escaped.slice(0, 120)}…${digest}`;
}

/**
 * `<rule id>|<field>=<value>|…` over the group-by fields in rule order: the same incident always
 * gives the same key. `|` and `%` in values are percent-encoded; a value past 200 characters is
 * cut and suffixed with a digest of the whole. A field the events did not carry reads `<spec>=`.
 *
 * @example
 * dedupeKey('pg-brute-force', [{ spec: 'user', name: 'user', value: 'alice' }]); // 'pg-brute-force|user=alice'
 */
export function dedupeKey(ruleId: string, parts: readonly GroupPart[]): string {
  let key = ruleId;
  for (const p of parts) key += `|${p.name ?? p.spec}=${p.value === undefined ? '' : keyValue(p.value)}`;
  return key;
}

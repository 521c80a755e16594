import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { fieldGetter, isSensitiveField, keyField, RuleFieldError } from './fields.js';
import { compileSelections } from './match.js';
import { durationMs, type Rule, type RuleDocument, ruleDocumentSchema, type Selection } from './rule-schema.js';
import { summaryPlaceholders } from './summary.js';

/** A PW602 error listing each problem as `<origin>: rule <id>: <field>: <problem>`. */
export function ruleError(origin: string, problems: readonly string[], id?: string): PgwardenError {
  const where = id ? `rule ${id} in ${origin}` : origin;
  const first = problems[0] ?? 'invalid';
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return new PgwardenError(ErrorCodes.MONITOR_RULE_INVALID, `invalid detection rule: ${where}: ${first}${more}`, {
    detail: problems.map((p) => `${origin}: rule ${id ?? '?'}: ${p}`).join('\n'),
    hint: 'fix the rule (docs/monitor.md describes the rule format) or disable it',
  });
}

function issueLines(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    const keys = issue.code === 'unrecognized_keys' ? ` (${issue.keys.join(', ')})` : '';
    return `${path || '(rule)'}: ${issue.message}${keys}`;
  });
}

/**
 * Parses the text of a rule file: one rule, a list of rules, or several `---` documents. Throws
 * PW602 naming the origin, the rule id and the field of the first invalid rule.
 *
 * @example
 * const rules = parseRules(await readFile('my-rules.yml', 'utf8'), 'my-rules.yml');
 */
export function parseRules(text: string, origin: string): Rule[] {
  const docs = parseAllDocuments(text);
  const out: Rule[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) {
      const first = doc.errors[0];
      const line = first?.linePos?.[0] ? ` at line ${first.linePos[0].line}` : '';
      const text = (first?.message.split('\n')[0] ?? 'cannot parse').replace(/ at line \d+, column \d+:?$/, '');
      throw ruleError(origin, [`YAML${line}: ${text}`]);
    }
    const data: unknown = doc.toJS();
    if (data === null || data === undefined) continue;
    const items = Array.isArray(data) ? data : [data];
    for (const item of items) out.push(documentToRule(item, origin));
  }
  return out;
}

/**
 * Reads and parses one rule file (PW602 when it cannot be read or is invalid). `origin` is how
 * errors and `Rule.origin` name the file.
 *
 * @example
 * const rules = await parseRuleFile('/etc/pgwarden/rules/local.yml');
 */
export async function parseRuleFile(path: string, origin = path): Promise<Rule[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw ruleError(origin, [`cannot read the file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  return parseRules(text, origin);
}

/**
 * Validates one rule object (as from YAML) into a Rule; PW602 naming the field when invalid.
 *
 * @example
 * const doc = { id: 'x', title: 'X', severity: 'low', attack: ['T1078'], match: { type: 'x' } };
 * const rule = documentToRule(doc, 'inline');
 */
export function documentToRule(item: unknown, origin: string): Rule {
  const id =
    typeof item === 'object' && item !== null && typeof (item as { id?: unknown }).id === 'string'
      ? (item as { id: string }).id
      : undefined;
  const parsed = ruleDocumentSchema.safeParse(item);
  if (!parsed.success) throw ruleError(origin, issueLines(parsed.error.issues), id);
  const doc = parsed.data;
  const rule = fromDocument(doc, origin);
  try {
    checkRule(rule);
  } catch (err) {
    if (err instanceof RuleFieldError) throw ruleError(origin, [`${err.field}: ${err.message}`], doc.id);
    throw err;
  }
  return rule;
}

// A duration given as a number of seconds is kept as `<n>s`, so the rule reads back the same.
const durationText = (v: string | number): string => (typeof v === 'number' ? `${v}s` : v.trim());

const list = (s: Selection | Selection[] | undefined): Selection[] =>
  s === undefined ? [] : Array.isArray(s) ? s : [s];

function fromDocument(doc: RuleDocument, origin: string): Rule {
  const window = durationText(doc.window ?? '5m');
  const suppress = durationText(doc.suppress ?? '1h');
  const rule: Rule = {
    id: doc.id,
    title: doc.title,
    description: doc.description?.trim() ?? '',
    severity: doc.severity,
    attack: doc.attack,
    match: list(doc.match),
    exclude: list(doc.exclude),
    groupBy: doc.group_by ?? [],
    window,
    windowMs: durationMs(doc.window ?? '5m'),
    threshold: {
      count: doc.threshold?.count ?? 1,
      distinct: doc.threshold?.distinct ?? {},
      sum: doc.threshold?.sum ?? {},
    },
    suppress,
    suppressSeconds: Math.round(durationMs(doc.suppress ?? '1h') / 1000),
    enabled: doc.enabled ?? true,
    detailsFields: doc.details_fields ?? [],
    references: doc.references ?? [],
    falsePositives: doc.false_positives ?? [],
    origin,
  };
  if (doc.summary !== undefined) rule.summary = doc.summary;
  if (doc.after) {
    rule.after = {
      match: list(doc.after.match),
      count: doc.after.count ?? 1,
      distinct: doc.after.distinct ?? {},
      ...(doc.after.group_by ? { groupBy: doc.after.group_by } : {}),
      ...(doc.after.window !== undefined
        ? { window: durationText(doc.after.window), windowMs: durationMs(doc.after.window) }
        : {}),
    };
  }
  return rule;
}

// Compiles everything once so a bad field, modifier, pattern or placeholder fails at load time.
function checkRule(rule: Rule): void {
  const at = (prefix: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      if (err instanceof RuleFieldError) throw new RuleFieldError(`${prefix}.${err.field}`, err.message);
      throw err;
    }
  };
  at('match', () => compileSelections(rule.match));
  at('exclude', () => compileSelections(rule.exclude));
  at('group_by', () => rule.groupBy.forEach(keyField));
  at('threshold.distinct', () => Object.keys(rule.threshold.distinct).forEach(keyField));
  at('threshold.sum', () => Object.keys(rule.threshold.sum).forEach(fieldGetter));
  at('details_fields', () =>
    rule.detailsFields.forEach((f) => {
      fieldGetter(f);
      if (isSensitiveField(f))
        throw new RuleFieldError(f, `"${f}" may hold statements or secrets and cannot be copied into an alert`);
    }),
  );
  if (rule.after) {
    const after = rule.after;
    at('after.match', () => compileSelections(after.match));
    at('after.group_by', () => (after.groupBy ?? []).forEach(keyField));
    at('after.distinct', () => Object.keys(after.distinct).forEach(keyField));
  }
  if (rule.summary !== undefined) {
    const known = summaryPlaceholders(rule);
    for (const [, name] of rule.summary.matchAll(/\{([^{}]+)\}/g)) {
      if (name !== undefined && !known.has(name)) {
        throw new RuleFieldError(
          'summary',
          `unknown placeholder {${name}} (known: ${[...known].map((k) => `{${k}}`).join(' ')})`,
        );
      }
    }
  }
}

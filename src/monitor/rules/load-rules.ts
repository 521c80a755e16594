import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { builtinRulesDirectory } from './builtin.js';
import { documentToRule, parseRuleFile, ruleError } from './parse-rules.js';
import { type Rule, type RuleOverride, ruleOverrideSchema } from './rule-schema.js';

/** Options of {@link loadRules}. */
export interface LoadRulesOptions {
  /** Load the built-in PostgreSQL pack (rules/postgres). Default true. */
  builtin?: boolean;
  /** Rule files to load. */
  files?: readonly string[];
  /** Directories whose `*.yml` and `*.yaml` files are loaded, in name order (not recursive). */
  directories?: readonly string[];
  /** Rule ids to disable (kept in the result with `enabled: false`). */
  disable?: readonly string[];
  /** Per rule id: settings replacing the rule's own. `threshold` keys merge one by one. */
  overrides?: Readonly<Record<string, RuleOverride>>;
}

const isRuleFile = (name: string) => /\.ya?ml$/i.test(name);

async function filesIn(dir: string, origin: (name: string) => string): Promise<{ path: string; origin: string }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw ruleError(dir, [
      `cannot read the rule directory: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    ]);
  }
  return names
    .filter(isRuleFile)
    .sort()
    .map((name) => ({ path: join(dir, name), origin: origin(name) }));
}

/**
 * Loads the rules the monitor runs: the built-in pack, then the given files and directories,
 * then applies `overrides` and `disable`. Returns every rule, disabled ones included (the engine
 * skips them), in load order.
 *
 * Ids must be unique: two built-in rules, or two user rules, with one id are refused (PW602). A
 * user rule with the id of a built-in one deliberately replaces it (the user's wins, wholly; to
 * change only a threshold use `overrides`). An override or a disable naming no loaded rule is
 * refused too, so a typo cannot leave a rule running unchanged.
 *
 * @example
 * const rules = await loadRules({
 *   directories: ['/etc/pgwarden/rules'],
 *   disable: ['pg-superuser-remote-login'],
 *   overrides: { 'pg-mass-read': { threshold: { sum: { 'fields.rows': 500000 } } } },
 * });
 */
export async function loadRules(options: LoadRulesOptions = {}): Promise<Rule[]> {
  const byId = new Map<string, Rule>();
  const builtinIds = new Set<string>();
  if (options.builtin ?? true) {
    for (const file of await filesIn(builtinRulesDirectory(), (name) => `builtin:${name}`)) {
      for (const rule of await parseRuleFile(file.path, file.origin)) {
        const other = byId.get(rule.id);
        if (other) throw ruleError(rule.origin, [`id: also defined in ${other.origin}`], rule.id);
        byId.set(rule.id, rule);
        builtinIds.add(rule.id);
      }
    }
  }
  const userFiles = (options.files ?? []).map((path) => ({ path, origin: path }));
  for (const dir of options.directories ?? []) userFiles.push(...(await filesIn(dir, (name) => join(dir, name))));
  const replaced = new Set<string>();
  for (const file of userFiles) {
    for (const rule of await parseRuleFile(file.path, file.origin)) {
      const other = byId.get(rule.id);
      if (other && !(builtinIds.has(rule.id) && !replaced.has(rule.id))) {
        throw ruleError(rule.origin, [`id: also defined in ${other.origin}`], rule.id);
      }
      if (other) replaced.add(rule.id);
      byId.set(rule.id, rule);
    }
  }
  for (const [id, override] of Object.entries(options.overrides ?? {})) {
    const rule = byId.get(id);
    if (!rule) throw ruleError('overrides', [`${id}: no loaded rule has this id`], id);
    byId.set(id, applyOverride(rule, override));
  }
  for (const id of options.disable ?? []) {
    const rule = byId.get(id);
    if (!rule) throw ruleError('disable', [`${id}: no loaded rule has this id`], id);
    byId.set(id, { ...rule, enabled: false });
  }
  return [...byId.values()];
}

/**
 * The rule with some settings replaced, validated again (PW602 naming `overrides` and the field).
 *
 * @example
 * const stricter = applyOverride(rule, { threshold: { count: 5 }, window: '10m' });
 */
export function applyOverride(rule: Rule, override: RuleOverride): Rule {
  const origin = `${rule.origin} (overrides)`;
  const checked = ruleOverrideSchema.safeParse(override);
  if (!checked.success) {
    throw ruleError(
      origin,
      checked.error.issues.map((i) => `overrides.${rule.id}.${i.path.map(String).join('.')}: ${i.message}`),
      rule.id,
    );
  }
  const o = checked.data;
  const doc = ruleToDocument(rule);
  const threshold = {
    count: o.threshold?.count ?? rule.threshold.count,
    distinct: { ...rule.threshold.distinct, ...o.threshold?.distinct },
    sum: { ...rule.threshold.sum, ...o.threshold?.sum },
  };
  const merged = {
    ...doc,
    threshold,
    ...(o.window !== undefined ? { window: o.window } : {}),
    ...(o.severity !== undefined ? { severity: o.severity } : {}),
    ...(o.suppress !== undefined ? { suppress: o.suppress } : {}),
    ...(o.enabled !== undefined ? { enabled: o.enabled } : {}),
  };
  return { ...documentToRule(merged, origin), origin: rule.origin };
}

/**
 * The YAML-shaped document of a rule (what `parseRules` would read back into the same rule).
 *
 * @example
 * const yaml = stringify(ruleToDocument(rule)); // `pgwarden monitor rules --show <id>`
 */
export function ruleToDocument(rule: Rule): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    id: rule.id,
    title: rule.title,
    severity: rule.severity,
    attack: [...rule.attack],
    match: rule.match.map((s) => ({ ...s })),
    group_by: [...rule.groupBy],
    window: rule.window,
    threshold: {
      count: rule.threshold.count,
      distinct: { ...rule.threshold.distinct },
      sum: { ...rule.threshold.sum },
    },
    suppress: rule.suppress,
    enabled: rule.enabled,
  };
  if (rule.description) doc.description = rule.description;
  if (rule.exclude.length > 0) doc.exclude = rule.exclude.map((s) => ({ ...s }));
  if (rule.summary !== undefined) doc.summary = rule.summary;
  if (rule.detailsFields.length > 0) doc.details_fields = [...rule.detailsFields];
  if (rule.references.length > 0) doc.references = [...rule.references];
  if (rule.falsePositives.length > 0) doc.false_positives = [...rule.falsePositives];
  if (rule.after) {
    doc.after = {
      match: rule.after.match.map((s) => ({ ...s })),
      count: rule.after.count,
      distinct: { ...rule.after.distinct },
      ...(rule.after.groupBy ? { group_by: [...rule.after.groupBy] } : {}),
      ...(rule.after.window !== undefined ? { window: rule.after.window } : {}),
    };
  }
  return doc;
}

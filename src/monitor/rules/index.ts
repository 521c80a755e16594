export { builtinRulesDirectory } from './builtin.js';
export { RuleEngine, type RuleEngineOptions, type RuleEngineStats } from './engine.js';
export { applyOverride, loadRules, type LoadRulesOptions, ruleToDocument } from './load-rules.js';
export { parseRuleFile, parseRules } from './parse-rules.js';
export {
  durationMs,
  humanDuration,
  type MatchScalar,
  type Rule,
  type RuleAfter,
  type RuleOverride,
  type RuleThreshold,
  type Selection,
} from './rule-schema.js';
export { describeThreshold, rulesMarkdown } from './rules-markdown.js';

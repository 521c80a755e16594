export { builtinRulesDirectory } from './builtin.js';
export { RuleEngine, type RuleEngineOptions, type RuleEngineStats } from './engine.js';
export {
  type AfterGroupSnapshot,
  type GroupSnapshot,
  ruleFingerprint,
  type RuleEngineSnapshot,
  type RuleStateRestoreReport,
  type RuleStateSkipReason,
  type RuleStateSnapshot,
} from './engine-snapshot.js';
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
export {
  type RuleStateDb,
  RuleStateStore,
  type RuleStateStoreOptions,
  type SavedRuleState,
} from './rule-state-store.js';

// The row-level security toolkit: generate tenant policies, plan and apply a policy file, report
// the state of every table and view. `pgwarden rls` is a thin shell over these.
export { type RlsApplyOptions, type RlsApplyResult, applyRls } from './apply.js';
export {
  type ColumnFacts,
  type Comparison,
  type PolicyFacts,
  readTableFacts,
  type RelationFacts,
  type TableFacts,
} from './catalog.js';
export {
  computePlan,
  planRls,
  pgwardenSchemas,
  type RlsPlan,
  type RlsPlanOptions,
  type RlsStep,
  type RlsStepKind,
} from './plan.js';
export {
  createPolicySql,
  type DesiredPolicy,
  desiredPolicies,
  isManagedPolicy,
  managedPolicyPrefix,
  ownerPredicate,
  permissionPredicate,
  policyName,
  tenantPredicate,
} from './policy-sql.js';
export { parseRlsFile, readRlsFile, type RlsFile, rlsFileNames } from './rls-file.js';
export {
  type FindingSeverity,
  hasFindingAtLeast,
  type RlsFinding,
  type RlsStatus,
  type RlsStatusOptions,
  rlsFixedReleases,
  rlsStatus,
  serverVersionFinding,
  type TableStatus,
  type ViewStatus,
} from './status.js';
export {
  type PermissionOption,
  type ProtectOptions,
  type RlsCommand,
  rlsCommands,
  type TableSpec,
  tableSpec,
} from './table-spec.js';
export { invokerViewSql, isSecurityInvoker, planViews } from './views.js';

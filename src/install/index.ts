export { type Catalog, type MigrationFile, type ModuleDefinition, moduleFiles, validateCatalog } from './catalog.js';
export { defaultCatalog, lastReleasedVersion, pgwardenVersion } from './default-catalog.js';
export { type InstallEvent, type InstallOptions, type InstallResult, install } from './installer.js';
export {
  type InstallationRow,
  type LedgerEntry,
  readInstallation,
  readLedger,
  readRetainedTables,
  verifyLedger,
} from './ledger.js';
export { moduleDefinitions } from './modules.js';
export { type InstallPlan, type ModuleStep, planInstall } from './plan.js';
export { type RoleKey, type RoleNames, roleKeys, roleNames } from './roles.js';
export { schemaSnapshot } from './schema-snapshot.js';
export { type ExtensionFacts, readServerFacts, type ServerFacts, supportedMajors } from './server-facts.js';
export { getStatus, type InstallStatus, type ModuleStatus } from './status.js';
export { maxTier, modulesForTier, parseTier, tierRank } from './tiers.js';
export { assertPurgeConfirmed, type UninstallOptions, type UninstallResult, uninstall } from './uninstall.js';

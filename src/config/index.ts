export {
  type ConfigIssue,
  type ConfigResult,
  configError,
  configKeys,
  type LoadConfigOptions,
  loadConfig,
  loadConfigOrThrow,
} from './load-config.js';
export { maskConfig, maskUrl } from './mask.js';
export { configSchema, type PgwardenConfig, type PgwardenConfigInput, type TierName, tierNames } from './schema.js';
export { type ConfigFile, configFileNames, readConfigFile } from './sources.js';

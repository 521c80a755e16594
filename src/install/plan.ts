import type { TierName } from '../config/index.js';
import type { Catalog, MigrationFile } from './catalog.js';
import type { InstallationRow, LedgerEntry } from './ledger.js';
import { maxTier, modulesForTier } from './tiers.js';

/** One module's move in a plan. */
export interface ModuleStep {
  module: string;
  /** Installed version (0 when not installed). */
  from: number;
  to: number;
}

/** What an install would do. */
export interface InstallPlan {
  /** Tier recorded before (undefined when not installed). */
  currentTier: TierName | undefined;
  /** Tier recorded after: the higher of the current and the requested tier. */
  targetTier: TierName;
  modules: ModuleStep[];
  files: MigrationFile[];
}

/**
 * Plans an install or upgrade: the requested tier's modules plus every installed module, each
 * brought to the newest shipped version, in catalog order. Tiers never go down.
 */
export function planInstall(
  catalog: Catalog,
  ledger: readonly LedgerEntry[],
  installation: InstallationRow | undefined,
  tier: TierName,
): InstallPlan {
  const targetTier = installation ? maxTier(installation.tier, tier) : tier;
  const wanted = new Set(modulesForTier(catalog, targetTier).map((m) => m.name));
  for (const entry of ledger) wanted.add(entry.module);
  const modules: ModuleStep[] = [];
  const files: MigrationFile[] = [];
  for (const mod of catalog.modules) {
    if (!wanted.has(mod.name)) continue;
    const installed = ledger.filter((e) => e.module === mod.name).reduce((max, e) => Math.max(max, e.version), 0);
    const pending = catalog.files
      .filter((f) => f.module === mod.name && f.version > installed)
      .sort((a, b) => a.version - b.version);
    if (pending.length === 0) continue;
    modules.push({ module: mod.name, from: installed, to: pending.at(-1)!.version });
    files.push(...pending);
  }
  return { currentTier: installation?.tier, targetTier, modules, files };
}

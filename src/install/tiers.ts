import { type TierName, tierNames } from '../config/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import type { Catalog, ModuleDefinition } from './catalog.js';

/** Rank of a tier: basic 0 < standard 1 < advanced 2. */
export function tierRank(tier: TierName): number {
  return tierNames.indexOf(tier);
}

/** Parses a tier name, throwing PW211 for anything else. */
export function parseTier(value: string): TierName {
  if ((tierNames as readonly string[]).includes(value)) return value as TierName;
  throw new PgwardenError(ErrorCodes.INSTALL_UNKNOWN_TIER, `unknown tier "${value}"`, {
    hint: `use one of: ${tierNames.join(', ')}`,
  });
}

/**
 * The modules of a tier, in install order. Tiers nest: basic ⊂ standard ⊂ advanced.
 *
 * @example
 * modulesForTier(catalog, 'standard').map((m) => m.name); // ['core', …]
 */
export function modulesForTier(catalog: Catalog, tier: TierName): ModuleDefinition[] {
  return catalog.modules.filter((m) => tierRank(m.tier) <= tierRank(tier));
}

/** The higher of two tiers. */
export function maxTier(a: TierName, b: TierName): TierName {
  return tierRank(a) >= tierRank(b) ? a : b;
}

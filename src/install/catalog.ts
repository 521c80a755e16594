import type { TierName } from '../config/index.js';
import { ErrorCodes, PgwardenError } from '../errors/index.js';

/** One embedded SQL file: `sql/<module>/<name>`, hashed at build time. */
export interface MigrationFile {
  module: string;
  version: number;
  name: string;
  /** sha256 of the file's bytes. */
  sha256: string;
  /** sha256(previous chain hash + ':' + sha256), starting from sha256('pgwarden:<module>'). */
  chainSha256: string;
  /** Runs as the installing role instead of the owner role (`-- pgwarden:privileged`). */
  privileged: boolean;
  /** Recorded in sql/released.json: editing it is refused at build time. */
  released: boolean;
  sql: string;
}

/** A capability installed as one folder of SQL files. */
export interface ModuleDefinition {
  name: string;
  /** The lowest tier that includes this module. */
  tier: TierName;
  description: string;
  /** Modules that must be installed first. */
  requires: readonly string[];
  /** Schemas this module creates; uninstall removes them (keeping retained tables). */
  schemas: readonly string[];
  /** Extensions the module needs; the installer checks they are available before starting. */
  extensions: readonly string[];
  /** What in this module needs a superuser, shown by `pgwarden status` (empty: none). */
  superuserFor: readonly string[];
}

/** The SQL pgwarden can install: module definitions and their files in order. */
export interface Catalog {
  modules: readonly ModuleDefinition[];
  files: readonly MigrationFile[];
}

/** Files of one module, in version order. */
export function moduleFiles(catalog: Catalog, module: string): MigrationFile[] {
  return catalog.files.filter((f) => f.module === module).sort((a, b) => a.version - b.version);
}

/**
 * Checks a catalog is coherent: every file belongs to a defined module, versions are contiguous
 * from 1, dependencies are defined and come before their dependants. Throws PW212 otherwise.
 */
export function validateCatalog(catalog: Catalog): Catalog {
  const fail = (message: string): never => {
    throw new PgwardenError(ErrorCodes.INSTALL_CATALOG_INVALID, message, {
      hint: 'this is a packaging problem; rebuild pgwarden (`npm run build`)',
    });
  };
  const seen = new Set<string>();
  for (const mod of catalog.modules) {
    for (const dep of mod.requires) {
      if (!seen.has(dep)) fail(`module ${mod.name} requires ${dep}, which is not defined before it`);
    }
    seen.add(mod.name);
    moduleFiles(catalog, mod.name).forEach((file, i) => {
      if (file.version !== i + 1) fail(`module ${mod.name}: file ${file.name} should be version ${i + 1}`);
    });
  }
  for (const file of catalog.files) {
    if (!seen.has(file.module)) fail(`file ${file.module}/${file.name} belongs to no defined module`);
  }
  return catalog;
}

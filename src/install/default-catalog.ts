import { type Catalog, validateCatalog } from './catalog.js';
import { embeddedFiles, packageVersion, releasedVersion } from './generated/catalog.js';
import { moduleDefinitions } from './modules.js';

/** The version of pgwarden this code is, recorded in the database by each install. */
export const pgwardenVersion: string = packageVersion;

/** The last release whose SQL files are frozen (sql/released.json), if any. */
export const lastReleasedVersion: string | undefined = releasedVersion;

/**
 * The SQL shipped with this pgwarden: every module and its embedded files.
 *
 * @example
 * const files = defaultCatalog().files.filter((f) => f.module === 'core');
 */
export function defaultCatalog(): Catalog {
  return validateCatalog({ modules: moduleDefinitions, files: embeddedFiles });
}

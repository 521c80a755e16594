import { fileURLToPath } from 'node:url';

/**
 * The directory of the built-in PostgreSQL rule pack (`rules/postgres/*.yml` at the package
 * root). Found relative to this module, which sits three levels below the root both as source
 * (src/monitor/rules) and compiled (dist/monitor/rules).
 *
 * @example
 * const dir = builtinRulesDirectory(); // …/node_modules/pgwarden/rules/postgres/
 */
export function builtinRulesDirectory(): string {
  return fileURLToPath(new URL('../../../rules/postgres/', import.meta.url));
}

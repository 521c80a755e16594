import type { SchemaFacts } from './rls-scope.js';

/**
 * The schemas of a search_path value as the server reads it: comma-separated, double quotes
 * keep case and commas, unquoted names fold to lower case. `""` (an empty path) gives [].
 *
 * @example
 * parseSearchPath('"$user", public'); // ['$user', 'public']
 */
export function parseSearchPath(value: string): string[] {
  const names: string[] = [];
  let i = 0;
  while (i < value.length) {
    while (value[i] === ' ' || value[i] === ',') i++;
    if (i >= value.length) break;
    let name = '';
    if (value[i] === '"') {
      i++;
      while (i < value.length) {
        if (value[i] === '"' && value[i + 1] === '"') {
          name += '"';
          i += 2;
        } else if (value[i] === '"') {
          i++;
          break;
        } else {
          name += value[i++];
        }
      }
    } else {
      while (i < value.length && value[i] !== ',') name += value[i++];
      name = name.trim().toLowerCase();
    }
    while (i < value.length && value[i] !== ',') i++;
    if (name !== '') names.push(name);
  }
  return names;
}

/**
 * What makes a security definer function's search_path unsafe, as sentences; empty when safe.
 * `config` is pg_proc.proconfig, `owner` the function's owner, `schemas` every non-system schema.
 *
 * @example
 * searchPathProblems([], 'app_owner', schemas); // ['no search_path setting: it uses the caller\'s']
 */
export function searchPathProblems(
  config: readonly string[],
  owner: string,
  schemas: ReadonlyMap<string, SchemaFacts>,
): string[] {
  const entry = config.find((c) => c.toLowerCase().startsWith('search_path='));
  if (entry === undefined) return ["no search_path setting: it uses the caller's"];
  const path = parseSearchPath(entry.slice('search_path='.length));
  const problems: string[] = [];
  path.forEach((name, i) => {
    if (name === '$user') {
      problems.push('"$user" in search_path resolves to a schema named after the current role');
    } else if (name === 'pg_temp') {
      if (i !== path.length - 1) problems.push('pg_temp is searched before other schemas: any session can shadow them');
    } else if (name === 'public') {
      problems.push('public in search_path: a shared schema');
    } else if (name === 'pg_catalog' || name.startsWith('pg_')) {
      // System schemas: only superusers create objects there.
    } else {
      const s = schemas.get(name);
      const others = s?.creators.filter((c) => c !== owner) ?? [];
      if (!s) problems.push(`schema ${name} does not exist: whoever may create schemas could create it`);
      else if (others.length > 0) problems.push(`schema ${name} is writable by ${others.join(', ')}`);
      else if (s.owner !== owner && !s.ownerSuper)
        problems.push(`schema ${name} belongs to ${s.owner}, who can create objects in it`);
    }
  });
  // Not listed, pg_temp is searched first for tables, views and types (never for functions):
  // a temporary table can then shadow any unqualified table name in the body.
  if (!path.includes('pg_temp')) problems.push(minorProblem);
  return problems;
}

/** The problem reported alone as medium: unqualified table names can be shadowed, functions cannot. */
export const minorProblem = 'pg_temp is not listed: it is then searched first for tables and views';

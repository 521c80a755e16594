import type { CheckDefinition } from '../types.js';
import { cisChecks } from './cis.js';
import { hostChecks } from './host.js';
import { pgwardenChecks } from './pgwarden.js';
import { privilegeChecks } from './privilege.js';
import { rlsChecks } from './rls.js';
import { versionChecks } from './version.js';

/**
 * Every check pgwarden runs, by family. Ids are stable: a retired check keeps its id reserved
 * (listed in docs/check.md) and is never reused.
 */
export const allChecks: readonly CheckDefinition[] = [
  ...versionChecks,
  ...cisChecks,
  ...hostChecks,
  ...rlsChecks,
  ...privilegeChecks,
  ...pgwardenChecks,
];

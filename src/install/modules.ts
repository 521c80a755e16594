import type { ModuleDefinition } from './catalog.js';

/**
 * pgwarden's modules in install order. Each later capability adds its module here with the
 * tier that first includes it; `sql/<name>/` holds its files.
 */
export const moduleDefinitions: readonly ModuleDefinition[] = [
  {
    name: 'core',
    tier: 'basic',
    description: 'group roles, pgwarden and logs schemas, migration ledger, security-event log',
    requires: [],
    schemas: ['pgwarden', 'logs'],
    extensions: ['pgcrypto'],
    superuserFor: [],
  },
];

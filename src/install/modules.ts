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
  {
    name: 'auth',
    tier: 'basic',
    description:
      'identity: users, password hashes, sessions, refresh-token families, throttling, MFA, JWT signing keys',
    requires: ['core'],
    schemas: ['auth'],
    extensions: ['pgcrypto'],
    superuserFor: [],
  },
  {
    name: 'audit',
    tier: 'standard',
    description: 'row-change audit: append-only, partitioned trail of every change to the tables it is enabled on',
    requires: ['core', 'auth'],
    schemas: ['audit'],
    extensions: ['pgcrypto'],
    superuserFor: [
      'recording DDL and privilege changes (GRANT, policies, RLS, SECURITY DEFINER, disabled triggers) needs event triggers, which only a superuser can create; installed without one, they are skipped: a superuser runs `select audit.ddl_capture_enable()` later, or rely on the server log or pgaudit',
    ],
  },
  {
    name: 'ledger',
    tier: 'advanced',
    description:
      'tamper-evident ledger: audit rows and security events sealed into a Merkle tree with signed checkpoints',
    requires: ['core', 'audit'],
    schemas: ['ledger'],
    extensions: [],
    superuserFor: [],
  },
  {
    name: 'compliance',
    tier: 'standard',
    description: 'compliance scan history: saved `pgwarden check --save` runs and their findings, for auditors',
    requires: ['core'],
    schemas: ['compliance'],
    extensions: [],
    superuserFor: [],
  },
  {
    name: 'monitor',
    tier: 'standard',
    description:
      'security monitor state: alerts and their lifecycle, the durable delivery queue, silences, source positions, behaviour profiles, heartbeats',
    requires: ['core'],
    schemas: ['monitor'],
    extensions: [],
    superuserFor: [],
  },
];

// pgwarden's public API. Re-exports only; each capability's index.ts is its surface.
// The embedded cluster (heavier: spawns PostgreSQL) is at 'pgwarden/embedded'.
export * from './config/index.js';
export * from './db/index.js';
export { scramVerifier } from './db/scram.js';
export * from './errors/index.js';
export * from './install/index.js';
export { createLogger, type Logger, redactPaths } from './logger/index.js';

import type { CheckDefinition } from '../types.js';
import { dataDirChecks } from './host-data-dir.js';
import { type HostCheckOptions, resolveHostEnv } from './host-env.js';
import { installChecks } from './host-install.js';
import { permissionChecks } from './host-permissions.js';
import { secretChecks } from './host-secrets.js';
import { systemChecks } from './host-system.js';

export type { HostCheckOptions } from './host-env.js';

/**
 * The CIS rows read from the database host's files and processes (family 'host', ids
 * HOST-<cis>). Every check first asks the scan context for the data directory, so a scan that is
 * not on the database host reports them all as not evaluated. The roots they read (/proc, /etc,
 * home directories, dpkg) come from `options`, with the real ones as defaults.
 *
 * @example
 * const report = await scanDatabase(conn, { checks: createHostChecks({ homeParents: ['/srv/home'] }) });
 */
export function createHostChecks(options: HostCheckOptions = {}): CheckDefinition[] {
  const env = resolveHostEnv(options);
  return [
    ...installChecks(env),
    ...dataDirChecks(env),
    ...secretChecks(env),
    ...permissionChecks(env),
    ...systemChecks(env),
  ];
}

/**
 * The host checks over the machine's real roots.
 *
 * @example
 * const report = await scanDatabase(conn, { checks: hostChecks });
 */
export const hostChecks: CheckDefinition[] = createHostChecks();

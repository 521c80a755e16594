/**
 * A PostgreSQL cluster on this machine, for `pgwarden up`/`down` and for tests. Loaded through
 * the `pgwarden/embedded` subpath so apps that only use the library never load it.
 *
 * @example
 * import { LocalCluster } from 'pgwarden/embedded';
 * const conn = await new LocalCluster({ dataDir: '/var/tmp/pgwarden/data' }).start();
 */
export { resolveEmbeddedBindir } from './binaries.js';
export type { ClusterConnection, ClusterStatus, LocalClusterOptions } from './cluster-options.js';
export { findFreePort } from './free-port.js';
export { LocalCluster } from './local-cluster.js';
export type { SettingValue } from './server-settings.js';

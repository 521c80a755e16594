import type { ConnectionConfig } from '../../../src/db/client.js';
import { withClient } from '../../../src/db/client.js';
import { install } from '../../../src/install/index.js';
import { startThrowawayCluster } from '../../helpers/throwaway-cluster.js';

/**
 * A database with pgwarden installed on a cluster of its own, where no other test file creates
 * roles or changes settings meanwhile: for tests that compare two scans of an unchanged server.
 *
 * @example
 * const quiet = await quietInstalledDatabase('determinism');
 * afterAll(() => quiet.remove());
 */
export async function quietInstalledDatabase(
  name: string,
): Promise<{ db: ConnectionConfig; remove: () => Promise<void> }> {
  const own = await startThrowawayCluster(name);
  const db = { ...own.connection, database: 'quiet' };
  await withClient(own.connection, (c) => c.query('create database quiet'));
  await withClient(db, (c) => install(c, { tier: 'advanced', rolePrefix: 'pgw_' }));
  return { db, remove: own.remove };
}

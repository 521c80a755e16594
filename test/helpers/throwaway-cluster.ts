import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClusterConnection, LocalCluster, type LocalClusterOptions } from '../../src/db/embedded/index.js';

/** A cluster of a test file's own, for tests that change server settings (ALTER SYSTEM, restarts). */
export interface ThrowawayCluster {
  cluster: LocalCluster;
  connection: ClusterConnection;
  dir: string;
  /** Stops the server and deletes its directory. */
  remove(): Promise<void>;
}

/**
 * Starts a throwaway ephemeral cluster in a temp directory, on the binaries under test
 * (PGWARDEN_PG_BINDIR when set). Never change the shared test cluster's settings: other test
 * files run against it at the same time.
 *
 * @example
 * const own = await startThrowawayCluster('fix');
 * afterAll(() => own.remove());
 */
export async function startThrowawayCluster(
  name: string,
  options: Partial<LocalClusterOptions> = {},
): Promise<ThrowawayCluster> {
  const dir = await mkdtemp(join(tmpdir(), `pgwarden-${name}-`));
  const cluster = new LocalCluster({
    dataDir: join(dir, 'data'),
    bindir: process.env.PGWARDEN_PG_BINDIR || undefined,
    ephemeral: true,
    ...options,
  });
  await cluster.init();
  const connection = await cluster.start();
  return {
    cluster,
    connection,
    dir,
    remove: async () => {
      await cluster.stop().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

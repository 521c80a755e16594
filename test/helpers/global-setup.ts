import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { withClient } from '../../src/db/client.js';
import { LocalCluster } from '../../src/db/embedded/index.js';
import { authenticatorTestPassword, templateDatabase, testRolePrefix } from './constants.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pg: {
      host: string;
      port: number;
      user: string;
      password: string;
      database: string;
      major: number;
    };
  }
}

/**
 * Starts one throwaway cluster for the whole run and installs the advanced tier into a template
 * database with the real installer; test files clone it (see db.ts).
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Tests import the catalog from source: embed sql/ first so an edited file is never tested stale.
  execFileSync(process.execPath, ['scripts/embed-sql.mjs'], { stdio: 'ignore' });
  const { install } = await import('../../src/install/index.js');
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-test-'));
  const cluster = new LocalCluster({
    dataDir: join(dir, 'data'),
    bindir: process.env.PGWARDEN_PG_BINDIR || undefined,
    ephemeral: true,
    // WAL capture tests each set up a slot in their own database.
    settings: { max_replication_slots: 40 },
  });
  await cluster.init();
  const conn = await cluster.start();
  // ClusterConnection already points at the maintenance database 'postgres'.
  const admin = { ...conn };
  await withClient(admin, async (c) => {
    await c.query(`create database ${templateDatabase}`);
  });
  await withClient({ ...admin, database: templateDatabase }, async (c) => {
    await install(c, { tier: 'advanced', rolePrefix: testRolePrefix });
    // One fixed password for the run: tests connect as the authenticator through
    // authenticatorConnection(); a per-file password would race between test files.
    await c.query(`alter role ${testRolePrefix}authenticator password '${authenticatorTestPassword}'`);
  });
  await withClient(admin, (c) =>
    c.query(`alter database ${templateDatabase} is_template true allow_connections false`),
  );
  project.provide('pg', { ...admin, major: await cluster.serverMajor() });
  return async () => {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  };
}

import { cp, stat, writeFile, chown } from 'node:fs/promises';
import { join } from 'node:path';
import { withClient } from '../../../src/db/client.js';
import { findFreePort, LocalCluster, resolveEmbeddedBindir } from '../../../src/db/embedded/index.js';
import { pgCtlStop, type PgCtlTarget } from '../../../src/db/embedded/pg-ctl.js';
import { runCommand } from '../../../src/db/embedded/run-command.js';
import { install } from '../../../src/install/index.js';
import { startThrowawayCluster, type ThrowawayCluster } from '../../helpers/throwaway-cluster.js';

/** The binaries under test (as startThrowawayCluster picks them). */
export const bindir = (): string => process.env.PGWARDEN_PG_BINDIR || resolveEmbeddedBindir();

/** pg_ctl's target for a data directory, run as its owner when we are root. */
export async function pgCtlTarget(dataDir: string): Promise<PgCtlTarget> {
  const owner = await stat(dataDir);
  const user = process.getuid?.() === 0 && owner.uid !== 0 ? { uid: owner.uid, gid: owner.gid } : undefined;
  return { bindir: bindir(), dataDir, user };
}

/**
 * A throwaway cluster on a fixed port (so a restarted server is found again where it was), with
 * synchronous commit on, so an acknowledged commit survives `-m immediate`, and pgwarden's
 * standard tier (core + monitor) installed into database `app`.
 */
export async function startMonitorCluster(
  name: string,
  settings: Record<string, string | number | boolean> = {},
): Promise<ThrowawayCluster & { port: number }> {
  const port = await findFreePort();
  const own = await startThrowawayCluster(name, {
    port,
    ephemeral: false,
    settings: { fsync: false, full_page_writes: false, ...settings },
  });
  await withClient(own.connection, (c) => c.query('create database app'));
  await withClient({ ...own.connection, database: 'app' }, (c) => install(c, { tier: 'standard', rolePrefix: 'pgw_' }));
  return { ...own, port };
}

/** `pg_ctl stop -m <mode>` then start again on the same port. */
export async function restart(cluster: LocalCluster, mode: 'fast' | 'immediate'): Promise<void> {
  const result = await pgCtlStop(await pgCtlTarget(cluster.dataDir), mode);
  if (result.code !== 0) throw new Error(`pg_ctl stop -m ${mode} failed: ${result.output}`);
  await cluster.start();
}

/** `pg_ctl promote -w`: the standby becomes a primary. */
export async function promote(cluster: LocalCluster): Promise<void> {
  const target = await pgCtlTarget(cluster.dataDir);
  const result = await runCommand(join(target.bindir, 'pg_ctl'), ['promote', '-D', cluster.dataDir, '-w'], {
    uid: target.user?.uid,
    gid: target.user?.gid,
    cwd: cluster.dataDir,
  });
  if (result.code !== 0) throw new Error(`pg_ctl promote failed: ${result.output}`);
}

/**
 * A streaming standby of `primary` in `dir`, without pg_basebackup (the embedded binaries ship
 * only initdb, pg_ctl and postgres): the primary is stopped cleanly, its data directory copied,
 * and the copy started with standby.signal and primary_conninfo (what `pg_basebackup -R` writes).
 */
export async function startStandby(
  primary: ThrowawayCluster & { port: number },
  dir: string,
): Promise<LocalCluster & { port: number }> {
  await primary.cluster.stop();
  const dataDir = join(dir, 'data');
  await cp(primary.cluster.dataDir, dataDir, { recursive: true, preserveTimestamps: true });
  await cp(join(primary.dir, 'cluster.json'), join(dir, 'cluster.json'));
  await primary.cluster.start();
  const owner = await stat(primary.cluster.dataDir);
  const signal = join(dataDir, 'standby.signal');
  await writeFile(signal, '');
  if (process.getuid?.() === 0) {
    await chownTree(dataDir, owner.uid, owner.gid);
    // As for the primary's: the server user must enter the private directory holding its data.
    await chown(dir, owner.uid, owner.gid);
  }
  const port = await findFreePort();
  const { user, password } = primary.connection;
  const standby = new LocalCluster({
    dataDir,
    bindir: bindir(),
    port,
    settings: {
      fsync: false,
      primary_conninfo: `host=127.0.0.1 port=${primary.port} user=${user} password=${password} application_name=standby`,
    },
  });
  await standby.start();
  return Object.assign(standby, { port });
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await runCommand('/bin/chown', ['-R', `${uid}:${gid}`, path]);
  await chown(path, uid, gid);
}

import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { embeddedCluster } from '../../db/index.js';
import { clearStopWhenIdle, withLifecycleLock } from '../../db/embedded-lifecycle.js';
import { type CliContext, configFor, type GlobalFlags } from '../context.js';
import { printJson } from '../output.js';
import { runningUpPid, upPidFile } from './up.js';

/**
 * `pgwarden down`: stops a running `pgwarden up` (SIGTERM, so it shuts its services and the
 * cluster down in order), or an embedded cluster left running without one. Idempotent.
 */
export async function downCommand(ctx: CliContext, flags: GlobalFlags): Promise<number> {
  const config = await configFor(ctx, flags);
  const cluster = await embeddedCluster(config, { cwd: ctx.cwd });
  // Only a process verified to be a `pgwarden up` is signalled, never whatever reused its pid.
  const pid = await runningUpPid(ctx.cwd, config.embedded.dir);
  let stopped: 'up' | 'cluster' | 'nothing' = 'nothing';
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 300 && (await runningUpPid(ctx.cwd, config.embedded.dir)) !== undefined; i++) await sleep(100);
    stopped = 'up';
  }
  const dir = dirname(cluster.dataDir);
  await withLifecycleLock(dir, async () => {
    if ((await cluster.status()).running) {
      await cluster.stop();
      if (stopped === 'nothing') stopped = 'cluster';
    }
    await clearStopWhenIdle(dir);
    // Left by an `up` that was killed (or names a pid reused since); `up` writes it under this lock.
    if ((await runningUpPid(ctx.cwd, config.embedded.dir)) === undefined) {
      await rm(upPidFile(ctx.cwd, config.embedded.dir), { force: true });
    }
  });
  if (ctx.output.json) printJson(ctx.output, { ok: true, stopped });
  else ctx.output.out(stopped === 'nothing' ? 'No embedded cluster is running.' : 'Stopped the embedded cluster.');
  return 0;
}

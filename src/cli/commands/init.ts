import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../../config/index.js';
import { starterConfigYaml } from '../../config/starter.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import type { CliContext, GlobalFlags } from '../context.js';
import { printJson } from '../output.js';

/** `pgwarden init [--force]`: writes a commented starter `pgwarden.config.yaml`. */
export async function initCommand(ctx: CliContext, flags: GlobalFlags & { force?: boolean }): Promise<number> {
  const path = flags.config ?? join(ctx.cwd, 'pgwarden.config.yaml');
  try {
    await writeFile(path, starterConfigYaml, { flag: flags.force ? 'w' : 'wx', mode: 0o644 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new PgwardenError(ErrorCodes.CONFIG_EXISTS, `${path} already exists`, {
        hint: 'use --force to overwrite it',
      });
    }
    throw err;
  }
  // The starter must itself be valid: load it back through the pipeline.
  const check = await loadConfig({ cwd: ctx.cwd, env: {}, configPath: path });
  if (!check.ok)
    throw new PgwardenError(ErrorCodes.INTERNAL, 'the starter config does not validate', {
      detail: JSON.stringify(check.issues),
    });
  if (ctx.output.json) printJson(ctx.output, { ok: true, path });
  else ctx.output.out(`Wrote ${path}. Edit it, then run \`pgwarden install\`.`);
  return 0;
}

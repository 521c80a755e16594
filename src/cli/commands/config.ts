import { stringify } from 'yaml';
import { maskConfig } from '../../config/index.js';
import { type CliContext, configFor, type GlobalFlags } from '../context.js';
import { printJson } from '../output.js';

/** `pgwarden config --print`: the effective config after every layer, secrets masked. */
export async function configCommand(ctx: CliContext, flags: GlobalFlags): Promise<number> {
  const config = maskConfig(await configFor(ctx, flags));
  if (ctx.output.json) printJson(ctx.output, { ok: true, config });
  else ctx.output.out(stringify(config).trimEnd());
  return 0;
}

import { withClient } from '../../db/index.js';
import { type InstallEvent, type InstallPlan, install, parseTier } from '../../install/index.js';
import { type CliContext, configFor, type GlobalFlags, withDatabase } from '../context.js';
import { paint, printJson } from '../output.js';

export interface InstallFlags extends GlobalFlags {
  tier?: string;
  dryRun?: boolean;
}

/** `pgwarden install --tier <t> [--dry-run]`: prints the plan and applies it. */
export async function installCommand(ctx: CliContext, flags: InstallFlags): Promise<number> {
  const tier = flags.tier ? parseTier(flags.tier) : undefined;
  const config = await configFor(ctx, flags, { install: { tier } });
  const { output } = ctx;
  return withDatabase(ctx, config, async (db) => {
    if (!output.json) output.out(`${paint(output, 'bold', 'pgwarden install')} → ${db.description}`);
    const onEvent = (event: InstallEvent) => {
      if (output.json) return;
      if (event.kind === 'install-planned') printPlan(ctx, event.plan, flags.dryRun === true);
      if (event.kind === 'install-file-applied') {
        output.out(
          `  ${paint(output, 'green', 'applied')} ${event.module}/${event.name} ${paint(output, 'dim', `(${Math.round(event.ms)} ms)`)}`,
        );
      }
    };
    const result = await withClient(db.connection, (client) =>
      install(client, {
        tier: config.install.tier,
        rolePrefix: config.install.rolePrefix,
        dryRun: flags.dryRun,
        lockTimeoutMs: config.install.lockTimeoutMs,
        signal: ctx.signal,
        onEvent,
      }),
    );
    if (output.json) {
      printJson(output, {
        ok: true,
        dryRun: result.dryRun,
        tier: result.plan.targetTier,
        previousTier: result.plan.currentTier ?? null,
        plan: result.plan.files.map((f) => `${f.module}/${f.name}`),
        applied: result.applied.map((f) => `${f.module}/${f.name}`),
        server: result.server.serverVersion,
      });
    } else if (!result.dryRun) {
      output.out(
        result.applied.length === 0
          ? 'Nothing to do: already installed and up to date.'
          : `Installed tier ${result.plan.targetTier}: ${result.applied.length} file(s) applied.`,
      );
    }
    return 0;
  });
}

function printPlan(ctx: CliContext, plan: InstallPlan, dryRun: boolean): void {
  const { output } = ctx;
  const tiers =
    plan.currentTier && plan.currentTier !== plan.targetTier
      ? `${plan.currentTier} → ${plan.targetTier}`
      : plan.targetTier;
  output.out(`Plan (tier ${tiers})${dryRun ? ' — dry run, nothing will be applied' : ''}:`);
  if (plan.files.length === 0) output.out('  nothing to apply');
  for (const step of plan.modules)
    output.out(`  ${step.module}: ${step.from === 0 ? 'install' : `upgrade from ${step.from}`} to ${step.to}`);
  for (const file of plan.files)
    output.out(
      `    ${file.module}/${file.name}${file.privileged ? paint(output, 'dim', ' (as installing role)') : ''}`,
    );
}

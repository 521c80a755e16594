import { loadMasterKey } from '../../auth/index.js';
import { initLedger } from '../../audit/ledger/index.js';
import { configuredContextKey, registerContextKey } from '../../context/context-keys.js';
import { type ConnectionConfig, withClient } from '../../db/index.js';
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
    // The request context needs its MAC key in the database; register it when the master key is
    // already there (install never creates one; `pgwarden keys context` does).
    const contextKey =
      !result.dryRun && (await authHasContext(db.connection)) ? await configuredContextKey(config, ctx.cwd) : undefined;
    const contextKid = contextKey
      ? await withClient(db.connection, (client) => registerContextKey(client, contextKey))
      : undefined;
    // The ledger's keys are sealed under the same master key: set it up when both are there.
    const ledger =
      contextKey && result.applied.some((f) => f.module === 'ledger')
        ? await withClient(db.connection, async (client) =>
            initLedger(client, {
              masterKey: await loadMasterKey(config, ctx.cwd),
              hybrid: config.ledger.hybrid,
              ...(config.ledger.origin ? { origin: config.ledger.origin } : {}),
            }),
          )
        : undefined;
    if (output.json) {
      printJson(output, {
        ok: true,
        contextKey: contextKid ?? null,
        ledger: ledger?.origin ?? null,
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
      if (contextKid) output.out(`Request-context key ${contextKid} registered.`);
    }
    return 0;
  });
}

/** Whether the installed auth module has the request context (auth 0010 and later). */
function authHasContext(connection: ConnectionConfig): Promise<boolean> {
  return withClient(connection, async (client) => {
    const { rows } = await client.query<{ ok: boolean }>(
      "select to_regprocedure('auth.context_key_add(bytea)') is not null as ok",
    );
    return rows[0]!.ok;
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

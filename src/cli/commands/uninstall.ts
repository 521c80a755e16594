import { withClient } from '../../db/index.js';
import { assertPurgeConfirmed, uninstall } from '../../install/index.js';
import { type CliContext, configFor, type GlobalFlags, withDatabase } from '../context.js';
import { paint, printJson } from '../output.js';

export interface UninstallFlags extends GlobalFlags {
  purge?: boolean;
  yes?: boolean;
}

/** `pgwarden uninstall [--purge --yes]`: removes pgwarden, keeping audit and security events. */
export async function uninstallCommand(ctx: CliContext, flags: UninstallFlags): Promise<number> {
  const config = await configFor(ctx, flags);
  const { output } = ctx;
  // Refuse an unconfirmed purge before touching the database.
  assertPurgeConfirmed({ purge: flags.purge, confirm: flags.yes });
  return withDatabase(ctx, config, async (db) => {
    const result = await withClient(db.connection, (c) =>
      uninstall(c, {
        purge: flags.purge,
        confirm: flags.yes,
        rolePrefix: config.install.rolePrefix,
        lockTimeoutMs: config.install.lockTimeoutMs,
        signal: ctx.signal,
      }),
    );
    if (output.json) {
      printJson(output, { ok: true, ...result });
      return 0;
    }
    output.out(`${paint(output, 'bold', 'pgwarden uninstall')} — ${db.description}`);
    output.out(`dropped schemas  ${result.droppedSchemas.join(', ') || '(none)'}`);
    output.out(`dropped roles    ${result.droppedRoles.join(', ') || '(none)'}`);
    for (const kept of result.keptRoles) output.out(`kept role        ${kept.name}: ${kept.reason}`);
    if (result.keptTables.length) {
      output.out(`kept with data   ${result.keptTables.join(', ')}`);
      output.out('                 (a reinstall adopts them; `uninstall --purge --yes` deletes them)');
    }
    return 0;
  });
}

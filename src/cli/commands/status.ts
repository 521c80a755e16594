import { withClient } from '../../db/index.js';
import { getStatus } from '../../install/index.js';
import { type CliContext, configFor, type GlobalFlags, withDatabase } from '../context.js';
import { paint, printJson, table } from '../output.js';

/** `pgwarden status [--json]`: tier, modules, pending upgrades, server, extensions, superuser needs. */
export async function statusCommand(ctx: CliContext, flags: GlobalFlags): Promise<number> {
  const config = await configFor(ctx, flags);
  const { output } = ctx;
  return withDatabase(ctx, config, async (db) => {
    const status = await withClient(db.connection, (c) =>
      getStatus(c, { rolePrefix: config.install.rolePrefix, tier: config.install.tier }),
    );
    if (output.json) {
      printJson(output, { ok: true, database: db.description, ...status });
      return 0;
    }
    output.out(`${paint(output, 'bold', 'pgwarden status')} — ${db.description}`);
    output.out(
      `server      PostgreSQL ${status.server.version}${status.server.supported ? '' : paint(output, 'yellow', ' (untested major version)')}`,
    );
    output.out(
      `connected   ${status.connectedAs.user}${status.connectedAs.superuser ? ' (superuser)' : status.connectedAs.createRole ? ' (createrole)' : ''}`,
    );
    output.out(
      `installed   ${status.installed ? `tier ${status.tier}, pgwarden ${status.databaseVersion} (this is ${status.codeVersion}), role prefix ${status.rolePrefix}` : 'no'}`,
    );
    output.out('');
    output.out(
      table(
        ['module', 'tier', 'installed', 'shipped', 'state'],
        status.modules.map((m) => [
          m.module,
          m.tier,
          String(m.installedVersion),
          String(m.availableVersion),
          m.state + (m.pending.length ? ` (${m.pending.length} pending)` : ''),
        ]),
      ).join('\n'),
    );
    output.out('');
    output.out(
      table(
        ['extension', 'available', 'installed', 'preloaded'],
        status.extensions.map((e) => [
          e.name,
          e.available ? 'yes' : 'no',
          e.installedVersion ? `${e.installedVersion} in ${e.schema}` : 'no',
          e.preloaded === undefined ? 'unknown' : e.preloaded ? 'yes' : 'no',
        ]),
      ).join('\n'),
    );
    output.out('');
    output.out(`roles       ${status.roles.map((r) => `${r.name}${r.exists ? '' : ' (missing)'}`).join(', ')}`);
    if (status.retainedTables.length) output.out(`retained    ${status.retainedTables.join(', ')} (kept by uninstall)`);
    const audit = status.audit;
    if (audit) {
      const wal = audit.walCapture;
      const walText = !wal
        ? 'WAL capture not set up'
        : `WAL capture slot ${wal.slot} ${wal.slotStatus === 'missing' || wal.slotStatus === 'lost' ? paint(output, 'red', wal.slotStatus) : wal.slotStatus}, applied to ${wal.appliedLsn}` +
          (Object.keys(wal.problems).length
            ? paint(
                output,
                'red',
                `, broken: ${Object.entries(wal.problems)
                  .map(([t, p]) => `${t} (${p.join(', ')})`)
                  .join('; ')}`,
              )
            : '');
      output.out(
        `audit       ${audit.tables.trigger} table(s) on trigger capture, ${audit.tables.wal} on WAL capture; ${walText}`,
      );
      if (audit.ddlCapture) {
        output.out(
          `ddl events  ${audit.ddlCapture.ok ? 'captured' : paint(output, 'red', `not captured: ${audit.ddlCapture.broken.join(', ')} missing or disabled (select audit.ddl_capture_enable() as a superuser)`)}`,
        );
      }
    }
    if (status.needsSuperuser.length) {
      output.out('needs a superuser or the platform admin:');
      for (const need of status.needsSuperuser) output.out(`  - ${need}`);
    }
    return 0;
  });
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NotEvaluated, type ScanContext } from '../scan-context.js';
import type { CheckDefinition } from '../types.js';
import { type HostEnv, hostCheck, listDir, tryStat } from './host-env.js';
import { serverBinary, serverHost } from './host-server.js';

/** Backup and WAL-archiving tools by executable name. */
const BACKUP_TOOL =
  /^(pgbackrest|barman|barman-cloud-backup|barman-cloud-wal-archive|barman-wal-archive|wal-g(-pg)?|wal-e|pg_probackup(-\d+)?|pg_rman)$/;
const TOOL_NAMES = ['pgbackrest', 'barman', 'wal-g', 'wal-e', 'pg_probackup', 'pg_rman', 'pg_receivewal'];

/** A setting's value, or undefined when this login cannot see it. */
async function visible(ctx: ScanContext, name: string): Promise<string | undefined> {
  try {
    return await ctx.settingValue(name);
  } catch (err) {
    if (err instanceof NotEvaluated) return undefined;
    throw err;
  }
}

/**
 * CIS 6.7 and 8.2: FIPS mode of the kernel, and a backup tool on the host.
 *
 * @example
 * const checks = systemChecks(resolveHostEnv());
 */
export function systemChecks(env: HostEnv): CheckDefinition[] {
  return [
    hostCheck({
      cis: '6.7',
      section: 'PostgreSQL settings',
      title: 'The host runs in FIPS mode',
      severity: 'low',
      stig: ['V-261896'],
      rationale:
        "Where FIPS 140 validated cryptography is required, OpenSSL follows the kernel's FIPS flag (/proc/sys/crypto/fips_enabled = 1). Most deployments have no such requirement, hence low; a kernel without the flag fails with that evidence (pgdsat ran a RHEL-only tool and always failed on Debian).",
      remediation:
        'Enable FIPS mode (fips-mode-setup --enable on RHEL, Ubuntu Pro fips) and use a FIPS-validated OpenSSL provider, if your policy requires it.',
      evaluate: async (ctx) => {
        await serverHost(ctx, env);
        const file = join(env.procDir, 'sys', 'crypto', 'fips_enabled');
        const read = await tryStat(file);
        if (read === 'denied') throw new NotEvaluated(`${file} is unreadable`);
        const value = read === 'missing' ? undefined : (await readFile(file, 'utf8')).trim();
        if (value === '1') return { verdict: 'pass', evidence: { file, fipsEnabled: 1 } };
        return {
          verdict: 'fail',
          findings: [
            {
              object: 'kernel FIPS mode',
              message:
                value === undefined
                  ? `${file} does not exist: this kernel has no FIPS mode`
                  : `FIPS mode is off (${file} = ${value})`,
              evidence: { file, fipsEnabled: value ?? 'absent' },
            },
          ],
        };
      },
    }),
    hostCheck({
      cis: '8.2',
      section: 'Special configuration considerations',
      title: 'A backup and restore tool is installed and configured (listing)',
      severity: 'medium',
      rationale:
        "Point-in-time recovery needs a base-backup tool and WAL archiving. Whether the tool found is configured and its backups restorable needs a person; pgwarden lists tools in the system bin directories and the server's, their configuration files, and which tool archive_command calls (its text is not shown: it may carry credentials).",
      remediation:
        'Install pgBackRest (or Barman, WAL-G), configure archive_command/archive_library to it, and test a restore regularly.',
      evaluate: async (ctx) => {
        await serverHost(ctx, env);
        const dirs = new Set(env.binDirs);
        const bindir = await serverBinary(ctx, env).then(
          (b) => b.bindir,
          () => undefined,
        );
        if (bindir) dirs.add(bindir);
        const tools: string[] = [];
        for (const dir of dirs) {
          for (const e of await listDir(dir, 20_000)) if (BACKUP_TOOL.test(e.name)) tools.push(join(dir, e.name));
        }
        const configs: string[] = [];
        for (const f of ['pgbackrest/pgbackrest.conf', 'pgbackrest.conf', 'barman.conf', 'barman.d', 'wal-g.yaml']) {
          const s = await tryStat(join(env.etcDir, f));
          if (typeof s !== 'string') configs.push(join(env.etcDir, f));
        }
        const archiveCommand = await visible(ctx, 'archive_command');
        const archive = {
          archiveMode: await visible(ctx, 'archive_mode'),
          archiveCommandSet:
            archiveCommand === undefined ? 'not visible' : archiveCommand !== '' && archiveCommand !== '(disabled)',
          archiveCommandTools: TOOL_NAMES.filter((t) => archiveCommand?.includes(t)),
          archiveLibrary: (await visible(ctx, 'archive_library')) ?? null,
        };
        return {
          verdict: 'manual',
          evidence: { tools, configs, ...archive },
          message:
            tools.length === 0 && configs.length === 0
              ? 'no backup tool found in the system bin directories: check how this server is backed up'
              : `found ${[...tools, ...configs].length} backup tool files: confirm backups run and restore`,
        };
      },
    }),
  ];
}

import type pg from 'pg';
import { ErrorCodes, PgwardenError } from '../errors/index.js';
import type { Catalog } from './catalog.js';

/** One row of `pgwarden.migrations`. */
export interface LedgerEntry {
  module: string;
  version: number;
  name: string;
  sha256: string;
  chainSha256: string;
  installedAt: Date;
  installedBy: string;
}

/** The `pgwarden.installation` row. */
export interface InstallationRow {
  tier: 'basic' | 'standard' | 'advanced';
  rolePrefix: string;
  pgwardenVersion: string;
  installedAt: Date;
  updatedAt: Date;
}

/** Whether a table exists (pgwarden's own tables are absent before core is installed). */
async function relationExists(client: pg.ClientBase, name: string): Promise<boolean> {
  const { rows } = await client.query<{ t: string | null }>('select pg_catalog.to_regclass($1)::text as t', [name]);
  return Boolean(rows[0]?.t);
}

/** Reads the ledger; empty when pgwarden was never installed here. */
export async function readLedger(client: pg.ClientBase): Promise<LedgerEntry[]> {
  if (!(await relationExists(client, 'pgwarden.migrations'))) return [];
  const { rows } = await client.query<LedgerEntry>(
    `select module, version, name, sha256, chain_sha256 as "chainSha256",
            installed_at as "installedAt", installed_by as "installedBy"
       from pgwarden.migrations order by module, version`,
  );
  return rows;
}

/** Reads the installation row, or undefined before core is installed. */
export async function readInstallation(client: pg.ClientBase): Promise<InstallationRow | undefined> {
  if (!(await relationExists(client, 'pgwarden.installation'))) return undefined;
  const { rows } = await client.query<InstallationRow>(
    `select tier, role_prefix as "rolePrefix", pgwarden_version as "pgwardenVersion",
            installed_at as "installedAt", updated_at as "updatedAt"
       from pgwarden.installation`,
  );
  return rows[0];
}

/**
 * Checks the database against the code: every installed file must be shipped unchanged
 * (PW202), the database may not hold files the code does not know (PW203), and each module's
 * versions must run 1..n without gaps (PW210).
 */
export function verifyLedger(ledger: readonly LedgerEntry[], catalog: Catalog): void {
  const byModule = new Map<string, LedgerEntry[]>();
  for (const entry of ledger) {
    const list = byModule.get(entry.module) ?? [];
    list.push(entry);
    byModule.set(entry.module, list);
  }
  for (const [module, entries] of byModule) {
    const known = catalog.files.filter((f) => f.module === module);
    entries.sort((a, b) => a.version - b.version);
    entries.forEach((entry, i) => {
      if (entry.version !== i + 1) {
        throw new PgwardenError(
          ErrorCodes.INSTALL_LEDGER_INCONSISTENT,
          `the ledger of module ${module} has a gap before version ${entry.version}`,
          {
            detail: `installed versions: ${entries.map((e) => e.version).join(', ')}`,
            hint: 'someone edited pgwarden.migrations by hand; restore it from a backup or reinstall',
          },
        );
      }
      const file = known.find((f) => f.version === entry.version);
      if (!file) {
        throw new PgwardenError(
          ErrorCodes.INSTALL_DATABASE_NEWER,
          `the database has ${module}/${entry.name}, which this pgwarden does not ship: the database is newer than the code`,
          {
            detail: `installed ${module} up to version ${entries.at(-1)?.version}; this pgwarden ships ${known.length}`,
            hint: 'upgrade pgwarden to the version that installed this database; never downgrade an installed schema',
          },
        );
      }
      if (file.sha256 !== entry.sha256 || file.chainSha256 !== entry.chainSha256) {
        throw new PgwardenError(
          ErrorCodes.INSTALL_TAMPERED,
          `${module}/${entry.name} was installed from a different file than this pgwarden ships`,
          {
            detail: `installed sha256 ${entry.sha256}, shipped sha256 ${file.sha256}`,
            hint: 'a released migration was edited; ship the original file and put changes in a new numbered file',
          },
        );
      }
    });
  }
}

/** Tables uninstall keeps (audit trails, security events) that exist, as `schema.table`. */
export async function readRetainedTables(client: pg.ClientBase): Promise<string[]> {
  if (!(await relationExists(client, 'pgwarden.retained_tables'))) return [];
  const { rows } = await client.query<{ name: string }>(
    `select r.schema_name || '.' || r.table_name as name from pgwarden.retained_tables r
      where pg_catalog.to_regclass(pg_catalog.quote_ident(r.schema_name) || '.' || pg_catalog.quote_ident(r.table_name)) is not null
      order by 1`,
  );
  return rows.map((r) => r.name);
}

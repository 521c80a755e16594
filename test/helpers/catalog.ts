import { createHash } from 'node:crypto';
import type { Catalog, MigrationFile, ModuleDefinition } from '../../src/install/index.js';
import { defaultCatalog } from '../../src/install/index.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** Builds the files of one fixture module with hashes chained as scripts/embed-sql.mjs does. */
export function fixtureFiles(module: string, sqls: string[]): MigrationFile[] {
  let chain = sha256(`pgwarden:${module}`);
  return sqls.map((sql, i) => {
    const hash = sha256(sql);
    chain = sha256(`${chain}:${hash}`);
    const version = i + 1;
    return {
      module,
      version,
      name: `${String(version).padStart(4, '0')}_fixture_${version}.sql`,
      sha256: hash,
      chainSha256: chain,
      privileged: false,
      released: false,
      sql,
    };
  });
}

/** The shipped catalog plus one fixture module (tier advanced, schema `fixture`). */
export function catalogWithFixture(sqls: string[], extra: Partial<ModuleDefinition> = {}): Catalog {
  const base = defaultCatalog();
  const mod: ModuleDefinition = {
    name: 'fixture',
    tier: 'advanced',
    description: 'test fixture',
    requires: ['core'],
    schemas: ['fixture'],
    extensions: [],
    superuserFor: [],
    ...extra,
  };
  return {
    modules: [...base.modules, mod],
    files: [...base.files, ...fixtureFiles('fixture', sqls)],
  };
}

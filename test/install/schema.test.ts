import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { withClient } from '../../src/db/client.js';
import { type Catalog, defaultCatalog, install, schemaSnapshot } from '../../src/install/index.js';
import { emptyDatabase, installedDatabase, serverMajor, uniquePrefix } from '../helpers/db.js';

const catalog = defaultCatalog();
const schemas = [...new Set(catalog.modules.flatMap((m) => m.schemas))];
// One snapshot per major: catalogs differ slightly (PostgreSQL 17 adds the MAINTAIN privilege).
const snapshotFile = () => new URL(`../fixtures/schema-snapshot.pg${serverMajor()}.json`, import.meta.url);

describe('installed schema', () => {
  it('matches the committed snapshot for this PostgreSQL major [F-12] (PGWARDEN_UPDATE_SNAPSHOT=1 accepts a change)', async () => {
    const db = await installedDatabase();
    const actual = await withClient(db, (c) => schemaSnapshot(c, { schemas, rolePrefix: 'pgw_' }));
    if (process.env.PGWARDEN_UPDATE_SNAPSHOT === '1') {
      await writeFile(snapshotFile(), `${JSON.stringify(actual, null, 2)}\n`);
    }
    const expected = JSON.parse(await readFile(snapshotFile(), 'utf8'));
    expect(actual).toEqual(expected);
  });

  it('comes out the same when upgraded from the previous release as when installed fresh', async () => {
    // The previous release's files are those in sql/released.json; before the first release,
    // every module minus its newest file stands in for it, so the upgrade path is always run.
    const released = catalog.files.filter((f) => f.released);
    const previousFiles =
      released.length > 0 && released.length < catalog.files.length
        ? released
        : catalog.modules.flatMap((m) => catalog.files.filter((f) => f.module === m.name).slice(0, -1));
    const previous: Catalog = { modules: catalog.modules, files: previousFiles };
    const prefix = uniquePrefix();
    const upgraded = await emptyDatabase();
    const upgradedSnap = await withClient(upgraded, async (c) => {
      await install(c, {
        tier: 'advanced',
        rolePrefix: prefix,
        catalog: previous,
        version: 'previous',
      });
      const result = await install(c, { tier: 'advanced', rolePrefix: prefix });
      expect(result.applied.length).toBe(catalog.files.length - previousFiles.length);
      return schemaSnapshot(c, { schemas, rolePrefix: prefix });
    });
    const fresh = await installedDatabase();
    const freshSnap = await withClient(fresh, (c) => schemaSnapshot(c, { schemas, rolePrefix: 'pgw_' }));
    expect(upgradedSnap).toEqual(freshSnap);
  });
});

import { execFile } from 'node:child_process';
import { appendFile, cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = new URL('../../', import.meta.url).pathname;
const dirs: string[] = [];

async function scratchTree(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-embed-'));
  dirs.push(dir);
  await cp(join(repo, 'sql'), join(dir, 'sql'), { recursive: true });
  await cp(join(repo, 'package.json'), join(dir, 'package.json'));
  return dir;
}

async function embed(root: string): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [join(repo, 'scripts/embed-sql.mjs'), '--root', root]);
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

// Derived from the tree, so the tests hold as modules gain files.
const coreFiles = async (root: string) =>
  (await readdir(join(root, 'sql/core'))).filter((f) => f.endsWith('.sql')).sort();
const released = async (root: string): Promise<string[]> =>
  Object.keys(JSON.parse(await readFile(join(root, 'sql/released.json'), 'utf8')).files)
    .filter((p) => p.startsWith('core/'))
    .map((p) => p.slice('core/'.length))
    .sort();
const numbered = (n: number, slug: string) => `${String(n).padStart(4, '0')}_${slug}.sql`;

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('embedding sql/ at build time', () => {
  it('embeds every file with its sha256 and marks released ones', async () => {
    const root = await scratchTree();
    expect((await embed(root)).code).toBe(0);
    const generated = await readFile(join(root, 'src/install/generated/catalog.ts'), 'utf8');
    expect(generated).toContain('"module":"core","version":1');
    expect(generated).toContain('"released":true');
  });

  it('refuses to build when a released file was edited', async () => {
    const root = await scratchTree();
    await appendFile(join(root, 'sql/core/0001_roles_schemas_ledger.sql'), '\n-- a quiet fix\n');
    const result = await embed(root);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('sql/core/0001_roles_schemas_ledger.sql was released');
    expect(result.stderr).toContain('add a new numbered file instead');
  });

  it('refuses to build when a released file was removed', async () => {
    const root = await scratchTree();
    // Remove the newest released file and everything after it, so numbering stays contiguous.
    const last = (await released(root)).at(-1)!;
    for (const f of await coreFiles(root)) if (f >= last) await rm(join(root, 'sql/core', f));
    const result = await embed(root);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`sql/core/${last} was released and must not be removed or renamed`);
  });

  it('accepts a new numbered file after the released ones, unreleased', async () => {
    const root = await scratchTree();
    const next = (await coreFiles(root)).length + 1;
    await writeFile(join(root, 'sql/core', numbered(next, 'next_change')), 'select 1;\n');
    expect((await embed(root)).code).toBe(0);
    const generated = await readFile(join(root, 'src/install/generated/catalog.ts'), 'utf8');
    expect(generated).toMatch(
      new RegExp(`"version":${next},"name":"${numbered(next, 'next_change')}".*"released":false`),
    );
  });

  it('refuses a gap in the numbering and CR line endings', async () => {
    const gap = await scratchTree();
    const next = (await coreFiles(gap)).length + 1;
    await writeFile(join(gap, 'sql/core', numbered(next + 1, 'skipped_one')), 'select 1;\n');
    expect((await embed(gap)).stderr).toContain(`expected version ${next}`);
    const crlf = await scratchTree();
    await writeFile(join(crlf, 'sql/core', numbered(next, 'windows')), 'select 1;\r\n');
    expect((await embed(crlf)).stderr).toContain('CR line endings');
  });
});

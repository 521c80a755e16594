import { execFile } from 'node:child_process';
import { appendFile, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
    await rm(join(root, 'sql/core/0002_security_events.sql'));
    const result = await embed(root);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('must not be removed or renamed');
  });

  it('accepts a new numbered file after the released ones, unreleased', async () => {
    const root = await scratchTree();
    await writeFile(join(root, 'sql/core/0003_next_change.sql'), 'select 1;\n');
    expect((await embed(root)).code).toBe(0);
    const generated = await readFile(join(root, 'src/install/generated/catalog.ts'), 'utf8');
    expect(generated).toMatch(/"version":3,"name":"0003_next_change.sql".*"released":false/);
  });

  it('refuses a gap in the numbering and CR line endings', async () => {
    const gap = await scratchTree();
    await writeFile(join(gap, 'sql/core/0004_skipped_three.sql'), 'select 1;\n');
    expect((await embed(gap)).stderr).toContain('expected version 3');
    const crlf = await scratchTree();
    await writeFile(join(crlf, 'sql/core/0003_windows.sql'), 'select 1;\r\n');
    expect((await embed(crlf)).stderr).toContain('CR line endings');
  });
});

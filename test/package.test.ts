import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = new URL('../', import.meta.url).pathname;

describe('the published package', () => {
  it('contains everything the binary and the demo read at run time', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repo });
    const files = new Set(
      (JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0]!.files.map((f) => f.path),
    );
    for (const needed of [
      'bin/pgwarden.js',
      'dist/cli/bin.js',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/db/embedded/index.js',
      'dist/auth/index.js',
      'dist/install/generated/catalog.js',
      'demo/sample-app.sql',
      'README.md',
    ]) {
      expect([needed, files.has(needed)]).toEqual([needed, true]);
    }
    expect(
      [...files].filter((f) => f.startsWith('test/') || f.startsWith('src/') || f.startsWith('.pgwarden')),
    ).toEqual([]);
  });
});

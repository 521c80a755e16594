import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { generateMasterKey } from '../../src/auth/crypto/index.js';
import { installedDatabase } from '../helpers/db.js';
import { cliEnv, finished, runCli, spawnCli, tempCwd, urlOf, waitForLine } from './run-cli.js';

// The built binary against an installed database: `serve auth` answers over HTTP and stops
// gracefully on SIGTERM; `keys rotate-jwt` rotates while keeping the old key published.
let cwd: string;
let remove: () => Promise<void>;
let env: NodeJS.ProcessEnv;
let url: string;

beforeAll(async () => {
  ({ dir: cwd, remove } = await tempCwd());
  url = urlOf(await installedDatabase());
  env = cliEnv({ PGWARDEN_AUTH_MASTER_KEY: generateMasterKey(), PGWARDEN_AUTH_REGISTRATION: 'open' });
});
afterAll(async () => {
  await remove();
});

describe('pgwarden serve auth', () => {
  it('serves the API until SIGTERM, then exits 0', async () => {
    const child = spawnCli(['serve', 'auth', '--port', '0', '--json', '--database-url', url], { cwd, env });
    // never leave a server behind, even when an assertion below fails
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const done = finished(child, 60_000);
    const ready = JSON.parse(await waitForLine(child, (l) => l.includes('auth-ready'), 30_000)) as { url: string };
    expect(ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${ready.url}/live`)).status).toBe(200);
    expect((await fetch(`${ready.url}/ready`)).status).toBe(200);
    const jwks = (await (await fetch(`${ready.url}/.well-known/jwks.json`)).json()) as { keys: unknown[] };
    expect(jwks.keys).toHaveLength(1);
    const signup = await fetch(`${ready.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'dana@example.test', password: 'a passphrase from the cli' }),
    });
    expect(signup.status).toBe(202);
    child.kill('SIGTERM');
    const result = await done;
    expect(result.code).toBe(0);
    expect(result.stdout + result.stderr).not.toContain('a passphrase from the cli');
  });

  it('refuses to start with a master key that is not 32 bytes, without echoing it (PW312)', async () => {
    const bad = cliEnv({ PGWARDEN_AUTH_MASTER_KEY: 'not-a-key-at-all' });
    const r = await runCli(['serve', 'auth', '--port', '0', '--json', '--database-url', url], { cwd, env: bad });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).error.code).toBe('PW312');
    expect(r.stdout + r.stderr).not.toContain('not-a-key-at-all');
  });
});

describe('pgwarden keys rotate-jwt', () => {
  it('makes a new key active and keeps the previous one published', async () => {
    const first = await runCli(['keys', 'rotate-jwt', '--json', '--database-url', url], { cwd, env });
    expect(first.code).toBe(0);
    const a = JSON.parse(first.stdout) as { kid: string; published: string[] };
    const second = await runCli(['keys', 'rotate-jwt', '--json', '--database-url', url], { cwd, env });
    const b = JSON.parse(second.stdout) as { kid: string; retired: string[]; published: string[] };
    expect(b.kid).not.toBe(a.kid);
    expect(b.retired).toContain(a.kid);
    expect(b.published).toEqual(expect.arrayContaining([a.kid, b.kid]));
  });
});

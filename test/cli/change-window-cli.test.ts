import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installedDatabase } from '../helpers/db.js';
import { cliEnv, runCli, tempCwd, urlOf } from './run-cli.js';

// `pgwarden monitor window open | list | close` as a user runs them (the built binary): the
// approval of a change window (M-07 "outside an approved migration") and the refusals (PW608).
let cwd: string;
let remove: () => Promise<void>;
let url: string;
const env = cliEnv({ USER: 'lena' });

beforeAll(async () => {
  ({ dir: cwd, remove } = await tempCwd());
  url = urlOf(await installedDatabase());
});
afterAll(async () => {
  await remove?.();
});

const cli = (...args: string[]) =>
  runCli(['monitor', 'window', ...args, '--json', '--database-url', url], { cwd, env });

describe('pgwarden monitor window', () => {
  it('opens a window approved by the OS user, lists it, closes it, and refuses to close it twice [M-07]', async () => {
    let r = await cli('open', 'cli_migrator', '--for', '90m', '--reason', 'release 4.2', '--ticket', 'CHG-42');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const opened = JSON.parse(r.stdout) as {
      id: string;
      principal: string;
      approver: string;
      endsAt: number;
      startsAt: number;
    };
    expect(opened).toMatchObject({ principal: 'cli_migrator', approver: 'lena' });
    expect(opened.endsAt - opened.startsAt).toBe(90 * 60_000);

    r = await cli('list');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { id: string; ticket: string }[]).find((w) => w.id === opened.id)).toMatchObject({
      ticket: 'CHG-42',
    });

    r = await cli('close', opened.id);
    expect(r.code).toBe(0);
    r = await cli('list');
    expect((JSON.parse(r.stdout) as { id: string }[]).map((w) => w.id)).not.toContain(opened.id);
    r = await cli('close', opened.id);
    expect(r.code).not.toBe(0);
    expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe('PW608');
  }, 60_000);

  it.each([
    ['a window for the approver itself', ['open', 'lena', '--reason', 'my own change']],
    ['a window without a reason', ['open', 'cli_migrator']],
    ['a window longer than a day', ['open', 'cli_migrator', '--for', '2d', '--reason', 'long release']],
    ['a window starting in the past', ['open', 'cli_migrator', '--start', '2020-01-01T00:00:00Z', '--reason', 'late']],
    ['a duration that is not one', ['open', 'cli_migrator', '--for', 'soon', '--reason', 'x release']],
  ])('refuses %s with PW608 [M-07]', async (_name, args) => {
    const r = await cli(...args);
    expect(r.code).not.toBe(0);
    expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe('PW608');
  });
});

import { spawn } from 'node:child_process';

/** How to run one PostgreSQL tool. */
export interface RunCommandOptions {
  /** Run as this uid/gid (only meaningful when we are root). */
  uid?: number | undefined;
  gid?: number | undefined;
  /** Working directory; must be reachable by `uid`, or initdb warns about the caller's cwd. */
  cwd?: string | undefined;
  /** Receives each output line as it arrives. */
  onLine?: ((line: string) => void) | undefined;
}

/** What a finished command printed and how it exited. */
export interface RunCommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/**
 * The environment every PostgreSQL tool runs with. Fixed rather than inherited so a caller's
 * PGDATA / PGPORT / PGOPTIONS / LANG cannot change what the cluster does, and so server messages
 * stay in English for the log-scraping in `local-cluster.ts`.
 */
const TOOL_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LC_ALL: 'C',
  LANG: 'C',
};

/**
 * Runs a program without a shell and collects its combined stdout/stderr. Never rejects on a
 * non-zero exit (callers decide what a failure means); rejects only when it cannot be spawned.
 *
 * @example
 * const { code, output } = await runCommand('/usr/lib/postgresql/15/bin/postgres', ['--version']);
 */
export function runCommand(
  file: string,
  args: readonly string[],
  options: RunCommandOptions = {},
): Promise<RunCommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: { ...TOOL_ENV },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    });
    const chunks: string[] = [];
    let pending = '';
    const onData = (data: Buffer): void => {
      const text = data.toString('utf8');
      chunks.push(text);
      if (!options.onLine) return;
      pending += text;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') options.onLine(line);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (options.onLine && pending.trim() !== '') options.onLine(pending);
      resolve({ code, signal, output: chunks.join('') });
    });
  });
}

import type { Stats } from 'node:fs';
import { readlink, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { NotEvaluated, type ScanContext } from '../scan-context.js';
import { type HostEnv, once, type PasswdEntry, readPasswd, readProc, readText, tryStat } from './host-env.js';

/** The server's data directory on this machine and the account that owns it. */
export interface ServerHost {
  dataDir: string;
  /** The data directory with symlinks resolved. */
  realDataDir: string;
  dataStats: Stats;
  /** PostgreSQL refuses a data directory it does not own: the owner is the server's OS account. */
  osUser: PasswdEntry | undefined;
  /** Line 1 of postmaster.pid. */
  pid: number | undefined;
}

/**
 * The data directory (NotEvaluated when the scanner is not on the database host) and its owner.
 *
 * @example
 * const { dataDir, osUser } = await serverHost(ctx, env);
 */
export function serverHost(ctx: ScanContext, env: HostEnv): Promise<ServerHost> {
  return once(env, ctx, 'host', async () => {
    const dataDir = await ctx.dataDirectory();
    const dataStats = await tryStat(dataDir);
    if (typeof dataStats === 'string') throw new NotEvaluated(`the data directory ${dataDir} is ${dataStats} here`);
    const pidFile = await readText(join(dataDir, 'postmaster.pid'), 4096);
    const pid = typeof pidFile === 'string' ? NaN : Number(pidFile.text.split('\n')[0]);
    const osUser = (await readPasswd(env)).find((u) => u.uid === dataStats.uid);
    return {
      dataDir,
      realDataDir: await realpath(dataDir),
      dataStats,
      osUser,
      pid: Number.isInteger(pid) && pid > 0 ? pid : undefined,
    };
  });
}

/** The postmaster as a process of this machine. */
export interface ServerProcess {
  pid: number;
  /** The running executable; undefined when /proc/<pid>/exe is not readable by the scanner. */
  exe: string | undefined;
  /** The executable was replaced or removed since the server started (a package upgrade without restart). */
  exeDeleted: boolean;
}

/**
 * The postmaster's process, verified: its working directory is the data directory (the postmaster
 * chdirs there and stays). A pid from postmaster.pid means nothing in another PID namespace (a
 * server in a container whose data directory is mounted at the same path), so an unverified pid
 * is never used: NotEvaluated instead.
 *
 * @example
 * const { pid, exe } = await serverProcess(ctx, env);
 */
export function serverProcess(ctx: ScanContext, env: HostEnv): Promise<ServerProcess> {
  return once(env, ctx, 'process', async () => {
    const host = await serverHost(ctx, env);
    const pid = host.pid;
    if (pid === undefined) throw new NotEvaluated(`no pid in ${join(host.dataDir, 'postmaster.pid')}`);
    const procDir = join(env.procDir, String(pid));
    let cwd: string;
    try {
      cwd = await readlink(join(procDir, 'cwd'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') {
        throw new NotEvaluated(
          `cannot inspect the server process ${pid} (run the scanner as root or as the server's OS user)`,
        );
      }
      throw new NotEvaluated(`process ${pid} named in postmaster.pid does not exist here (another PID namespace?)`);
    }
    if (cwd !== host.realDataDir && cwd !== host.dataDir) {
      throw new NotEvaluated(
        `process ${pid} named in postmaster.pid is not this server's postmaster here (its working directory is elsewhere: the server may run in another PID namespace, e.g. a container)`,
      );
    }
    let exe: string | undefined;
    try {
      exe = await readlink(join(procDir, 'exe'));
    } catch {
      exe = undefined;
    }
    const exeDeleted = exe?.endsWith(' (deleted)') ?? false;
    return { pid, exe: exe?.replace(/ \(deleted\)$/, ''), exeDeleted };
  });
}

/**
 * Rows of the pg_config view this scan may read (superuser only by default); {} otherwise.
 *
 * @example
 * (await pgConfig(ctx, env)).SHAREDIR; // '/usr/share/postgresql/15'
 */
export function pgConfig(ctx: ScanContext, env: HostEnv): Promise<Record<string, string>> {
  return once(env, ctx, 'pg_config', async () => {
    const allowed = await ctx.query<{ ok: boolean }>(
      'host.pg_config.allowed',
      `select pg_catalog.has_table_privilege('pg_catalog.pg_config', 'select') as ok`,
    );
    if (!allowed[0]?.ok) return {};
    const rows = await ctx.query<{ name: string; setting: string }>(
      'host.pg_config',
      `select name, setting from pg_catalog.pg_config where name in ('BINDIR', 'SHAREDIR', 'SYSCONFDIR')`,
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  });
}

/** The server executable and its bin directory, and how they were found. */
export interface ServerBinary {
  exe: string;
  bindir: string;
  foundBy: 'proc-exe' | 'pg_config' | 'cmdline';
  exeDeleted: boolean;
}

/**
 * The running server's executable: /proc/<pid>/exe (the real binary), else the pg_config view's
 * BINDIR (computed by the server from its own path), else an absolute argv[0]. NotEvaluated when
 * none is available.
 *
 * @example
 * (await serverBinary(ctx, env)).bindir; // '/usr/lib/postgresql/15/bin'
 */
export function serverBinary(ctx: ScanContext, env: HostEnv): Promise<ServerBinary> {
  return once(env, ctx, 'binary', async () => {
    const proc = await serverProcess(ctx, env).catch((err: unknown) => {
      if (err instanceof NotEvaluated) return undefined;
      throw err;
    });
    if (proc?.exe)
      return { exe: proc.exe, bindir: dirname(proc.exe), foundBy: 'proc-exe', exeDeleted: proc.exeDeleted };
    const bindir = (await pgConfig(ctx, env)).BINDIR;
    if (bindir) return { exe: join(bindir, 'postgres'), bindir, foundBy: 'pg_config', exeDeleted: false };
    if (proc) {
      const argv0 = (await readProc(env, proc.pid, 'cmdline'))?.split('\0')[0];
      if (argv0 && argv0 !== 'denied' && isAbsolute(argv0)) {
        return { exe: argv0, bindir: dirname(argv0), foundBy: 'cmdline', exeDeleted: false };
      }
    }
    throw new NotEvaluated(
      'the server executable is unknown: /proc/<pid>/exe is unreadable and the pg_config view is not granted to the scanner',
    );
  });
}

/**
 * The server's share directory: pg_config's SHAREDIR, else derived from the executable the way
 * PostgreSQL relocates it (prefix/share/postgresql, prefix/share, or Debian's
 * /usr/lib/postgresql/N/bin → /usr/share/postgresql/N), the first that has an extension directory.
 *
 * @example
 * (await serverShareDir(ctx, env)).sharedir; // '/usr/share/postgresql/15'
 */
export async function serverShareDir(ctx: ScanContext, env: HostEnv): Promise<{ sharedir: string; foundBy: string }> {
  const fromServer = (await pgConfig(ctx, env)).SHAREDIR;
  if (fromServer) return { sharedir: fromServer, foundBy: 'pg_config' };
  const { bindir } = await serverBinary(ctx, env);
  const prefix = dirname(bindir);
  const candidates = [join(prefix, 'share', 'postgresql'), join(prefix, 'share')];
  const debian = /^(.*)\/lib\/postgresql\/(\d+)\/bin$/.exec(bindir);
  if (debian) candidates.unshift(join(debian[1]!, 'share', 'postgresql', debian[2]!));
  for (const dir of candidates) {
    const s = await tryStat(join(dir, 'extension'));
    if (typeof s !== 'string' && s.isDirectory()) return { sharedir: dir, foundBy: `derived from ${bindir}` };
  }
  throw new NotEvaluated(`no extension directory found beside the server binaries in ${bindir}`);
}

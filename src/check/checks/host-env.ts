import { constants, type Dirent, type Stats } from 'node:fs';
import { lstat, open, readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ScanContext } from '../scan-context.js';
import type { CheckDefinition } from '../types.js';

/**
 * Where the host checks look. Every root has the real default; tests point the home, /etc and
 * package roots at a temporary tree of real files instead of touching the machine's own.
 *
 * @example
 * const checks = createHostChecks({ homeParents: ['/srv/homes'], etcDir: '/tmp/etc-copy' });
 */
export interface HostCheckOptions {
  /** procfs mount; default /proc. */
  procDir?: string;
  /** Configuration root: passwd, shadow, profile, environment, apt sources; default /etc. */
  etcDir?: string;
  /** Directories whose subdirectories are home directories (only their top level is read); default ['/home']. */
  homeParents?: readonly string[];
  /** Further home directories; default ['/root']. The server OS user's home (from passwd) is always added. */
  extraHomes?: readonly string[];
  /** dpkg's database; default /var/lib/dpkg. */
  dpkgDir?: string;
  /** Exists when systemd is the running service manager (sd_booted); default /run/systemd/system. */
  systemdRunDir?: string;
  /** Directories searched for backup tools (the library does not read PATH); default the FHS bin directories. */
  binDirs?: readonly string[];
  /** Service files to inspect besides those found (e.g. the caller's PGSERVICEFILE). */
  serviceFiles?: readonly string[];
  /** Directories whose pg_service.conf to inspect besides those found (e.g. the caller's PGSYSCONFDIR). */
  sysconfDirs?: readonly string[];
  /** Largest prefix of a text file read; default 1 MiB. */
  maxFileBytes?: number;
  /** The scanner's own pid, excluded from the environment check; default process.pid. */
  selfPid?: number;
}

/** The options with defaults applied, and a per-scan memo. */
export interface HostEnv {
  procDir: string;
  etcDir: string;
  homeParents: readonly string[];
  extraHomes: readonly string[];
  dpkgDir: string;
  systemdRunDir: string;
  binDirs: readonly string[];
  serviceFiles: readonly string[];
  sysconfDirs: readonly string[];
  maxFileBytes: number;
  selfPid: number;
  /** Host facts computed once per scan (keyed by the scan's context, so nothing outlives a scan). */
  memo: WeakMap<ScanContext, Map<string, Promise<unknown>>>;
}

/**
 * Applies the real defaults.
 *
 * @example
 * resolveHostEnv({ etcDir: '/tmp/etc' }).procDir; // '/proc'
 */
export function resolveHostEnv(options: HostCheckOptions = {}): HostEnv {
  return {
    procDir: options.procDir ?? '/proc',
    etcDir: options.etcDir ?? '/etc',
    homeParents: options.homeParents ?? ['/home'],
    extraHomes: options.extraHomes ?? ['/root'],
    dpkgDir: options.dpkgDir ?? '/var/lib/dpkg',
    systemdRunDir: options.systemdRunDir ?? '/run/systemd/system',
    binDirs: options.binDirs ?? [
      '/usr/local/sbin',
      '/usr/local/bin',
      '/usr/sbin',
      '/usr/bin',
      '/sbin',
      '/bin',
      '/opt/pgbackrest/bin',
    ],
    serviceFiles: options.serviceFiles ?? [],
    sysconfDirs: options.sysconfDirs ?? [],
    maxFileBytes: options.maxFileBytes ?? 1 << 20,
    selfPid: options.selfPid ?? process.pid,
    memo: new WeakMap(),
  };
}

/**
 * Computes `make()` once per scan under `key`.
 *
 * @example
 * const facts = await once(env, ctx, 'host', () => readFacts());
 */
export function once<T>(env: HostEnv, ctx: ScanContext, key: string, make: () => Promise<T>): Promise<T> {
  let perScan = env.memo.get(ctx);
  if (!perScan) env.memo.set(ctx, (perScan = new Map()));
  let value = perScan.get(key) as Promise<T> | undefined;
  if (!value) perScan.set(key, (value = make()));
  return value;
}

const errnoOf = (err: unknown) => (err as NodeJS.ErrnoException).code;
const absent = (err: unknown) => ['ENOENT', 'ENOTDIR', 'ESRCH'].includes(errnoOf(err) ?? '');

/**
 * stat (following links) or lstat; 'missing' when absent, 'denied' when not permitted.
 *
 * @example
 * const s = await tryStat('/etc/shadow'); if (s === 'denied') …
 */
export async function tryStat(path: string, follow = true): Promise<Stats | 'missing' | 'denied'> {
  try {
    return await (follow ? stat(path) : lstat(path));
  } catch (err) {
    if (absent(err) || errnoOf(err) === 'ELOOP') return 'missing';
    if (errnoOf(err) === 'EACCES' || errnoOf(err) === 'EPERM') return 'denied';
    throw err;
  }
}

/**
 * A text file's first `max` bytes, or why not. Never blocks on a FIFO and never reads a device.
 *
 * @example
 * const r = await readText('/etc/passwd', 1 << 20); if (typeof r !== 'string') r.text;
 */
export async function readText(
  path: string,
  max: number,
): Promise<{ text: string; stats: Stats } | 'missing' | 'denied' | 'not-a-file'> {
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    if (absent(err) || errnoOf(err) === 'ELOOP' || errnoOf(err) === 'ENXIO') return 'missing';
    if (errnoOf(err) === 'EACCES' || errnoOf(err) === 'EPERM') return 'denied';
    throw err;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) return 'not-a-file';
    const buffer = Buffer.alloc(Math.min(max, Math.max(stats.size, 0)));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return { text: buffer.subarray(0, bytesRead).toString('utf8'), stats };
  } finally {
    await handle.close();
  }
}

/**
 * A procfs file (its size reads as 0, so read to the end); undefined when gone or not permitted.
 *
 * @example
 * await readProc(env, 4242, 'status'); // 'Name:\tpostgres\n…'
 */
export async function readProc(
  env: HostEnv,
  pid: number | string,
  name: string,
): Promise<string | 'denied' | undefined> {
  try {
    const handle = await open(join(env.procDir, String(pid), name), constants.O_RDONLY);
    try {
      return (await handle.readFile()).toString('utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (errnoOf(err) === 'EACCES' || errnoOf(err) === 'EPERM') return 'denied';
    if (absent(err)) return undefined;
    throw err;
  }
}

/**
 * One directory's top-level entries (never recursive); [] when absent or not permitted.
 *
 * @example
 * (await listDir('/home')).map((e) => e.name); // ['alice', 'bob']
 */
export async function listDir(path: string, limit = 5000): Promise<Dirent[]> {
  try {
    return (await readdir(path, { withFileTypes: true })).slice(0, limit);
  } catch (err) {
    if (absent(err) || errnoOf(err) === 'EACCES' || errnoOf(err) === 'EPERM') return [];
    throw err;
  }
}

/**
 * `0755`-style text of a mode's permission bits.
 *
 * @example
 * octal(0o40755); // '0755'
 */
export const octal = (mode: number): string => `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;

/** One /etc/passwd line. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/**
 * The local accounts of /etc/passwd ([] when unreadable).
 *
 * @example
 * (await readPasswd(env)).find((u) => u.name === 'postgres')?.shell; // '/bin/bash'
 */
export async function readPasswd(env: HostEnv): Promise<PasswdEntry[]> {
  const file = await readText(join(env.etcDir, 'passwd'), env.maxFileBytes);
  if (typeof file === 'string') return [];
  return file.text.split('\n').flatMap((line) => {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) return [];
    return [{ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]!.trim() }];
  });
}

/**
 * Shells that refuse an interactive session.
 *
 * @example
 * isNoLoginShell('/usr/sbin/nologin'); // true
 */
export const isNoLoginShell = (shell: string): boolean => ['nologin', 'false'].includes(basename(shell));

/**
 * Home directories to inspect: the top level of each home parent, the extra homes and `alsoHomes`
 * (the server OS user's), each once, only existing directories.
 *
 * @example
 * await homeDirs(env, ['/var/lib/postgresql']); // ['/home/alice', '/root', '/var/lib/postgresql']
 */
export async function homeDirs(env: HostEnv, alsoHomes: readonly string[] = []): Promise<string[]> {
  const candidates: string[] = [];
  for (const parent of env.homeParents) {
    for (const entry of await listDir(parent, 2000)) {
      if (entry.isDirectory() || entry.isSymbolicLink()) candidates.push(join(parent, entry.name));
    }
  }
  candidates.push(...env.extraHomes, ...alsoHomes);
  const homes: string[] = [];
  for (const dir of new Set(candidates)) {
    const s = await tryStat(dir);
    if (typeof s !== 'string' && s.isDirectory()) homes.push(dir);
  }
  return homes;
}

/**
 * Whether anyone on the machine can read `path`: the file is world-readable and its directory world-searchable.
 *
 * @example
 * await worldReadable('/etc/environment', stats, '/etc'); // true for 0644 in a 0755 /etc
 */
export async function worldReadable(path: string, stats: Stats, dir: string): Promise<boolean> {
  if ((stats.mode & 0o004) === 0) return false;
  const d = await tryStat(dir);
  return typeof d !== 'string' && (d.mode & 0o001) !== 0;
}

/**
 * A URL without credentials or query (apt and yum URLs may carry tokens).
 *
 * @example
 * redactUrl('https://u:token@repo.example/apt?key=x'); // 'https://repo.example/apt'
 */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@\s]*@/, '//').replace(/[?#].*$/, '');
}

/**
 * A host check's definition: id `HOST-<cis>`, family and source 'host'.
 *
 * @example
 * hostCheck({ cis: '2.7', section: 'Directory and file permissions', title: '…', severity: 'high', … });
 */
export function hostCheck(
  def: Omit<CheckDefinition, 'id' | 'family' | 'source' | 'cis'> & { cis: string },
): CheckDefinition {
  return { id: `HOST-${def.cis}`, family: 'host', source: 'host', ...def };
}

/**
 * Who besides the owner may do what, e.g. "others can read" for 0644.
 *
 * @example
 * accessOf(0o644); // 'the group can read; others can read'
 */
export function accessOf(mode: number): string {
  const who = (bits: number, name: string) => {
    const can = [bits & 4 ? 'read' : '', bits & 2 ? 'write' : '', bits & 1 ? 'enter/execute' : ''].filter(Boolean);
    return can.length > 0 ? [`${name} can ${can.join(', ')}`] : [];
  };
  const parts = [...who((mode >> 3) & 7, 'the group'), ...who(mode & 7, 'others')];
  return parts.length > 0 ? parts.join('; ') : 'owner only';
}

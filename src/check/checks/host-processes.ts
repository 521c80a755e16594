import type { ScanContext } from '../scan-context.js';
import { type HostEnv, listDir, once, readProc } from './host-env.js';

/** What the scan of /proc learned about one process: flags and paths only, never a secret value. */
export interface ProcessFacts {
  pid: number;
  /** /proc/<pid>/comm: the command name (not its arguments). */
  command: string;
  uid: number | undefined;
  /** PGPASSWORD is set (non-empty) in its environment. */
  pgPassword: boolean;
  /** Values of PGSERVICEFILE / PGSYSCONFDIR in its environment (paths, not secrets). */
  serviceFile: string | undefined;
  sysconfDir: string | undefined;
  /** Arguments that carry a password, by index and kind; the arguments themselves are not kept. */
  passwordArgs: Array<{ index: number; kind: string }>;
}

/** Every process of the machine as far as the scanner may look. */
export interface ProcessScan {
  processes: ProcessFacts[];
  /** Processes whose environment could not be read (another user's without root, or not dumpable). */
  environDenied: number[];
  /** Processes whose command line could not be read (hidepid). */
  cmdlineDenied: number[];
  /** /proc hides other users' processes entirely (hidepid=invisible): pid 1 is not listed. */
  hidden: boolean;
}

/** Ways a password shows up in an argument, with the name reported instead of the value. */
const PASSWORD_IN_ARG: ReadonlyArray<{ kind: string; pattern: RegExp }> = [
  // postgres://user:secret@host — userinfo with a non-empty password.
  { kind: 'connection URI with user:password@', pattern: /postgres(?:ql)?:\/\/[^\s/@:]*:[^\s/@]+@/i },
  // key=value connection strings and URI parameters: "host=h password=x", "?password=x", "--password=x".
  { kind: 'password= keyword', pattern: /(?:^|[\s?&;,-])password\s*=\s*[^\s&;'"]/i },
  { kind: 'PGPASSWORD= assignment', pattern: /(?:^|[\s;&|(])PGPASSWORD=[^\s;&|)'"]/ },
];

/**
 * Which password pattern an argument matches, if any.
 *
 * @example
 * passwordKind('postgresql://u:pw@db/app'); // 'connection URI with user:password@'
 */
export function passwordKind(arg: string): string | undefined {
  return PASSWORD_IN_ARG.find((p) => p.pattern.test(arg))?.kind;
}

/**
 * Reads comm, status, environ and cmdline of every process once per scan. Processes that exit
 * meanwhile are skipped; environment values other than the two service-file paths are dropped
 * as soon as they are looked at.
 *
 * @example
 * (await scanProcesses(ctx, env)).processes.filter((p) => p.pgPassword);
 */
export function scanProcesses(ctx: ScanContext, env: HostEnv): Promise<ProcessScan> {
  return once(env, ctx, 'processes', async () => {
    const entries = await listDir(env.procDir, 1_000_000);
    const scan: ProcessScan = {
      processes: [],
      environDenied: [],
      cmdlineDenied: [],
      hidden: !entries.some((e) => e.name === '1'),
    };
    for (const entry of entries) {
      if (!/^\d+$/.test(entry.name)) continue;
      const pid = Number(entry.name);
      const status = await readProc(env, pid, 'status');
      if (status === undefined) continue;
      const comm = await readProc(env, pid, 'comm');
      const uidLine = status === 'denied' ? undefined : /^Uid:\s+(\d+)/m.exec(status)?.[1];
      const facts: ProcessFacts = {
        pid,
        command: comm === undefined || comm === 'denied' ? '?' : comm.trim(),
        uid: uidLine === undefined ? undefined : Number(uidLine),
        pgPassword: false,
        serviceFile: undefined,
        sysconfDir: undefined,
        passwordArgs: [],
      };
      const environ = await readProc(env, pid, 'environ');
      if (environ === 'denied') scan.environDenied.push(pid);
      else if (environ !== undefined) {
        for (const item of environ.split('\0')) {
          if (item.startsWith('PGPASSWORD=') && item.length > 'PGPASSWORD='.length) facts.pgPassword = true;
          else if (item.startsWith('PGSERVICEFILE=')) facts.serviceFile = item.slice('PGSERVICEFILE='.length);
          else if (item.startsWith('PGSYSCONFDIR=')) facts.sysconfDir = item.slice('PGSYSCONFDIR='.length);
        }
      }
      const cmdline = await readProc(env, pid, 'cmdline');
      if (cmdline === 'denied') scan.cmdlineDenied.push(pid);
      else if (cmdline !== undefined) {
        cmdline.split('\0').forEach((arg, index) => {
          const kind = passwordKind(arg);
          if (kind) facts.passwordArgs.push({ index, kind });
        });
      }
      scan.processes.push(facts);
    }
    return scan;
  });
}

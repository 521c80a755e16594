import { readlink } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { NotEvaluated, type ScanContext } from '../scan-context.js';
import type { CheckDefinition, Finding } from '../types.js';
import { type HostEnv, homeDirs, hostCheck, listDir, octal, readText, tryStat, worldReadable } from './host-env.js';
import { scanProcesses } from './host-processes.js';
import { pgConfig, serverHost } from './host-server.js';

/** Shell start-up files read by login or interactive shells (bash, sh, zsh, ksh, csh, PAM). */
const HOME_PROFILES = [
  '.profile', '.bashrc', '.bash_profile', '.bash_login', '.zshrc', '.zprofile', '.zshenv', '.zlogin',
  '.kshrc', '.mkshrc', '.cshrc', '.tcshrc', '.login', '.pam_environment',
]; // prettier-ignore
const ETC_PROFILES = [
  'environment', 'profile', 'bash.bashrc', 'bashrc', 'zshenv', 'zprofile', 'zshrc', 'zsh/zshenv', 'zsh/zprofile',
  'zsh/zshrc', 'csh.cshrc', 'csh.login',
]; // prettier-ignore

/** A non-empty PGPASSWORD assignment: sh/bash/zsh, csh setenv, or pam_environment. */
const SETS_PGPASSWORD = [
  /(?:^|[\s;&|(`])PGPASSWORD\s*=\s*(?!["']?["']?\s*(?:$|[;&|)]))/,
  /\bsetenv\s+PGPASSWORD\s+\S/,
  /^\s*PGPASSWORD\s+(?:DEFAULT|OVERRIDE)\s*=\s*\S/,
];

/**
 * 1-based numbers of lines that set PGPASSWORD (comments skipped).
 *
 * @example
 * pgPasswordLines('# PGPASSWORD=x\nexport PGPASSWORD=y\n'); // [2]
 */
export function pgPasswordLines(text: string): number[] {
  return text.split('\n').flatMap((line, i) => {
    if (/^\s*#/.test(line)) return [];
    return SETS_PGPASSWORD.some((p) => p.test(line)) ? [i + 1] : [];
  });
}

/**
 * Service-file lines with a non-empty password, and the services they are in.
 *
 * @example
 * servicePasswords('[app]\nhost=db\npassword=x\n'); // { lines: [3], services: ['app'] }
 */
export function servicePasswords(text: string): { lines: number[]; services: string[] } {
  const lines: number[] = [];
  const services = new Set<string>();
  let service = '(before any [service])';
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const section = /^\[([^\]]*)\]/.exec(line);
    if (section) service = section[1]!;
    else if (/^password\s*=\s*\S/i.test(line)) {
      lines.push(i + 1);
      services.add(service);
    }
  });
  return { lines, services: [...services] };
}

async function homes(ctx: ScanContext, env: HostEnv): Promise<string[]> {
  const { osUser } = await serverHost(ctx, env);
  return homeDirs(env, osUser ? [osUser.home] : []);
}

/** A readable file's facts for evidence: path, mode, owner; whether every local user can read it. */
async function fileFacts(path: string, env: HostEnv) {
  const read = await readText(path, env.maxFileBytes);
  if (read === 'denied') return read;
  if (typeof read === 'string') return undefined;
  const open = await worldReadable(path, read.stats, dirname(path));
  return { text: read.text, evidence: { file: path, mode: octal(read.stats.mode), uid: read.stats.uid }, open };
}

/** Nothing found, but some places could not be looked at: never a pass. */
function unseenProcesses(what: string): NotEvaluated {
  return new NotEvaluated(
    `none found, but the ${what} of some processes could not be read (other users' or protected processes): run the scanner as root to see them all`,
  );
}

function unseen(denied: readonly string[]): NotEvaluated {
  const some = denied.slice(0, 5).join(', ');
  return new NotEvaluated(
    `none found, but ${denied.length} could not be read (${some}${denied.length > 5 ? ', …' : ''}): run the scanner as root to see them all`,
  );
}

/**
 * CIS 1.6, 1.7, 2.3, 2.4 and 5.1: passwords left where other people or processes can find them.
 *
 * @example
 * const checks = secretChecks(resolveHostEnv());
 */
export function secretChecks(env: HostEnv): CheckDefinition[] {
  return [
    hostCheck({
      cis: '1.6',
      section: 'Installation and patches',
      title: 'No PGPASSWORD in shell profiles',
      severity: 'medium',
      rationale:
        "A password in a profile is plain text on disk, copied into every shell and its children. pgwarden really reads each home directory's profiles and the system-wide ones (pgdsat's brace globs ran under dash and skipped the home directories); a file every local user can read raises the finding to high.",
      remediation:
        'Remove PGPASSWORD from the file; use a ~/.pgpass file (mode 0600), peer or certificate authentication instead.',
      evaluate: async (ctx) => {
        const files: string[] = [];
        for (const home of await homes(ctx, env)) files.push(...HOME_PROFILES.map((f) => join(home, f)));
        files.push(...ETC_PROFILES.map((f) => join(env.etcDir, f)));
        for (const d of ['profile.d', 'environment.d']) {
          for (const e of await listDir(join(env.etcDir, d), 500)) files.push(join(env.etcDir, d, e.name));
        }
        const findings: Finding[] = [];
        const denied: string[] = [];
        let searched = 0;
        for (const file of files) {
          const facts = await fileFacts(file, env);
          if (facts === 'denied') denied.push(file);
          if (facts === undefined || facts === 'denied') continue;
          searched++;
          const lines = pgPasswordLines(facts.text);
          if (lines.length === 0) continue;
          findings.push({
            object: file,
            message: `${file} sets PGPASSWORD`,
            evidence: { ...facts.evidence, lines },
            ...(facts.open ? { severity: 'high' as const } : {}),
          });
        }
        if (findings.length > 0) return { verdict: 'fail', findings };
        if (denied.length > 0) throw unseen(denied);
        return { verdict: 'pass', evidence: { filesSearched: searched } };
      },
    }),
    hostCheck({
      cis: '1.7',
      section: 'Installation and patches',
      title: 'No running process has PGPASSWORD in its environment',
      severity: 'medium',
      rationale:
        "A process environment is readable by the same user and root (/proc/<pid>/environ) and inherited by every child. Findings name the process, never the value; the scanner's own process is left out. Without root, other users' processes cannot be read, and the check says so rather than passing.",
      remediation: 'Start the program with a ~/.pgpass file or a passfile= connection parameter instead of PGPASSWORD.',
      evaluate: async (ctx) => {
        await serverHost(ctx, env);
        const scan = await scanProcesses(ctx, env);
        const findings: Finding[] = scan.processes
          .filter((p) => p.pgPassword && p.pid !== env.selfPid)
          .map((p) => ({
            object: `process ${p.pid}`,
            message: `process ${p.pid} (${p.command}) has PGPASSWORD in its environment`,
            evidence: { pid: p.pid, command: p.command, uid: p.uid },
          }));
        if (findings.length > 0) return { verdict: 'fail', findings };
        if (scan.hidden) throw unseen(['processes of other users, hidden by hidepid']);
        // Process lists change from one scan to the next: reasons and evidence name no pids or counts,
        // so an unchanged server gives an unchanged report.
        if (scan.environDenied.length > 0) throw unseenProcesses('environments');
        return { verdict: 'pass', evidence: { scannedOwnProcessExcluded: true } };
      },
    }),
    hostCheck({
      cis: '2.3',
      section: 'Directory and file permissions',
      title: 'No psql history files',
      severity: 'low',
      rationale:
        'psql records every statement, including ALTER ROLE … PASSWORD and pgp_sym_encrypt keys. A history file linked to /dev/null is the accepted way to turn it off; a history readable by every local user raises the finding to medium.',
      remediation: 'rm ~/.psql_history && ln -s /dev/null ~/.psql_history (or set HISTFILE=/dev/null in ~/.psqlrc).',
      evaluate: async (ctx) => {
        const findings: Finding[] = [];
        const denied: string[] = [];
        const searched = await homes(ctx, env);
        for (const home of searched) {
          const path = join(home, '.psql_history');
          const link = await tryStat(path, false);
          if (link === 'denied') denied.push(path);
          if (typeof link === 'string') continue;
          if (link.isSymbolicLink() && (await readlink(path).catch(() => '')) === '/dev/null') continue;
          const target = await tryStat(path);
          const stats = typeof target === 'string' ? link : target;
          findings.push({
            object: path,
            message: `${path} keeps psql history`,
            evidence: {
              file: path,
              size: stats.size,
              mode: octal(stats.mode),
              uid: stats.uid,
              symlink: link.isSymbolicLink(),
            },
            ...((await worldReadable(path, stats, home)) ? { severity: 'medium' as const } : {}),
          });
        }
        if (findings.length > 0) return { verdict: 'fail', findings };
        if (denied.length > 0) throw unseen(denied);
        return { verdict: 'pass', evidence: { homes: searched } };
      },
    }),
    hostCheck({
      cis: '2.4',
      section: 'Directory and file permissions',
      title: 'No passwords in connection service files',
      severity: 'medium',
      rationale:
        "pg_service.conf files are meant to be shared; a password in one is plain text for everyone who may read it (high when every local user can). pgwarden reads ~/.pg_service.conf in each home, pg_service.conf in the server's SYSCONFDIR and the usual system locations, and the PGSERVICEFILE / PGSYSCONFDIR paths found in running processes' environments. Findings give the services and line numbers, never the password.",
      remediation:
        'Remove password= lines; keep passwords in ~/.pgpass (mode 0600) or use peer/certificate authentication.',
      evaluate: async (ctx) => {
        const candidates = new Set<string>(env.serviceFiles);
        for (const home of await homes(ctx, env)) candidates.add(join(home, '.pg_service.conf'));
        const dirs = new Set<string>([
          ...env.sysconfDirs,
          join(env.etcDir, 'postgresql-common'),
          join(env.etcDir, 'sysconfig', 'pgsql'),
          env.etcDir,
        ]);
        const sysconf = (await pgConfig(ctx, env)).SYSCONFDIR;
        if (sysconf) dirs.add(sysconf);
        const scan = await scanProcesses(ctx, env);
        const skipped: string[] = [];
        for (const p of scan.processes) {
          for (const [value, add] of [
            [p.serviceFile, (v: string) => candidates.add(v)],
            [p.sysconfDir, (v: string) => dirs.add(v)],
          ] as const) {
            if (value === undefined || value === '') continue;
            if (isAbsolute(value)) add(value);
            else skipped.push(`${value} (relative, process ${p.pid})`);
          }
        }
        for (const d of dirs) candidates.add(join(d, 'pg_service.conf'));
        const findings: Finding[] = [];
        const found: string[] = [];
        const denied: string[] = [];
        for (const file of candidates) {
          const facts = await fileFacts(file, env);
          if (facts === 'denied') denied.push(file);
          if (facts === undefined || facts === 'denied') continue;
          found.push(file);
          const { lines, services } = servicePasswords(facts.text);
          if (lines.length === 0) continue;
          findings.push({
            object: file,
            message: `${file} stores a password for ${services.join(', ')}`,
            evidence: { ...facts.evidence, services, lines },
            ...(facts.open ? { severity: 'high' as const } : {}),
          });
        }
        if (findings.length > 0) return { verdict: 'fail', findings };
        if (denied.length > 0) throw unseen(denied);
        return { verdict: 'pass', evidence: { serviceFiles: found, searched: candidates.size, skipped } };
      },
    }),
    hostCheck({
      cis: '5.1',
      section: 'Connection and login',
      title: 'No passwords on process command lines',
      severity: 'high',
      rationale:
        'Every local user can list every command line (ps, /proc/<pid>/cmdline): a password in a connection URI (postgresql://user:secret@…), a password= keyword or a PGPASSWORD= assignment is disclosed to all of them. Findings give the process, argument position and kind, never the argument.',
      remediation:
        'Pass passwords through ~/.pgpass, a passfile= parameter or a secret file read by the program, not through arguments; rotate any password that was exposed.',
      evaluate: async (ctx) => {
        await serverHost(ctx, env);
        const scan = await scanProcesses(ctx, env);
        const findings: Finding[] = scan.processes
          .filter((p) => p.passwordArgs.length > 0)
          .map((p) => ({
            object: `process ${p.pid}`,
            message: `process ${p.pid} (${p.command}) has a password on its command line`,
            evidence: { pid: p.pid, command: p.command, uid: p.uid, arguments: p.passwordArgs },
          }));
        if (findings.length > 0) return { verdict: 'fail', findings };
        if (scan.hidden) throw unseen(['processes of other users, hidden by hidepid']);
        if (scan.cmdlineDenied.length > 0) throw unseenProcesses('command lines');
        return { verdict: 'pass', evidence: { allProcessesRead: true } };
      },
    }),
  ];
}

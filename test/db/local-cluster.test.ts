import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, connect as netConnect, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClusterConnection, findFreePort, LocalCluster } from '../../src/db/embedded/index.js';
import { ErrorCodes } from '../../src/errors/index.js';

const isRoot = process.getuid?.() === 0;

/** Debian/Ubuntu's PostgreSQL, if installed; its major differs from the embedded 17. */
const systemBindir = ((): string | undefined => {
  try {
    return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
})();
const hasSystemPostgres = systemBindir !== undefined && existsSync(join(systemBindir, 'postgres'));

const homes: string[] = [];

/** A fresh directory for one cluster; its data dir goes inside. */
async function newHome(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'pgwarden-cluster-test-'));
  homes.push(home);
  return home;
}

async function query<T extends pg.QueryResultRow>(
  conn: ClusterConnection,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client(conn);
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

function uidOf(user: string): number {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}

function nonLoopbackIpv4(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return undefined;
}

function tcpConnectError(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port });
    socket.setTimeout(2000, () => {
      socket.destroy();
      resolve('TIMEOUT');
    });
    socket.on('connect', () => {
      socket.destroy();
      resolve('CONNECTED');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'ERROR'));
  });
}

async function waitForExit(pid: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (
      stat
        .slice(stat.lastIndexOf(')') + 1)
        .trim()
        .startsWith('Z')
    )
      return;
    await sleep(50);
  }
  throw new Error(`process ${pid} did not exit`);
}

afterAll(async () => {
  for (const home of homes) {
    await new LocalCluster({ dataDir: join(home, 'data') }).stop().catch(() => undefined);
    await rm(home, { recursive: true, force: true });
  }
});

describe('LocalCluster with the embedded PostgreSQL 17', { timeout: 60_000 }, () => {
  let dataDir: string;
  let cluster: LocalCluster;
  let conn: ClusterConnection;

  beforeAll(async () => {
    dataDir = join(await newHome(), 'data');
    cluster = new LocalCluster({ dataDir, ephemeral: true });
    conn = await cluster.start();
  }, 60_000);

  it('initialises, starts and answers select version() as PostgreSQL 17', async () => {
    expect(conn).toMatchObject({ host: '127.0.0.1', user: 'postgres', database: 'postgres' });
    expect(await cluster.serverMajor()).toBe(17);
    const [row] = await query<{ version: string }>(conn, 'select version()');
    expect(row?.version).toMatch(/^PostgreSQL 17\./);
  });

  it('denies a login with a wrong superuser password (28P01)', async () => {
    const error = await query({ ...conn, password: `${conn.password}x` }, 'select 1').catch((err: unknown) => err);
    expect(error).toMatchObject({ code: '28P01' });
  });

  it('listens only on 127.0.0.1 over TCP', async () => {
    const [row] = await query<{ listen: string; sockets: string }>(
      conn,
      `select current_setting('listen_addresses') as listen,
              current_setting('unix_socket_directories') as sockets`,
    );
    expect(row).toEqual({ listen: '127.0.0.1', sockets: '' });
    const external = nonLoopbackIpv4();
    if (external !== undefined) {
      expect(await tcpConnectError(external, conn.port)).toBe('ECONNREFUSED');
    }
  });

  it('keeps the connection details in a 0600 cluster.json beside the data dir', async () => {
    const file = join(dataDir, '..', 'cluster.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const state = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    expect(state).toMatchObject({ superuser: 'postgres', port: conn.port });
    expect(await new LocalCluster({ dataDir }).connection()).toEqual(conn);
  });

  it('attaches to the running server when started twice', async () => {
    const before = await cluster.status();
    expect(await cluster.start()).toEqual(conn);
    expect(await new LocalCluster({ dataDir }).start()).toEqual(conn);
    expect(await cluster.status()).toEqual(before);
  });

  it('preloads pg_stat_statements', async () => {
    await query(conn, 'create extension if not exists pg_stat_statements');
    const [row] = await query<{ n: number }>(conn, 'select count(*)::int as n from pg_stat_statements');
    expect(row?.n).toBeGreaterThan(0);
  });

  it.runIf(isRoot)('runs the server as the unprivileged OS user when we are root', async () => {
    const postgresUid = uidOf('postgres');
    expect(postgresUid).not.toBe(0);
    expect((await stat(dataDir)).uid).toBe(postgresUid);
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);
    const { pid } = await cluster.status();
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const uids = /^Uid:\s+(.*)$/m.exec(status)?.[1]?.split(/\s+/).map(Number);
    expect(uids).toEqual([postgresUid, postgresUid, postgresUid, postgresUid]);
  });

  it('starts again after the postmaster was killed with SIGKILL', async () => {
    const { pid } = await cluster.status();
    expect(pid).toBeDefined();
    process.kill(pid!, 'SIGKILL');
    await waitForExit(pid!);
    expect((await cluster.status()).running).toBe(false);
    conn = await cluster.start();
    const after = await cluster.status();
    expect(after.running).toBe(true);
    expect(after.pid).not.toBe(pid);
    const [row] = await query<{ one: number }>(conn, 'select 1 as one');
    expect(row?.one).toBe(1);
  });

  it('is stopped by another LocalCluster that only knows the data directory', async () => {
    await new LocalCluster({ dataDir }).stop();
    expect(await cluster.status()).toEqual({ running: false });
    await expect(cluster.connection()).rejects.toMatchObject({
      code: ErrorCodes.EMBEDDED_NOT_RUNNING,
    });
  });

  it('treats stop as a no-op when nothing runs', async () => {
    await cluster.stop();
    expect((await cluster.status()).running).toBe(false);
  });
});

describe('LocalCluster start failures', { timeout: 60_000 }, () => {
  it('reports the server log but never the password when a fixed port is taken (PW150)', async () => {
    const port = await findFreePort();
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    const password = 'correct-horse-battery-staple';
    try {
      const cluster = new LocalCluster({
        dataDir: join(await newHome(), 'data'),
        port,
        password,
        ephemeral: true,
      });
      const error = await cluster.start().catch((err: unknown) => err);
      expect(error).toMatchObject({ code: ErrorCodes.EMBEDDED_START_FAILED });
      const { message, detail } = error as { message: string; detail: string };
      expect(detail).toMatch(/could not bind|already in use/i);
      expect(`${message}\n${detail}`).not.toContain(password);
      expect((await cluster.status()).running).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('shares one server between two starts racing on the same data directory', async () => {
    const dataDir = join(await newHome(), 'data');
    const first = new LocalCluster({ dataDir, ephemeral: true });
    await first.init();
    const second = new LocalCluster({ dataDir, ephemeral: true });
    const [a, b] = await Promise.all([first.start(), second.start()]);
    expect(a).toEqual(b);
    const [row] = await query<{ one: number }>(a, 'select 1 as one');
    expect(row?.one).toBe(1);
    await first.stop();
  });

  it('rejects a bindir without PostgreSQL binaries (PW152)', async () => {
    const home = await newHome();
    const cluster = new LocalCluster({ dataDir: join(home, 'data'), bindir: home });
    await expect(cluster.init()).rejects.toMatchObject({
      code: ErrorCodes.EMBEDDED_BINARIES_MISSING,
    });
  });

  it.runIf(isRoot)('refuses a data dir the server OS user cannot reach (PW151)', async () => {
    // mkdtemp makes a 0700 root-owned directory that the postgres user cannot enter.
    const home = await newHome();
    const cluster = new LocalCluster({ dataDir: join(home, 'nested', 'data') });
    await expect(cluster.init()).rejects.toMatchObject({
      code: ErrorCodes.EMBEDDED_DIR_UNUSABLE,
    });
  });
});

describe.runIf(isRoot)('LocalCluster directories as root', { timeout: 60_000 }, () => {
  it('leaves a parent the server user can enter to root, handing over only the data dir and log', async () => {
    const home = await newHome();
    await chmod(home, 0o755);
    const cluster = new LocalCluster({ dataDir: join(home, 'data'), ephemeral: true });
    try {
      const [row] = await query<{ one: number }>(await cluster.start(), 'select 1 as one');
      expect(row?.one).toBe(1);
      const postgresUid = uidOf('postgres');
      expect((await stat(home)).uid).toBe(0);
      expect((await stat(join(home, 'data'))).uid).toBe(postgresUid);
      expect((await stat(join(home, 'server.log'))).uid).toBe(postgresUid);
      expect((await stat(join(home, 'cluster.json'))).uid).toBe(0);
    } finally {
      await cluster.stop();
    }
  });

  it('hands an empty private parent (mkdtemp, 0700) to the server user, who could not enter it', async () => {
    const home = await newHome();
    const cluster = new LocalCluster({ dataDir: join(home, 'data'), ephemeral: true });
    try {
      await cluster.start();
      expect((await stat(home)).uid).toBe(uidOf('postgres'));
    } finally {
      await cluster.stop();
    }
  });
});

describe('LocalCluster with the system PostgreSQL binaries', { timeout: 60_000 }, () => {
  it.skipIf(!hasSystemPostgres)('starts a PostgreSQL 15 cluster from pg_config --bindir', async () => {
    const cluster = new LocalCluster({
      dataDir: join(await newHome(), 'data'),
      bindir: systemBindir!,
      ephemeral: true,
    });
    try {
      const conn = await cluster.start();
      const [row] = await query<{ version: string }>(conn, 'select version()');
      expect(row?.version).toMatch(/^PostgreSQL 15\./);
      await query(conn, 'create extension pg_stat_statements');
    } finally {
      await cluster.stop();
    }
  });

  it.skipIf(!hasSystemPostgres)('refuses a data directory created by another major version (PW154)', async () => {
    const dataDir = join(await newHome(), 'data');
    await new LocalCluster({ dataDir, bindir: systemBindir!, ephemeral: true }).init();
    await expect(new LocalCluster({ dataDir, ephemeral: true }).init()).rejects.toMatchObject({
      code: ErrorCodes.EMBEDDED_VERSION_MISMATCH,
    });
  });
});

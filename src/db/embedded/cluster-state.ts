import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';

/**
 * What a later process needs to reach a cluster it did not start (`pgwarden down`, a CLI
 * command while `pgwarden up` runs). Holds the superuser password: mode 0600, never logged.
 */
export interface ClusterState {
  superuser: string;
  password: string;
  port?: number | undefined;
  bindir: string;
}

/**
 * `<dirname(dataDir)>/cluster.json`, beside (not inside) the data directory so the server's OS
 * user never needs to read it.
 *
 * @example
 * stateFileOf('/var/tmp/pgwarden/data'); // '/var/tmp/pgwarden/cluster.json'
 */
export function stateFileOf(dataDir: string): string {
  return join(dirname(dataDir), 'cluster.json');
}

/**
 * Reads the persisted state; undefined when missing or malformed.
 *
 * @example
 * const state = await readClusterState('/var/tmp/pgwarden/data');
 */
export async function readClusterState(dataDir: string): Promise<ClusterState | undefined> {
  const text = await readFile(stateFileOf(dataDir), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const raw = JSON.parse(text) as Partial<ClusterState>;
    if (typeof raw.superuser !== 'string' || typeof raw.password !== 'string') return undefined;
    if (typeof raw.bindir !== 'string') return undefined;
    const port = typeof raw.port === 'number' ? raw.port : undefined;
    return { superuser: raw.superuser, password: raw.password, port, bindir: raw.bindir };
  } catch {
    return undefined;
  }
}

/**
 * Persists the state with mode 0600, owned by the current user.
 *
 * @example
 * await writeClusterState(dataDir, { superuser: 'postgres', password, port: 5433, bindir });
 */
export async function writeClusterState(dataDir: string, state: ClusterState): Promise<void> {
  await writeFileAtomic(stateFileOf(dataDir), `${JSON.stringify(state, null, 2)}\n`, {
    mode: 0o600,
  });
}

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { PgwardenConfig } from '../../config/index.js';
import {
  type CheckpointPolicy,
  DirectoryWitness,
  HttpWitnessClient,
  StdoutWitness,
  type TextSink,
  type Witness,
} from '../checkpoint/index.js';
import type { LedgerSigners } from './keys.js';

/** The file a directory witness keeps the key history in: `<base64url(origin)>.key-history`. */
export function keyHistoryFile(dir: string, origin: string): string {
  return join(dir, `${Buffer.from(origin, 'utf8').toString('base64url')}.key-history`);
}

/** The file a directory witness keeps its latest checkpoint in. */
export function latestCheckpointFile(dir: string, origin: string): string {
  return join(dir, `${Buffer.from(origin, 'utf8').toString('base64url')}.latest`);
}

/**
 * The witnesses the configuration names (`ledger.witnessDir`, `witnessUrl`, `witnessStdout`).
 * A directory witness also gets the signed key history, so the keys are published where the
 * checkpoints are.
 *
 * @example
 * const witnesses = await configuredWitnesses(config, signers, cwd);
 * await sealLedger(client, { masterKey, witnesses });
 */
export async function configuredWitnesses(
  config: PgwardenConfig,
  signers: LedgerSigners,
  cwd: string,
  stdout: TextSink = process.stdout,
): Promise<Witness[]> {
  const policy: CheckpointPolicy = {
    origin: signers.origin,
    logKeys: signers.history,
    require: [...new Set(signers.signers.map((s) => s.algorithm))],
  };
  const witnesses: Witness[] = [];
  if (config.ledger.witnessDir) {
    const dir = resolve(cwd, config.ledger.witnessDir);
    await mkdir(dir, { recursive: true });
    const file = keyHistoryFile(dir, signers.origin);
    const held = await readFile(file, 'utf8').catch(() => null);
    if (held !== signers.history.note) await writeFile(file, signers.history.note, { mode: 0o644 });
    witnesses.push(new DirectoryWitness({ dir, logs: [policy], name: 'directory' }));
  }
  if (config.ledger.witnessUrl) witnesses.push(new HttpWitnessClient({ url: config.ledger.witnessUrl, name: 'http' }));
  if (config.ledger.witnessStdout) witnesses.push(new StdoutWitness({ out: stdout }));
  return witnesses;
}

/**
 * The newest checkpoint the configured directory witness holds, to verify against (null when
 * there is no directory witness or it holds nothing yet).
 *
 * @example
 * const trusted = await witnessedCheckpoint(config, origin, cwd);
 */
export async function witnessedCheckpoint(config: PgwardenConfig, origin: string, cwd: string): Promise<string | null> {
  if (!config.ledger.witnessDir) return null;
  return readFile(latestCheckpointFile(resolve(cwd, config.ledger.witnessDir), origin), 'utf8').catch(() => null);
}

import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { type CheckpointPolicy, parseCheckpoint } from './checkpoint.js';
import type { TreeHead } from './checkpoint-verifier.js';
import { type NoteSigner, parseNote } from './note.js';
import { cosign, decideSubmission, type PreviousCheckpoint, type Witness, type WitnessReceipt } from './witness.js';

/** Options of a `DirectoryWitness`. */
export interface DirectoryWitnessOptions {
  /** Directory that holds `<origin>.latest` and `<origin>.history` files. */
  readonly dir: string;
  /** The logs this witness follows, each with the keys it trusts. */
  readonly logs: readonly CheckpointPolicy[];
  /** Cosignature keys (`cosignature-ed25519`); without any, the witness stores but does not cosign. */
  readonly keys?: readonly NoteSigner[];
  readonly name?: string;
  /** Give up waiting for the lock after this long. Default 10 s. */
  readonly lockTimeoutMs?: number;
  /** A lock file older than this is left over from a crashed process and removed. Default 60 s. */
  readonly staleLockMs?: number;
  readonly clock?: () => Date;
}

/**
 * A witness on a file system the database cannot write (another host, a mounted bucket). Per
 * origin it keeps the latest accepted checkpoint note in `<origin>.latest`, replaced atomically
 * (temp file, fsync, rename), and every accepted note in the append-only `<origin>.history`.
 * Check and replace happen under a lock file, so concurrent submitters, in one process or many,
 * never move the stored checkpoint backwards (c2sp.org/tlog-witness's race).
 *
 * @example
 * const witness = new DirectoryWitness({ dir: '/srv/witness', logs: [policy], keys: [witnessKey] });
 * const receipt = await witness.submit(note, { oldSize, proof });
 */
export class DirectoryWitness implements Witness {
  readonly name: string;
  readonly #options: DirectoryWitnessOptions;
  readonly #policies: Map<string, CheckpointPolicy>;

  constructor(options: DirectoryWitnessOptions) {
    this.#options = options;
    this.#policies = new Map(options.logs.map((p) => [p.origin, p]));
    this.name = options.name ?? options.keys?.[0]?.name ?? `dir:${options.dir}`;
  }

  async submit(signedCheckpoint: string, previous: PreviousCheckpoint | null): Promise<WitnessReceipt> {
    const origin = parseNote(signedCheckpoint).text.split('\n', 1)[0] ?? '';
    const base = join(this.#options.dir, fileStem(origin));
    await mkdir(this.#options.dir, { recursive: true });
    return this.#withLock(`${base}.lock`, async () => {
      const held = await this.#readHead(`${base}.latest`);
      const { checkpoint, advances } = decideSubmission(this.#policies, held, signedCheckpoint, previous);
      if (advances) {
        const now = (this.#options.clock?.() ?? new Date()).toISOString();
        const record = { time: now, size: checkpoint.size, note: signedCheckpoint };
        await appendFile(`${base}.history`, `${JSON.stringify(record)}\n`, { flush: true });
        await writeAtomically(`${base}.latest`, signedCheckpoint);
      }
      return {
        witness: this.name,
        size: checkpoint.size,
        cosignatures: cosign(this.#options.keys ?? [], checkpoint.text),
      };
    });
  }

  /**
   * The latest checkpoint note stored for `origin`, or null.
   *
   * @example
   * const note = await witness.latest('pgwarden.example/db1');
   */
  async latest(origin: string): Promise<string | null> {
    try {
      return await readFile(join(this.#options.dir, `${fileStem(origin)}.latest`), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async #readHead(path: string): Promise<TreeHead | null> {
    let note: string;
    try {
      note = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const { size, root } = parseCheckpoint(parseNote(note).text);
    return { size, root };
  }

  async #withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
    const timeout = this.#options.lockTimeoutMs ?? 10_000;
    const stale = this.#options.staleLockMs ?? 60_000;
    const deadline = Date.now() + timeout;
    for (let attempt = 0; ; attempt++) {
      try {
        const handle = await open(path, 'wx');
        await handle.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const age = await stat(path).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > stale) await rm(path, { force: true });
      else if (Date.now() > deadline) {
        throw new PgwardenError(ErrorCodes.AUDIT_WITNESS_FAILED, 'the witness directory is locked', {
          detail: path,
          hint: 'another submission is running; retry, or remove the lock file if its process died',
        });
      } else await sleep(Math.min(2 + attempt * 2, 25));
    }
    try {
      return await fn();
    } finally {
      await rm(path, { force: true });
    }
  }
}

/** A file name for an origin: base64url keeps any origin text to safe characters. */
function fileStem(origin: string): string {
  return Buffer.from(origin, 'utf8').toString('base64url');
}

async function writeAtomically(path: string, content: string): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', 0o644);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

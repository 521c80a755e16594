import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  addSignatureLines,
  type CheckpointPolicy,
  DirectoryWitness,
  formatAddCheckpoint,
  generateNoteKey,
  HttpWitnessClient,
  parseCheckpoint,
  parseNote,
  serveWitness,
  signCheckpoint,
  StdoutWitness,
  verifyCheckpoint,
  type Witness,
  WitnessConflictError,
} from '../../src/audit/checkpoint/index.js';
import { consistencyProof, leafHash, rootOf } from '../../src/audit/merkle/index.js';
import { ErrorCodes, PgwardenError } from '../../src/errors/index.js';
import { rejected } from '../helpers/errors.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-witness-test-'));
  dirs.push(dir);
  return dir;
}

const origin = 'pgwarden.example/prod-db-1';
const leaves = Array.from({ length: 300 }, (_, i) => leafHash(Buffer.from(`audit entry ${i}`)));
const logKey = generateNoteKey(origin, 'ed25519');
const witnessKey = generateNoteKey('witness.example/w1', 'cosignature-ed25519', {
  clock: () => new Date(1_700_000_000_000),
});
const policy: CheckpointPolicy = { origin, logKeys: [logKey.verifier] };
const sign = (size: number, over = leaves) =>
  signCheckpoint({ origin, size, root: rootOf(over.slice(0, size)) }, [logKey]);
const from = (oldSize: number, size: number) => ({
  oldSize,
  proof: oldSize === 0 ? [] : consistencyProof(leaves, oldSize, size),
});

/** Submits like a tlog-witness client: on a 409 with the held size, retries with a proof from it. */
async function submitFollowing(witness: Witness, size: number): Promise<'accepted' | 'superseded'> {
  let oldSize = 0;
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      await witness.submit(sign(size), from(oldSize, size));
      return 'accepted';
    } catch (err) {
      if (err instanceof WitnessConflictError && err.heldSize < size) oldSize = err.heldSize;
      else if (
        err instanceof WitnessConflictError ||
        (err instanceof PgwardenError && err.code === ErrorCodes.AUDIT_CHECKPOINT_ROLLBACK)
      ) {
        return 'superseded';
      } else throw err;
    }
  }
  throw new Error('no progress');
}

describe('DirectoryWitness', () => {
  it('stores the first checkpoint, cosigns it, and records history', async () => {
    const dir = await tempDir();
    const witness = new DirectoryWitness({ dir, logs: [policy], keys: [witnessKey] });
    const receipt = await witness.submit(sign(10), null);
    expect(receipt.cosignatures).toHaveLength(1);
    const cosigned = addSignatureLines(sign(10), receipt.cosignatures);
    const verified = verifyCheckpoint(cosigned, { ...policy, witnesses: [witnessKey.verifier], quorum: 1 });
    expect(verified.cosignedBy).toHaveLength(1);
    expect(await witness.latest(origin)).toBe(sign(10));
    await witness.submit(sign(15), from(10, 15));
    const history = (await readFile(join(dir, `${Buffer.from(origin).toString('base64url')}.history`), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { size: number }).size);
    expect(history).toEqual([10, 15]);
  });

  it('denies rollback, equivocation, a stale old size and a bad proof, keeping the held checkpoint [A-11]', async () => {
    const witness = new DirectoryWitness({ dir: await tempDir(), logs: [policy], keys: [witnessKey] });
    await witness.submit(sign(20), null);
    expect((await rejected(witness.submit(sign(19), from(0, 19)))).code).toBe(ErrorCodes.AUDIT_CHECKPOINT_ROLLBACK);
    const other = [...leaves.slice(0, 19), leafHash(Buffer.from('x'))];
    expect((await rejected(witness.submit(sign(20, other), from(20, 20)))).code).toBe(
      ErrorCodes.AUDIT_CHECKPOINT_EQUIVOCATION,
    );
    const stale = await rejected(witness.submit(sign(30), from(10, 30)));
    expect(stale).toBeInstanceOf(WitnessConflictError);
    expect((stale as WitnessConflictError).heldSize).toBe(20);
    const bad = { oldSize: 20, proof: consistencyProof(leaves, 21, 30) };
    expect((await rejected(witness.submit(sign(30), bad))).code).toBe(ErrorCodes.AUDIT_CONSISTENCY_PROOF);
    expect(parseCheckpoint(parseNote((await witness.latest(origin)) ?? '').text).size).toBe(20);
  });

  it('denies an unknown origin and a checkpoint without a trusted log signature', async () => {
    const witness = new DirectoryWitness({ dir: await tempDir(), logs: [policy] });
    const foreign = signCheckpoint({ origin: 'pgwarden.example/staging', size: 1, root: rootOf(leaves.slice(0, 1)) }, [
      logKey,
    ]);
    expect((await rejected(witness.submit(foreign, null))).code).toBe(ErrorCodes.AUDIT_CHECKPOINT_ORIGIN);
    const forged = signCheckpoint({ origin, size: 1, root: rootOf(leaves.slice(0, 1)) }, [
      generateNoteKey(origin, 'ed25519'),
    ]);
    expect((await rejected(witness.submit(forged, null))).code).toBe(ErrorCodes.AUDIT_NOTE_UNVERIFIED);
  });

  it('keeps N+K when submits for N and N+K race, and never moves back to N [A-17]', async () => {
    for (let round = 0; round < 8; round++) {
      const dir = await tempDir();
      // Two instances on one directory stand for two processes: only the lock file orders them.
      const a = new DirectoryWitness({ dir, logs: [policy] });
      const b = new DirectoryWitness({ dir, logs: [policy] });
      await a.submit(sign(100), null);
      const n = 150;
      const k = 30 + round * 10;
      const seen: number[] = [];
      let racing = true;
      const watch = (async () => {
        while (racing) {
          const note = await a.latest(origin);
          if (note) seen.push(parseCheckpoint(parseNote(note).text).size);
          await new Promise((r) => setImmediate(r));
        }
      })();
      const order = round % 2 === 0 ? [b, a] : [a, b];
      await Promise.all([submitFollowing(order[0] as Witness, n), submitFollowing(order[1] as Witness, n + k)]);
      racing = false;
      await watch;
      const latest = parseCheckpoint(parseNote((await a.latest(origin)) ?? '').text);
      expect(latest.size).toBe(n + k);
      const firstTop = seen.indexOf(n + k);
      if (firstTop >= 0) expect(seen.slice(firstTop).every((s) => s === n + k)).toBe(true);
      for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThanOrEqual(seen[i - 1] ?? 0);
    }
  });

  it('keeps the largest of many concurrent submits [A-17]', async () => {
    const dir = await tempDir();
    const witnesses = Array.from({ length: 4 }, () => new DirectoryWitness({ dir, logs: [policy] }));
    const sizes = [120, 180, 140, 299, 200, 160, 250];
    await Promise.all(sizes.map((size, i) => submitFollowing(witnesses[i % witnesses.length] as Witness, size)));
    expect(parseCheckpoint(parseNote((await witnesses[0]?.latest(origin)) ?? '').text).size).toBe(299);
  });
});

describe('HTTP witness', () => {
  it('answers 200 with a cosignature, 409 for equivocation and a stale size, 422 for a bad proof (real server on 127.0.0.1)', async () => {
    const served = await serveWitness(
      new DirectoryWitness({ dir: await tempDir(), logs: [policy], keys: [witnessKey] }),
      { port: 0 },
    );
    try {
      expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const client = new HttpWitnessClient({ url: served.url, name: 'witness.example/w1' });
      const receipt = await client.submit(sign(50), null);
      expect(receipt.cosignatures).toHaveLength(1);
      expect(receipt.cosignatures[0]).toMatch(/^— witness\.example\/w1 [A-Za-z0-9+/]+=*$/);
      const quorate = { ...policy, witnesses: [witnessKey.verifier], quorum: 1 };
      expect(verifyCheckpoint(addSignatureLines(sign(50), receipt.cosignatures), quorate).size).toBe(50);

      const post = (body: string) => fetch(`${served.url}/add-checkpoint`, { method: 'POST', body });
      const good = await post(formatAddCheckpoint(sign(60), from(50, 60)));
      expect(good.status).toBe(200);
      expect(await good.text()).toMatch(/^— witness\.example\/w1 \S+\n$/);

      const stale = await post(formatAddCheckpoint(sign(70), from(50, 70)));
      expect(stale.status).toBe(409);
      expect(stale.headers.get('content-type')).toBe('text/x.tlog.size');
      expect(await stale.text()).toBe('60\n');

      const forked = [...leaves.slice(0, 59), leafHash(Buffer.from('x'))];
      const equivocation = await post(formatAddCheckpoint(sign(60, forked), from(60, 60)));
      expect(equivocation.status).toBe(409);
      expect(((await equivocation.json()) as { code: string }).code).toBe(ErrorCodes.AUDIT_CHECKPOINT_EQUIVOCATION);

      const badProof = await post(
        formatAddCheckpoint(sign(70), { oldSize: 60, proof: consistencyProof(leaves, 61, 70) }),
      );
      expect(badProof.status).toBe(422);
      expect((await post('old 0\n\nnot a note')).status).toBe(400);
      expect((await post(formatAddCheckpoint(sign(70), { oldSize: 80, proof: [] }))).status).toBe(400);
      const unknown = signCheckpoint({ origin: 'pgwarden.example/other', size: 1, root: rootOf(leaves.slice(0, 1)) }, [
        logKey,
      ]);
      expect((await post(formatAddCheckpoint(unknown, null))).status).toBe(404);
      expect((await fetch(`${served.url}/add-checkpoint`)).status).toBe(405);

      // The client maps answers back to pgwarden errors.
      const conflict = await rejected(client.submit(sign(70), from(50, 70)));
      expect(conflict).toBeInstanceOf(WitnessConflictError);
      expect((conflict as WitnessConflictError).heldSize).toBe(60);
      expect((await rejected(client.submit(sign(55), from(50, 55)))).code).toBe(ErrorCodes.AUDIT_CHECKPOINT_ROLLBACK);
      expect((await rejected(client.submit(sign(70), { oldSize: 60, proof: [] }))).code).toBe(
        ErrorCodes.AUDIT_CONSISTENCY_PROOF,
      );
      expect((await client.submit(sign(70), from(60, 70))).size).toBe(70);
    } finally {
      await served.close();
    }
  });

  it('reports an unreachable witness as AUDIT_WITNESS_FAILED', async () => {
    const served = await serveWitness(new StdoutWitness({ out: { write: () => true } }));
    const url = served.url;
    await served.close();
    const err = await rejected(new HttpWitnessClient({ url, timeoutMs: 2000 }).submit(sign(1), null));
    expect(err.code).toBe(ErrorCodes.AUDIT_WITNESS_FAILED);
  });
});

describe('StdoutWitness', () => {
  it('prints the signed note and cosigns nothing', async () => {
    const out: string[] = [];
    const witness = new StdoutWitness({ out: { write: (text: string) => out.push(text) } });
    const receipt = await witness.submit(sign(3), null);
    expect(out.join('')).toBe(sign(3));
    expect(receipt).toEqual({ witness: 'stdout', size: 3, cosignatures: [] });
  });
});

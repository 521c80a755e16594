import { describe, expect, it } from 'vitest';
import {
  addSignatureLines,
  appendKeyChanges,
  type CheckpointPolicy,
  CheckpointVerifier,
  cosign,
  EMPTY_TREE_ROOT,
  formatCheckpoint,
  generateNoteKey,
  keyIdHex,
  openKeyHistory,
  parseCheckpoint,
  signCheckpoint,
  signNote,
  verifyCheckpoint,
} from '../../src/audit/checkpoint/index.js';
import { consistencyProof, leafHash, rootOf } from '../../src/audit/merkle/index.js';
import { ErrorCodes } from '../../src/errors/index.js';
import { caught } from '../helpers/errors.js';

const origin = 'pgwarden.example/prod-db-1';
const leaves = Array.from({ length: 40 }, (_, i) => leafHash(Buffer.from(`audit entry ${i}`)));
const head = (size: number) => ({ size, root: rootOf(leaves.slice(0, size)) });

const ed = generateNoteKey(origin, 'ed25519');
const pq = generateNoteKey(origin, 'ml-dsa-65');
const witnessKey = generateNoteKey('witness.example/w1', 'cosignature-ed25519');
const policy: CheckpointPolicy = { origin, logKeys: [ed.verifier] };
const sign = (size: number, signers = [ed]) => signCheckpoint({ origin, ...head(size) }, signers);

describe('checkpoint body (c2sp.org/tlog-checkpoint)', () => {
  it('formats origin, decimal size and base64 root, and parses it back', () => {
    const text = formatCheckpoint({ origin, size: 0, root: EMPTY_TREE_ROOT, extensions: ['ext line'] });
    expect(text).toBe(`${origin}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next line\n`);
    expect(parseCheckpoint(text)).toEqual({ origin, size: 0, root: EMPTY_TREE_ROOT, extensions: ['ext line'] });
  });

  it('denies leading zeros, short roots, empty extension lines and a missing final newline', () => {
    const root = Buffer.from(head(3).root).toString('base64');
    for (const text of [
      `${origin}\n03\n${root}\n`,
      `${origin}\n3\nAAAA\n`,
      `${origin}\n3\n${root}\n\n`,
      `${origin}\n3\n${root}`,
      `\n3\n${root}\n`,
    ]) {
      expect(caught(() => parseCheckpoint(text)).code).toBe(ErrorCodes.AUDIT_CHECKPOINT_MALFORMED);
    }
  });
});

describe('CheckpointVerifier', () => {
  it('allows a first checkpoint and then consistent growth', () => {
    const verifier = new CheckpointVerifier(policy);
    expect(verifier.verify(sign(5), null).size).toBe(5);
    expect(verifier.verify(sign(12), consistencyProof(leaves, 5, 12)).size).toBe(12);
    expect(verifier.verify(sign(12), null).size).toBe(12); // same head again
    expect(verifier.trusted?.size).toBe(12);
  });

  it('denies a validly signed smaller checkpoint as rollback [A-11]', () => {
    const verifier = new CheckpointVerifier(policy, head(20));
    expect(caught(() => verifier.verify(sign(19), null)).code).toBe(ErrorCodes.AUDIT_CHECKPOINT_ROLLBACK);
    expect(verifier.trusted?.size).toBe(20);
  });

  it('denies a validly signed same-size checkpoint with another root as equivocation [A-11]', () => {
    const verifier = new CheckpointVerifier(policy, head(20));
    const forked = signCheckpoint(
      { origin, size: 20, root: rootOf([...leaves.slice(0, 19), leafHash(Buffer.from('x'))]) },
      [ed],
    );
    expect(caught(() => verifier.verify(forked, null)).code).toBe(ErrorCodes.AUDIT_CHECKPOINT_EQUIVOCATION);
  });

  it('denies a larger checkpoint with a bad or missing consistency proof [A-11]', () => {
    const verifier = new CheckpointVerifier(policy, head(20));
    const good = consistencyProof(leaves, 20, 30);
    const flipped = good.map((h, i) => (i === 0 ? Uint8Array.from(h, (b, j) => (j === 0 ? b ^ 1 : b)) : h));
    for (const proof of [null, [], flipped, good.slice(1), consistencyProof(leaves, 21, 30)]) {
      expect(caught(() => verifier.verify(sign(30), proof)).code).toBe(ErrorCodes.AUDIT_CONSISTENCY_PROOF);
    }
    // A fork: size 30 over different leaves with a proof from its own history.
    const other = [...leaves.slice(0, 10), ...leaves.slice(10, 30).map((_, i) => leafHash(Buffer.from(`forged ${i}`)))];
    const forged = signCheckpoint({ origin, size: 30, root: rootOf(other) }, [ed]);
    expect(caught(() => verifier.verify(forged, consistencyProof(other, 20, 30))).code).toBe(
      ErrorCodes.AUDIT_CONSISTENCY_PROOF,
    );
    expect(verifier.verify(sign(30), good).size).toBe(30);
  });

  it('denies a checkpoint signed with the wrong key [A-15]', () => {
    const impostor = generateNoteKey(origin, 'ed25519'); // same name, other key: another key id
    expect(caught(() => verifyCheckpoint(sign(5, [impostor]), policy)).code).toBe(ErrorCodes.AUDIT_NOTE_UNVERIFIED);
    // Same name and key id as the trusted key, but signed by another key: the whole note is refused.
    const note = sign(5, [impostor]).replace(/— (\S+) (\S+)\n$/, (_m, name: string, sig: string) => {
      const bytes = Buffer.from(sig, 'base64');
      bytes.writeUInt32BE(ed.keyId, 0);
      return `— ${name} ${bytes.toString('base64')}\n`;
    });
    expect(caught(() => verifyCheckpoint(note, policy)).code).toBe(ErrorCodes.AUDIT_NOTE_UNVERIFIED);
  });

  it('denies a checkpoint whose only signature has an unknown key id [A-15]', () => {
    const stranger = generateNoteKey('pgwarden.example/unknown', 'ed25519');
    const err = caught(() => verifyCheckpoint(sign(5, [stranger]), policy));
    expect(err.code).toBe(ErrorCodes.AUDIT_NOTE_UNVERIFIED);
    expect(err.detail).toContain(keyIdHex(stranger.keyId));
  });

  it('denies a checkpoint whose origin names another database or environment [A-15]', () => {
    const staging = 'pgwarden.example/staging-db-1';
    // Signed by the very same key: a staging checkpoint replayed as prod.
    const replayed = signCheckpoint({ origin: staging, ...head(5) }, [ed]);
    expect(caught(() => verifyCheckpoint(replayed, policy)).code).toBe(ErrorCodes.AUDIT_CHECKPOINT_ORIGIN);
    expect(caught(() => new CheckpointVerifier(policy).verify(replayed, null)).code).toBe(
      ErrorCodes.AUDIT_CHECKPOINT_ORIGIN,
    );
  });

  it('denies a note signed only by a witness, with no log signature', () => {
    const text = formatCheckpoint({ origin, ...head(5) });
    const note = signNote(text, [witnessKey]);
    const err = caught(() => verifyCheckpoint(note, { ...policy, witnesses: [witnessKey.verifier] }));
    expect(err.code).toBe(ErrorCodes.AUDIT_NOTE_UNVERIFIED);
  });
});

describe('hybrid policy', () => {
  const hybrid: CheckpointPolicy = { origin, logKeys: [ed.verifier, pq.verifier], require: ['ed25519', 'ml-dsa-65'] };

  it('allows a checkpoint signed with both Ed25519 and ML-DSA-65', () => {
    const checkpoint = verifyCheckpoint(sign(7, [ed, pq]), hybrid);
    expect(checkpoint.signedBy.map((v) => v.algorithm).sort()).toEqual(['ed25519', 'ml-dsa-65']);
  });

  it('denies an Ed25519-only checkpoint when ML-DSA-65 is required', () => {
    const err = caught(() => verifyCheckpoint(sign(7, [ed]), hybrid));
    expect(err.code).toBe(ErrorCodes.AUDIT_NOTE_UNVERIFIED);
    expect(err.detail).toContain('ml-dsa-65');
  });

  it('denies an ML-DSA-65-only checkpoint when Ed25519 is required', () => {
    const err = caught(() => verifyCheckpoint(sign(7, [pq]), hybrid));
    expect(err.code).toBe(ErrorCodes.AUDIT_NOTE_UNVERIFIED);
    expect(err.detail).toContain('ed25519');
  });

  it('denies a hybrid checkpoint whose ML-DSA-65 signature is from an unknown key', () => {
    const otherPq = generateNoteKey(origin, 'ml-dsa-65');
    expect(caught(() => verifyCheckpoint(sign(7, [ed, otherPq]), hybrid)).code).toBe(ErrorCodes.AUDIT_NOTE_UNVERIFIED);
  });
});

describe('key rotation and witness quorum', () => {
  const root = generateNoteKey('pgwarden.example/key-history', 'ed25519');
  const oldKey = generateNoteKey(origin, 'ed25519');
  const newKey = generateNoteKey(origin, 'ed25519');
  const v1 = appendKeyChanges(null, origin, [{ action: 'add', size: 0, vkey: oldKey.vkey }], [root]);
  const v2 = appendKeyChanges(
    v1,
    origin,
    [
      { action: 'revoke', size: 20, key: `${oldKey.name}+${keyIdHex(oldKey.keyId)}` },
      { action: 'add', size: 20, vkey: newKey.vkey },
    ],
    [root],
  );

  it('denies a checkpoint signed with the revoked key after rotation; older ones still verify [A-16]', () => {
    const history = openKeyHistory(v2.note, [root.verifier], origin, openKeyHistory(v1.note, [root.verifier], origin));
    const rotated: CheckpointPolicy = { origin, logKeys: history };
    // Before the rotation point, signed with the old key: still valid.
    expect(verifyCheckpoint(sign(10, [oldKey]), rotated).size).toBe(10);
    expect(verifyCheckpoint(sign(19, [oldKey]), rotated).size).toBe(19);
    // At and after the rotation point, the stolen old key no longer counts.
    const err = caught(() => verifyCheckpoint(sign(25, [oldKey]), rotated));
    expect(err.code).toBe(ErrorCodes.AUDIT_KEY_HISTORY);
    expect(err.detail).toContain(keyIdHex(oldKey.keyId));
    expect(verifyCheckpoint(sign(25, [newKey]), rotated).size).toBe(25);
    // The new key cannot vouch for the time before it was added.
    expect(caught(() => verifyCheckpoint(sign(10, [newKey]), rotated)).code).toBe(ErrorCodes.AUDIT_KEY_HISTORY);
  });

  it('denies a key history that rewrites an earlier change or is not signed by the history key [A-16]', () => {
    const rewritten = appendKeyChanges(null, origin, [{ action: 'add', size: 0, vkey: newKey.vkey }], [root]);
    expect(caught(() => openKeyHistory(rewritten.note, [root.verifier], origin, v2)).code).toBe(
      ErrorCodes.AUDIT_KEY_HISTORY,
    );
    // The stolen log key cannot publish a history that un-revokes itself.
    const byLogKey = appendKeyChanges(null, origin, [{ action: 'add', size: 0, vkey: oldKey.vkey }], [oldKey]);
    expect(caught(() => openKeyHistory(byLogKey.note, [root.verifier], origin)).code).toBe(
      ErrorCodes.AUDIT_NOTE_UNVERIFIED,
    );
    // Revoking a key that was never added is refused.
    const bogus = [{ action: 'revoke', size: 1, key: `${newKey.name}+${keyIdHex(newKey.keyId)}` }] as const;
    expect(caught(() => appendKeyChanges(v1, origin, bogus, [root])).code).toBe(ErrorCodes.AUDIT_KEY_HISTORY);
  });

  it('denies a checkpoint forged with the log key but lacking the witness cosignature when quorum ≥ 1 [A-16]', () => {
    const quorate: CheckpointPolicy = { ...policy, witnesses: [witnessKey.verifier], quorum: 1 };
    const forged = sign(8);
    const err = caught(() => verifyCheckpoint(forged, quorate));
    expect(err.code).toBe(ErrorCodes.AUDIT_WITNESS_QUORUM);
    // A cosignature from an unknown witness does not count either.
    const rogue = generateNoteKey('witness.example/rogue', 'cosignature-ed25519');
    const rogueNote = addSignatureLines(forged, cosign([rogue], formatCheckpoint({ origin, ...head(8) })));
    expect(caught(() => verifyCheckpoint(rogueNote, quorate)).code).toBe(ErrorCodes.AUDIT_WITNESS_QUORUM);
    // With the trusted witness's cosignature, it verifies.
    const cosigned = addSignatureLines(forged, cosign([witnessKey], formatCheckpoint({ origin, ...head(8) })));
    const checkpoint = verifyCheckpoint(cosigned, quorate);
    expect(checkpoint.cosignedBy.map((v) => v.name)).toEqual(['witness.example/w1']);
  });

  it('denies a cosignature moved onto another checkpoint', () => {
    const quorate: CheckpointPolicy = { ...policy, witnesses: [witnessKey.verifier], quorum: 1 };
    const lines = cosign([witnessKey], formatCheckpoint({ origin, ...head(8) }));
    const moved = addSignatureLines(sign(9), lines);
    expect(caught(() => verifyCheckpoint(moved, quorate)).code).toBe(ErrorCodes.AUDIT_NOTE_UNVERIFIED);
  });
});

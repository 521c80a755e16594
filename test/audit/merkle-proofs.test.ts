import { describe, expect, it } from 'vitest';
import {
  CompactRange,
  consistencyProof,
  consistencyProofFrom,
  emptyRoot,
  inclusionProof,
  leafHash,
  nodeHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from '../../src/audit/merkle/index.js';

/**
 * Every valid proof up to this size is checked, and put through the corruption probes of
 * transparency-dev/merkle (corruptInclusionProof / corruptConsistencyProof) plus a few more.
 */
const MAX_SIZE = 64;
const leaves = Array.from({ length: MAX_SIZE }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
const roots = [emptyRoot(), ...leaves.map((_, i) => rootOf(leaves.slice(0, i + 1)))];
const rootAt = (size: number): Uint8Array => roots[size] as Uint8Array;

const someHash = new Uint8Array(Buffer.from('abacaba000000000000000000000000000000000000000000060061e00123456', 'hex'));
const zeroHash = new Uint8Array(32);
const shortGarbage = new Uint8Array(Buffer.from('WrongLeaf'));

function flipBit(hash: Uint8Array, bit: number): Uint8Array {
  const copy = Uint8Array.from(hash);
  copy[0] = (copy[0] as number) ^ (1 << bit);
  return copy;
}

interface InclusionClaim {
  desc: string;
  index: number;
  size: number;
  leaf: Uint8Array;
  proof: Uint8Array[];
  root: Uint8Array;
}

/** Corruptions of a valid inclusion claim; every one must be rejected. */
function corruptInclusion(good: InclusionClaim): InclusionClaim[] {
  const { index, size, leaf, proof, root } = good;
  const out: InclusionClaim[] = [];
  const add = (desc: string, change: Partial<InclusionClaim>): void => {
    out.push({ ...good, desc, ...change });
  };
  add('index - 1', { index: index - 1 });
  add('index + 1', { index: index + 1 });
  add('index ^ 2', { index: index ^ 2 });
  add('size * 2', { size: size * 2 });
  add('size / 2', { size: Math.floor(size / 2) });
  add('size = index', { size: index });
  add('wrong leaf (9 bytes)', { leaf: shortGarbage });
  add('wrong leaf (another hash)', { leaf: someHash });
  add('leaf hash bit flipped', { leaf: flipBit(leaf, 0) });
  add('empty-tree root', { root: emptyRoot() });
  add('random root', { root: someHash });
  add('root bit flipped', { root: flipBit(root, 7) });
  add('trailing garbage', { proof: [...proof, new Uint8Array()] });
  add('trailing zero hash', { proof: [...proof, zeroHash] });
  add('trailing random hash', { proof: [...proof, someHash] });
  add('trailing root', { proof: [...proof, root] });
  add('preceding garbage', { proof: [new Uint8Array(), ...proof] });
  add('preceding zero hash', { proof: [zeroHash, ...proof] });
  add('preceding random hash', { proof: [someHash, ...proof] });
  add('preceding root', { proof: [root, ...proof] });
  add('leaf as its own sibling', { proof: [leaf, ...proof] });
  proof.forEach((_, i) => {
    add(`proof[${i}] bit 3 flipped`, { proof: proof.map((h, j) => (j === i ? flipBit(h, 3) : h)) });
    add(`proof[${i}] removed`, { proof: proof.filter((_h, j) => j !== i) });
    add(`proof[${i}] is 31 bytes`, { proof: proof.map((h, j) => (j === i ? h.subarray(1) : h)) });
  });
  if (proof.length > 0) add('last component removed', { proof: proof.slice(0, -1) });
  if (proof.length > 1) {
    add('component inserted', { proof: [proof[0] as Uint8Array, someHash, ...proof.slice(1)] });
    for (let i = 0; i + 1 < proof.length; i++) {
      const swapped = [...proof];
      [swapped[i], swapped[i + 1]] = [swapped[i + 1] as Uint8Array, swapped[i] as Uint8Array];
      add(`proof[${i}] and proof[${i + 1}] swapped`, { proof: swapped });
    }
  }
  // As for consistency, a proof does not bind the tree size by itself (the signed tree head does),
  // so a size ± 1 is probed with that size's real root: refused unless it is that size's proof too.
  for (const other of [size - 1, size + 1]) {
    if (other <= index || other > MAX_SIZE) continue;
    if (sameProof(inclusionProof(leaves.slice(0, other), index), proof)) continue;
    add(`real root of size ${other}`, { size: other, root: rootAt(other) });
  }
  return out;
}

function sameProof(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  return a.length === b.length && a.every((h, i) => Buffer.from(h).equals(b[i] as Uint8Array));
}

function accepted(c: InclusionClaim): boolean {
  return verifyInclusion(c.index, c.size, c.leaf, c.proof, c.root);
}

describe('verifyInclusion', () => {
  it(`allows every valid proof for every (index, size) up to size ${MAX_SIZE} [A-13]`, () => {
    let checked = 0;
    for (let size = 1; size <= MAX_SIZE; size++) {
      for (let index = 0; index < size; index++) {
        const proof = inclusionProof(leaves.slice(0, size), index);
        expect(verifyInclusion(index, size, leaves[index] as Uint8Array, proof, rootAt(size))).toBe(true);
        checked++;
      }
    }
    expect(checked).toBe((MAX_SIZE * (MAX_SIZE + 1)) / 2);
  });

  it(`denies every corruption of every valid proof up to size ${MAX_SIZE} [A-13]`, () => {
    const wrong: string[] = [];
    let probes = 0;
    for (let size = 1; size <= MAX_SIZE; size++) {
      for (let index = 0; index < size; index++) {
        const good: InclusionClaim = {
          desc: 'valid',
          index,
          size,
          leaf: leaves[index] as Uint8Array,
          proof: inclusionProof(leaves.slice(0, size), index),
          root: rootAt(size),
        };
        for (const probe of corruptInclusion(good)) {
          probes++;
          if (accepted(probe)) wrong.push(`${index}/${size}: ${probe.desc}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(probes).toBeGreaterThan(50_000);
  });

  it.each([
    [0, 0],
    [0, 1],
    [1, 0],
    [2, 1],
  ])('denies the edge case index %i, size %i with an empty proof and a bad root or leaf [A-13]', (index, size) => {
    expect(verifyInclusion(index, size, someHash, [], new Uint8Array())).toBe(false);
    expect(verifyInclusion(index, size, new Uint8Array(), [], emptyRoot())).toBe(false);
    expect(verifyInclusion(index, size, someHash, [], emptyRoot())).toBe(false);
  });

  it('allows a single-entry tree whose root is its leaf, and denies empty or short hashes [A-13]', () => {
    const hash = leafHash(Buffer.from('data'));
    expect(verifyInclusion(0, 1, hash, [], hash)).toBe(true);
    expect(verifyInclusion(0, 1, new Uint8Array(), [], hash)).toBe(false);
    expect(verifyInclusion(0, 1, hash, [], new Uint8Array())).toBe(false);
    expect(verifyInclusion(0, 1, new Uint8Array(), [], new Uint8Array())).toBe(false);
  });

  it('denies sizes and indexes that are not non-negative safe integers [A-13]', () => {
    const leaf = leaves[0] as Uint8Array;
    for (const bad of [NaN, Infinity, -1, 0.5, 2 ** 53]) {
      expect(verifyInclusion(bad, 1, leaf, [], leaf)).toBe(false);
      expect(verifyInclusion(0, bad, leaf, [], leaf)).toBe(false);
    }
  });

  it('verifies proofs in trees larger than 2^32 leaves (arithmetic, not 32-bit shifts)', () => {
    // Index 2^32 of a tree of 2^32 + 1 leaves: its only sibling is the root of the first 2^32 leaves.
    const left = someHash;
    const leaf = leaves[0] as Uint8Array;
    expect(verifyInclusion(2 ** 32, 2 ** 32 + 1, leaf, [left], nodeHash(left, leaf))).toBe(true);
    expect(verifyInclusion(2 ** 32, 2 ** 32 + 1, leaf, [left], nodeHash(leaf, left))).toBe(false);
    expect(verifyInclusion(2 ** 32 - 1, 2 ** 32 + 1, leaf, [left], nodeHash(left, leaf))).toBe(false);
  });
});

interface ConsistencyClaim {
  desc: string;
  oldSize: number;
  newSize: number;
  oldRoot: Uint8Array;
  newRoot: Uint8Array;
  proof: Uint8Array[];
}

/**
 * Corruptions of a valid consistency claim with 0 < old < new; every one must be rejected. Like
 * transparency-dev, the new size is only moved by ×2 and /2 with the roots kept: a proof does not
 * bind the new size by itself (n and n ± 1 often share a right border), the signed tree head does.
 * Neighbouring sizes are probed with their real roots instead.
 */
function corruptConsistency(good: ConsistencyClaim): ConsistencyClaim[] {
  const { oldSize, newSize, oldRoot, newRoot, proof } = good;
  const out: ConsistencyClaim[] = [];
  const add = (desc: string, change: Partial<ConsistencyClaim>): void => {
    out.push({ ...good, desc, ...change });
  };
  add('old size - 1', { oldSize: oldSize - 1 });
  add('old size + 1', { oldSize: oldSize + 1 });
  add('old size ^ 2', { oldSize: oldSize ^ 2 });
  add('new size * 2', { newSize: newSize * 2 });
  add('new size / 2', { newSize: Math.floor(newSize / 2) });
  add('wrong old root (9 bytes)', { oldRoot: shortGarbage });
  add('wrong new root (9 bytes)', { newRoot: shortGarbage });
  add('random old root', { oldRoot: someHash });
  add('random new root', { newRoot: someHash });
  add('old root bit flipped', { oldRoot: flipBit(oldRoot, 0) });
  add('new root bit flipped', { newRoot: flipBit(newRoot, 0) });
  add('swapped roots', { oldRoot: newRoot, newRoot: oldRoot });
  add('empty proof', { proof: [] });
  add('trailing garbage', { proof: [...proof, new Uint8Array()] });
  add('trailing zero hash', { proof: [...proof, zeroHash] });
  add('trailing old root', { proof: [...proof, oldRoot] });
  add('trailing new root', { proof: [...proof, newRoot] });
  add('preceding garbage', { proof: [new Uint8Array(), ...proof] });
  add('preceding random hash', { proof: [someHash, ...proof] });
  add('preceding old root', { proof: [oldRoot, ...proof] });
  add('preceding new root', { proof: [newRoot, ...proof] });
  add('preceding proof[0]', { proof: [proof[0] as Uint8Array, ...proof] });
  add('truncated proof', { proof: proof.slice(0, -1) });
  add('first component removed', { proof: proof.slice(1) });
  proof.forEach((_, i) => {
    add(`proof[${i}] bit 4 flipped`, { proof: proof.map((h, j) => (j === i ? flipBit(h, 4) : h)) });
    add(`proof[${i}] is 33 bytes`, {
      proof: proof.map((h, j) => (j === i ? Uint8Array.from([...h, 0]) : h)),
    });
  });
  for (let i = 0; i + 1 < proof.length; i++) {
    const swapped = [...proof];
    [swapped[i], swapped[i + 1]] = [swapped[i + 1] as Uint8Array, swapped[i] as Uint8Array];
    add(`proof[${i}] and proof[${i + 1}] swapped`, { proof: swapped });
  }
  // The same proof against the real roots of neighbouring sizes (a log lying about its size).
  for (const [o, n] of [
    [oldSize - 1, newSize],
    [oldSize + 1, newSize],
    [oldSize, newSize - 1],
    [oldSize, newSize + 1],
  ] as const) {
    if (o < 1 || o >= n || n > MAX_SIZE) continue;
    if (sameProof(consistencyProof(leaves, o, n), proof)) continue;
    add(`real roots of sizes ${o} → ${n}`, { oldSize: o, newSize: n, oldRoot: rootAt(o), newRoot: rootAt(n) });
  }
  return out;
}

function consistent(c: ConsistencyClaim): boolean {
  return verifyConsistency(c.oldSize, c.newSize, c.oldRoot, c.newRoot, c.proof);
}

describe('verifyConsistency', () => {
  it(`allows every valid proof for every (old, new) up to ${MAX_SIZE} [A-12]`, () => {
    let checked = 0;
    for (let newSize = 1; newSize <= MAX_SIZE; newSize++) {
      for (let oldSize = 1; oldSize <= newSize; oldSize++) {
        const proof = consistencyProof(leaves, oldSize, newSize);
        expect(verifyConsistency(oldSize, newSize, rootAt(oldSize), rootAt(newSize), proof)).toBe(true);
        checked++;
      }
    }
    expect(checked).toBe((MAX_SIZE * (MAX_SIZE + 1)) / 2);
  });

  it(`denies every corruption of every valid proof up to ${MAX_SIZE} [A-12]`, () => {
    const wrong: string[] = [];
    let probes = 0;
    for (let newSize = 2; newSize <= MAX_SIZE; newSize++) {
      for (let oldSize = 1; oldSize < newSize; oldSize++) {
        const good: ConsistencyClaim = {
          desc: 'valid',
          oldSize,
          newSize,
          oldRoot: rootAt(oldSize),
          newRoot: rootAt(newSize),
          proof: consistencyProof(leaves, oldSize, newSize),
        };
        for (const probe of corruptConsistency(good)) {
          probes++;
          if (consistent(probe)) wrong.push(`${oldSize}→${newSize}: ${probe.desc}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(probes).toBeGreaterThan(50_000);
  });

  it('denies a proof between two trees that do not share a prefix [A-12]', () => {
    const forked = [...leaves.slice(0, 5), leafHash(Buffer.from('rewritten')), ...leaves.slice(6, 10)];
    const proof = consistencyProof(forked, 7, 10);
    expect(verifyConsistency(7, 10, rootOf(forked.slice(0, 7)), rootOf(forked), proof)).toBe(true);
    expect(verifyConsistency(7, 10, rootAt(7), rootOf(forked), proof)).toBe(false);
    expect(verifyConsistency(7, 10, rootAt(7), rootAt(10), proof)).toBe(false);
  });

  const root1 = someHash;
  const root2 = leafHash(Buffer.from("don't care 2"));
  it.each([
    ['equal sizes (0) and roots: no proof from the empty tree', 0, 0, emptyRoot(), emptyRoot(), [], false],
    ['equal sizes (0), roots differ', 0, 0, root1, root2, [], false],
    ['equal sizes (0), proof not empty', 0, 0, emptyRoot(), emptyRoot(), [emptyRoot()], false],
    ['size 0 → 1, empty proof', 0, 1, emptyRoot(), root2, [], false],
    ['size 0 → 1, a proof of the empty root', 0, 1, emptyRoot(), emptyRoot(), [emptyRoot()], false],
    ['equal sizes (1) and roots, empty proof', 1, 1, root2, root2, [], true],
    ['equal sizes (1), roots differ', 1, 1, root1, root2, [], false],
    ['equal sizes (1) and roots, proof not empty', 1, 1, root2, root2, [root2], false],
    ['equal sizes (1) and roots, roots not 32 bytes', 1, 1, shortGarbage, shortGarbage, [], false],
    ['time travel 1 → 0', 1, 0, root1, root2, [], false],
    ['time travel 2 → 1', 2, 1, root1, root2, [], false],
    ['time travel with a proof', 8, 6, rootAt(8), rootAt(6), consistencyProof(leaves, 6, 8), false],
    ['sizes differ, empty proof', 1, 2, root1, root2, [], false],
  ] as const)('edge case: %s [A-12]', (_desc, oldSize, newSize, oldRoot, newRoot, proof, expected) => {
    expect(verifyConsistency(oldSize, newSize, oldRoot, newRoot, [...proof])).toBe(expected);
  });

  it('denies sizes that are not non-negative safe integers [A-12]', () => {
    const proof = consistencyProof(leaves, 3, 5);
    for (const bad of [NaN, Infinity, -3, 3.5, 2 ** 53]) {
      expect(verifyConsistency(bad, 5, rootAt(3), rootAt(5), proof)).toBe(false);
      expect(verifyConsistency(3, bad, rootAt(3), rootAt(5), proof)).toBe(false);
    }
  });
});

describe('consistency proofs from a compact range', () => {
  it('equal the proofs computed from all leaves, for every old and new size up to 40', () => {
    const leaves = Array.from({ length: 40 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
    for (let m = 1; m <= 40; m++) {
      const range = new CompactRange();
      range.appendMany(leaves.slice(0, m));
      for (let n = m; n <= 40; n++) {
        const fromRange = consistencyProofFrom({ size: range.size, hashes: range.hashes }, leaves.slice(m, n));
        expect(fromRange.map((h) => Buffer.from(h).toString('hex'))).toEqual(
          consistencyProof(leaves, m, n).map((h) => Buffer.from(h).toString('hex')),
        );
      }
    }
  });
});

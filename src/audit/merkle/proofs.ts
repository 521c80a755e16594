import { hashesEqual, isHash, nodeHash } from './hash.js';

/**
 * Checks an inclusion proof with the RFC 9162 §2.1.3.2 algorithm: `leafHash` is the leaf at
 * `index` in the tree of `treeSize` leaves whose root is `root`. Never throws: a size or index
 * that is not a safe integer, `index ≥ treeSize`, a hash that is not 32 bytes, and a proof with a
 * node too many or too few all give false.
 *
 * @example
 * if (!verifyInclusion(5, head.size, leafHash(entry), decodeProof(body.proof), head.root)) {
 *   throw tampered();
 * }
 */
export function verifyInclusion(
  index: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isSize(index) || !isSize(treeSize) || index >= treeSize) return false;
  if (!isHash(leafHash) || !isHash(root) || !isProof(proof)) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of proof) {
    // More nodes than levels between the leaf and the root.
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      // A right-border node: climb past the levels where it has no right sibling.
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  // sn must have reached 0: a proof with a node too few stops below the root.
  return sn === 0 && hashesEqual(r, root);
}

/**
 * Checks a consistency proof with the RFC 9162 §2.1.4.2 algorithm: the tree of `oldSize` leaves
 * with root `oldRoot` is a prefix of the tree of `newSize` leaves with root `newRoot`.
 *
 * Edge cases: equal sizes need an empty proof and equal roots; `oldSize` 0 is refused (the RFC
 * defines proofs for 0 < old only, and the empty tree proves nothing: treat a first tree head as
 * trusted on first use instead); `oldSize > newSize` ("time travel") is refused. Never throws.
 *
 * @example
 * if (!verifyConsistency(last.size, head.size, last.root, head.root, decodeProof(body.proof))) {
 *   throw forked(); // the log rewrote history
 * }
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!isSize(oldSize) || !isSize(newSize) || oldSize < 1 || oldSize > newSize) return false;
  if (!isHash(oldRoot) || !isHash(newRoot) || !isProof(proof)) return false;
  if (oldSize === newSize) return proof.length === 0 && hashesEqual(oldRoot, newRoot);
  if (proof.length === 0) return false;

  // When the old tree is a perfect subtree of the new one, its root is the proof's implicit seed.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (fn % 2 === 1) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0] as Uint8Array;
  let sr = fr;
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Uint8Array;
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && hashesEqual(fr, oldRoot) && hashesEqual(sr, newRoot);
}

function isSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function isProof(proof: readonly Uint8Array[]): boolean {
  return Array.isArray(proof) && proof.every(isHash);
}

function isPowerOfTwo(n: number): boolean {
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

/** Right shift by one, in arithmetic so sizes above 2^32 stay exact. */
function half(n: number): number {
  return Math.floor(n / 2);
}

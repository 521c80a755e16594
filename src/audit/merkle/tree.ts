import { emptyRoot, isHash, merkleError, nodeHash } from './hash.js';

/**
 * RFC 6962 MTH over leaf hashes: split at the largest power of two smaller than n, hash the two
 * halves' roots with `nodeHash`. The empty list gives `emptyRoot()`.
 *
 * @example
 * const root = rootOf(entries.map((e) => leafHash(e)));
 */
export function rootOf(leafHashes: readonly Uint8Array[]): Uint8Array {
  checkLeaves(leafHashes);
  if (leafHashes.length === 0) return emptyRoot();
  return subtreeRoot(leafHashes, 0, leafHashes.length);
}

/**
 * The RFC 6962 audit path (PATH(m, D[n])) for the leaf at `index` in the tree of all
 * `leafHashes`: sibling hashes from the leaf up to the root. Verify with `verifyInclusion`.
 *
 * @example
 * const proof = inclusionProof(hashes, 5);
 * verifyInclusion(5, hashes.length, hashes[5], proof, rootOf(hashes)); // true
 */
export function inclusionProof(leafHashes: readonly Uint8Array[], index: number): Uint8Array[] {
  checkLeaves(leafHashes);
  if (!Number.isSafeInteger(index) || index < 0 || index >= leafHashes.length) {
    throw merkleError('inclusion proof index is outside the tree', `index ${index}, tree size ${leafHashes.length}`);
  }
  const proof: Uint8Array[] = [];
  path(leafHashes, index, 0, leafHashes.length, proof);
  return proof;
}

/**
 * The RFC 6962 consistency proof (PROOF(m, D[n])) that the tree of the first `oldSize` leaves is
 * a prefix of the tree of the first `newSize`. Empty when the sizes are equal. There is no proof
 * from the empty tree (RFC 9162 §2.1.4 needs 0 < m): every tree extends it, so `oldSize` 0 throws.
 *
 * @example
 * const proof = consistencyProof(hashes, 6, 8);
 * verifyConsistency(6, 8, rootOf(hashes.slice(0, 6)), rootOf(hashes.slice(0, 8)), proof); // true
 */
export function consistencyProof(leafHashes: readonly Uint8Array[], oldSize: number, newSize: number): Uint8Array[] {
  checkLeaves(leafHashes);
  if (!Number.isSafeInteger(newSize) || newSize < 0 || newSize > leafHashes.length) {
    throw merkleError('consistency proof size is outside the tree', `new size ${newSize}, ${leafHashes.length} leaves`);
  }
  if (!Number.isSafeInteger(oldSize) || oldSize < 1 || oldSize > newSize) {
    throw merkleError('consistency proof needs 0 < old size ≤ new size', `old size ${oldSize}, new size ${newSize}`);
  }
  const proof: Uint8Array[] = [];
  subproof(leafHashes, oldSize, 0, newSize, true, proof);
  return proof;
}

/**
 * The consistency proof from a tree known only by its compact range (`old`, size m > 0) to that
 * tree extended by `appended` leaf hashes. Every node of PROOF(m, D[n]) is either a node of the
 * old compact range or a subtree of the appended leaves, so the sealer can prove a new checkpoint
 * to a witness from its stored state without reading the old leaves.
 *
 * @example
 * const proof = consistencyProofFrom(CompactRange.fromJSON(stateAtWitnessSize), leavesSince);
 */
export function consistencyProofFrom(
  old: { size: number; hashes: readonly Uint8Array[] },
  appended: readonly Uint8Array[],
): Uint8Array[] {
  checkLeaves(appended);
  const m = old.size;
  if (!Number.isSafeInteger(m) || m < 1) throw merkleError('consistency proof needs 0 < old size');
  // The compact range holds one perfect subtree per set bit of m, largest (leftmost) first.
  const widths: number[] = [];
  for (let rest = m, bit = 1; rest > 0; rest = Math.floor(rest / 2), bit *= 2) if (rest % 2 === 1) widths.unshift(bit);
  if (widths.length !== old.hashes.length) throw merkleError('the compact range does not match its size');
  const known = new Map<string, Uint8Array>();
  let start = 0;
  widths.forEach((width, i) => {
    known.set(`${start}:${start + width}`, old.hashes[i] as Uint8Array);
    start += width;
  });
  const root = (lo: number, hi: number): Uint8Array => {
    if (lo >= m) return subtreeRoot(appended, lo - m, hi - m);
    const hash = known.get(`${lo}:${hi}`);
    if (!hash) throw merkleError('the old compact range does not cover the proof', `range ${lo}:${hi}`);
    return hash;
  };
  const out: Uint8Array[] = [];
  const walk = (mm: number, lo: number, hi: number, complete: boolean): void => {
    const n = hi - lo;
    if (mm === n) {
      if (!complete) out.push(root(lo, hi));
      return;
    }
    const k = splitPoint(n);
    if (mm <= k) {
      walk(mm, lo, lo + k, complete);
      out.push(root(lo + k, hi));
    } else {
      walk(mm - k, lo + k, hi, false);
      out.push(root(lo, lo + k));
    }
  };
  walk(m, 0, m + appended.length, true);
  return out;
}

/** Largest power of two strictly smaller than n (n ≥ 2); arithmetic, so sizes above 2^32 work. */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function subtreeRoot(leaves: readonly Uint8Array[], start: number, end: number): Uint8Array {
  const n = end - start;
  if (n === 1) return leaves[start] as Uint8Array;
  const k = splitPoint(n);
  return nodeHash(subtreeRoot(leaves, start, start + k), subtreeRoot(leaves, start + k, end));
}

function path(leaves: readonly Uint8Array[], m: number, start: number, end: number, out: Uint8Array[]): void {
  const n = end - start;
  if (n <= 1) return;
  const k = splitPoint(n);
  if (m < k) {
    path(leaves, m, start, start + k, out);
    out.push(subtreeRoot(leaves, start + k, end));
  } else {
    path(leaves, m - k, start + k, end, out);
    out.push(subtreeRoot(leaves, start, start + k));
  }
}

/** RFC 6962 §2.1.2 SUBPROOF(m, D[start:end], b). */
function subproof(
  leaves: readonly Uint8Array[],
  m: number,
  start: number,
  end: number,
  complete: boolean,
  out: Uint8Array[],
): void {
  const n = end - start;
  if (m === n) {
    if (!complete) out.push(subtreeRoot(leaves, start, end));
    return;
  }
  const k = splitPoint(n);
  if (m <= k) {
    subproof(leaves, m, start, start + k, complete, out);
    out.push(subtreeRoot(leaves, start + k, end));
  } else {
    subproof(leaves, m - k, start + k, end, false, out);
    out.push(subtreeRoot(leaves, start, start + k));
  }
}

function checkLeaves(leafHashes: readonly Uint8Array[]): void {
  if (!Array.isArray(leafHashes)) {
    throw merkleError('leaf hashes must be an array of 32-byte hashes');
  }
  for (let i = 0; i < leafHashes.length; i++) {
    if (!isHash(leafHashes[i])) throw merkleError('every leaf hash must be 32 bytes', `leaf ${i}`);
  }
}

import { emptyRoot, HASH_SIZE, isHash, merkleError, nodeHash } from './hash.js';
import { decodeHash, encodeHash } from './proof-codec.js';

/** What `CompactRange.toJSON` gives and `CompactRange.fromJSON` takes. */
export interface CompactRangeJson {
  /** Leaves appended so far. */
  size: number;
  /** Roots of the perfect subtrees, largest (leftmost) first, base64: one per set bit of `size`. */
  hashes: string[];
}

/**
 * The Merkle frontier of a tree of `size` leaves: the roots of its perfect subtrees, one per set
 * bit of `size`, largest first. Appending is O(1) amortised and `root()` is O(log n), with no
 * leaves kept, so a sealer can extend the ledger's tree from its persisted state alone.
 *
 * @example
 * const range = previous ? CompactRange.fromJSON(previous) : new CompactRange();
 * for (const entry of batch) range.append(leafHash(entry));
 * await saveState(JSON.stringify(range)); // { size, hashes }
 * const head = { size: range.size, root: range.root() };
 */
export class CompactRange {
  #size = 0;
  readonly #hashes: Uint8Array[] = [];

  /** Leaves appended so far. */
  get size(): number {
    return this.#size;
  }

  /** Copies of the perfect-subtree roots, largest first. */
  get hashes(): Uint8Array[] {
    return this.#hashes.map((h) => Uint8Array.from(h));
  }

  /**
   * Appends one leaf hash (already `leafHash(data)`, 32 bytes).
   *
   * @example
   * range.append(leafHash(data));
   */
  append(leafHash: Uint8Array): void {
    if (!isHash(leafHash)) throw merkleError(`a leaf hash must be ${HASH_SIZE} bytes`);
    if (this.#size >= Number.MAX_SAFE_INTEGER) throw merkleError('the tree is full');
    let hash: Uint8Array = Uint8Array.from(leafHash);
    // Each trailing 1 bit of the old size is a subtree of the new leaf's height: merge them.
    for (let s = this.#size; s % 2 === 1; s = Math.floor(s / 2)) {
      hash = nodeHash(this.#hashes.pop() as Uint8Array, hash);
    }
    this.#hashes.push(hash);
    this.#size += 1;
  }

  /**
   * Appends leaf hashes in order; the same as calling `append` for each.
   *
   * @example
   * range.appendMany(batch.map((e) => leafHash(e)));
   */
  appendMany(leafHashes: Iterable<Uint8Array>): void {
    for (const h of leafHashes) this.append(h);
  }

  /**
   * The RFC 6962 root of the tree so far (`emptyRoot()` when empty): the perfect subtrees folded
   * from the right, which is exactly how MTH splits a tree at its largest power of two.
   *
   * @example
   * range.root(); // equals rootOf(allLeafHashes)
   */
  root(): Uint8Array {
    const hashes = this.#hashes;
    if (hashes.length === 0) return emptyRoot();
    let root: Uint8Array = Uint8Array.from(hashes[hashes.length - 1] as Uint8Array);
    for (let i = hashes.length - 2; i >= 0; i--) root = nodeHash(hashes[i] as Uint8Array, root);
    return root;
  }

  /** A copy that can be extended without changing this one. */
  clone(): CompactRange {
    return CompactRange.fromJSON(this.toJSON());
  }

  /** The persistable state: `{ size, hashes }` with base64 hashes. */
  toJSON(): CompactRangeJson {
    return { size: this.#size, hashes: this.#hashes.map((h) => encodeHash(h)) };
  }

  /**
   * Restores a range from `toJSON` output (an object or its JSON text), strictly: `size` a
   * non-negative safe integer, exactly one canonical base64 32-byte hash per set bit of `size`.
   *
   * @example
   * const range = CompactRange.fromJSON(await loadState());
   */
  static fromJSON(json: unknown): CompactRange {
    const value: unknown = typeof json === 'string' ? parseJson(json) : json;
    if (typeof value !== 'object' || value === null) throw merkleError('compact range state must be an object');
    const { size, hashes } = value as Record<string, unknown>;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw merkleError('compact range size must be a non-negative integer');
    }
    if (!Array.isArray(hashes) || hashes.length !== bitCount(size)) {
      throw merkleError('compact range must hold one hash per set bit of its size', `size ${size}`);
    }
    const range = new CompactRange();
    range.#size = size;
    for (let i = 0; i < hashes.length; i++) range.#hashes.push(decodeHash(hashes[i], `hashes[${i}]`));
    return range;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw merkleError('compact range state is not valid JSON');
  }
}

function bitCount(n: number): number {
  let count = 0;
  for (; n > 0; n = Math.floor(n / 2)) count += n % 2;
  return count;
}

import { createHash } from 'node:crypto';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';

/** Bytes in every hash of the ledger's Merkle tree (SHA-256). */
export const HASH_SIZE = 32;

// RFC 6962 §2.1 domain separation: a leaf can never be read as an interior node, or vice versa.
const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/**
 * The leaf hash of one ledger entry: SHA-256(0x00 ‖ data) (RFC 6962 §2.1).
 *
 * @example
 * const h = leafHash(new TextEncoder().encode(canonicalEventJson));
 */
export function leafHash(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

/**
 * The hash of an interior node: SHA-256(0x01 ‖ left ‖ right). The order matters: the pair is
 * never sorted, so a proof binds each leaf to its position.
 *
 * @example
 * const parent = nodeHash(leafHash(a), leafHash(b));
 */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

/**
 * The root of the empty tree: SHA-256 of the empty string (e3b0c442…b855).
 *
 * @example
 * rootOf([]); // equals emptyRoot()
 */
export function emptyRoot(): Uint8Array {
  return createHash('sha256').digest();
}

/** True when `value` is a byte array of exactly HASH_SIZE bytes. */
export function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === HASH_SIZE;
}

/** Byte equality of two hashes; hashes are public, so no constant-time compare is needed. */
export function hashesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The error every Merkle helper throws for a bad argument or malformed serialised input. */
export function merkleError(message: string, detail?: string): PgwardenError {
  return new PgwardenError(ErrorCodes.AUDIT_PROOF_MALFORMED, message, { detail });
}

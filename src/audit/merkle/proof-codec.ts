import { HASH_SIZE, merkleError } from './hash.js';

/**
 * Proof hashes as standard padded base64 strings, for JSON bodies and database columns.
 *
 * @example
 * res.json({ index, size, proof: encodeProof(inclusionProof(hashes, index)) });
 */
export function encodeProof(proof: readonly Uint8Array[]): string[] {
  return proof.map((hash, i) => encodeHash(hash, `proof[${i}]`));
}

/**
 * Parses `encodeProof` output strictly: an array of canonical base64 strings of exactly 32 bytes
 * each (44 characters, one `=`); anything else throws rather than being decoded leniently.
 *
 * @example
 * const proof = decodeProof(body.proof); // throws on a malformed proof
 */
export function decodeProof(strings: unknown): Uint8Array[] {
  if (!Array.isArray(strings)) throw merkleError('a proof must be an array of base64 hashes');
  return strings.map((s: unknown, i) => decodeHash(s, `proof[${i}]`));
}

/** One 32-byte hash as padded base64. */
export function encodeHash(hash: Uint8Array, what = 'hash'): string {
  if (!(hash instanceof Uint8Array) || hash.length !== HASH_SIZE) {
    throw merkleError(`${what} must be ${HASH_SIZE} bytes`);
  }
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('base64');
}

// 32 bytes = 43 base64 characters + '='; the last character carries 4 data bits and 2 zero bits.
const HASH_BASE64 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** Parses one canonical padded base64 32-byte hash; throws on anything else. */
export function decodeHash(value: unknown, what = 'hash'): Uint8Array {
  if (typeof value !== 'string' || !HASH_BASE64.test(value)) {
    throw merkleError(`${what} is not a base64 ${HASH_SIZE}-byte hash`);
  }
  return new Uint8Array(Buffer.from(value, 'base64'));
}

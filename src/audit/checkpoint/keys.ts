import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { inspect } from 'node:util';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import {
  decodeBase64,
  isValidKeyName,
  keyIdHex,
  keyIdOf,
  type NoteAlgorithm,
  type NoteSigner,
  type NoteVerifier,
  PUBLIC_KEY_BYTES,
  SignatureTypes,
} from './note.js';

/** Anything that seals and opens small secrets bound to an `aad`, such as pgwarden's `SecretBox`. */
export interface KeySealer {
  seal(plaintext: Uint8Array, aad: string): Uint8Array;
  open(sealed: Uint8Array, aad: string): Uint8Array;
}

/** Options of a note key. */
export interface NoteKeyOptions {
  /** The clock that timestamps cosignatures (`cosignature-ed25519` keys only). */
  clock?: () => Date;
}

const PRIVATE_FORMAT = 1;
const SEED_BYTES = 32;
const privateTags: Readonly<Record<NoteAlgorithm, number>> = {
  ed25519: 1,
  'cosignature-ed25519': 4,
  'ml-dsa-65': 0x65,
};
// PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410).
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * A note signing key: Ed25519 (log checkpoints), ML-DSA-65 (the post-quantum half of a hybrid log)
 * or a witness's Ed25519 cosignature key. The private half stays in a private field; JSON,
 * `inspect` and string forms show only the name, algorithm and key id.
 *
 * @example
 * const key = generateNoteKey('pgwarden.example/db1', 'ed25519');
 * publish(key.vkey);
 * store(sealNoteKey(box, key));
 */
export class NoteKey implements NoteSigner {
  readonly name: string;
  readonly algorithm: NoteAlgorithm;
  readonly keyId: number;
  readonly vkey: string;
  /** The verifier for this key's signatures. */
  readonly verifier: NoteVerifier;
  readonly #seed: Buffer;
  readonly #signWith: (message: Uint8Array) => Uint8Array;

  private constructor(name: string, algorithm: NoteAlgorithm, seed: Uint8Array, options: NoteKeyOptions) {
    if (!isValidKeyName(name)) {
      throw new PgwardenError(ErrorCodes.AUDIT_NOTE_MALFORMED, 'a key name must be non-empty, without spaces or "+"');
    }
    if (seed.length !== SEED_BYTES) throw new PgwardenError(ErrorCodes.AUDIT_NOTE_MALFORMED, 'a key seed is 32 bytes');
    this.name = name;
    this.algorithm = algorithm;
    this.#seed = Buffer.from(seed);
    let publicKey: Uint8Array;
    if (algorithm === 'ml-dsa-65') {
      const pair = ml_dsa65.keygen(this.#seed);
      publicKey = pair.publicKey;
      this.#signWith = (message) => ml_dsa65.sign(message, pair.secretKey);
    } else {
      const privateKey = createPrivateKey({
        key: Buffer.concat([ED25519_PKCS8_PREFIX, this.#seed]),
        format: 'der',
        type: 'pkcs8',
      });
      publicKey = rawEd25519PublicKey(createPublicKey(privateKey));
      if (algorithm === 'ed25519') {
        this.#signWith = (message) => sign(null, message, privateKey);
      } else {
        const clock = options.clock ?? (() => new Date());
        this.#signWith = (message) => {
          const time = Math.floor(clock().getTime() / 1000);
          const stamp = Buffer.alloc(8);
          stamp.writeBigUInt64BE(BigInt(time));
          return Buffer.concat([stamp, sign(null, cosignedMessage(time, message), privateKey)]);
        };
      }
    }
    this.verifier = verifierFromPublicKey(name, algorithm, publicKey);
    this.keyId = this.verifier.keyId;
    this.vkey = this.verifier.vkey;
  }

  /** @internal Used by `generateNoteKey` and `importNoteKey`. */
  static fromSeed(name: string, algorithm: NoteAlgorithm, seed: Uint8Array, options: NoteKeyOptions = {}): NoteKey {
    return new NoteKey(name, algorithm, seed, options);
  }

  /** @internal The opaque private form; use `exportNoteKey` or `sealNoteKey`. */
  exportPrivate(): Buffer {
    return Buffer.concat([Uint8Array.of(PRIVATE_FORMAT, privateTags[this.algorithm]), this.#seed]);
  }

  sign(message: Uint8Array): Uint8Array {
    return this.#signWith(message);
  }

  toJSON(): Record<string, string> {
    return { name: this.name, algorithm: this.algorithm, keyId: keyIdHex(this.keyId) };
  }

  toString(): string {
    return `NoteKey(${this.name}+${keyIdHex(this.keyId)} ${this.algorithm})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/**
 * Generates a note signing key. The key id follows c2sp.org/signed-note, so the same key always
 * has the same id and vkey.
 *
 * @example
 * const ed = generateNoteKey('pgwarden.example/db1', 'ed25519');
 * const pq = generateNoteKey('pgwarden.example/db1', 'ml-dsa-65');
 */
export function generateNoteKey(name: string, algorithm: NoteAlgorithm, options: NoteKeyOptions = {}): NoteKey {
  return NoteKey.fromSeed(name, algorithm, randomBytes(SEED_BYTES), options);
}

/**
 * The opaque private form of a key (format byte, algorithm tag, 32-byte seed). Seal it before it
 * touches disk; prefer `sealNoteKey`.
 *
 * @example
 * const bytes = exportNoteKey(key); // hand to your KMS, then zero it
 */
export function exportNoteKey(key: NoteKey): Buffer {
  return key.exportPrivate();
}

/**
 * Rebuilds a key from `exportNoteKey` output. The name is not secret and is passed back in.
 *
 * @example
 * const key = importNoteKey('pgwarden.example/db1', bytesFromKms);
 */
export function importNoteKey(name: string, bytes: Uint8Array, options: NoteKeyOptions = {}): NoteKey {
  const tag = bytes[1];
  const algorithm = (Object.keys(privateTags) as NoteAlgorithm[]).find((a) => privateTags[a] === tag);
  if (bytes.length !== 2 + SEED_BYTES || bytes[0] !== PRIVATE_FORMAT || algorithm === undefined) {
    throw new PgwardenError(ErrorCodes.AUDIT_NOTE_MALFORMED, 'the private key bytes have an unknown format', {
      detail: `${bytes.length} bytes`,
    });
  }
  return NoteKey.fromSeed(name, algorithm, bytes.subarray(2), options);
}

/**
 * Seals a key's private form with the caller's box, bound to its vkey (aad `note-key:<vkey>`),
 * so a sealed key stored under another name or algorithm does not open.
 *
 * @example
 * const sealed = sealNoteKey(new SecretBox(masterKey, 'audit-checkpoint-key'), key);
 */
export function sealNoteKey(sealer: KeySealer, key: NoteKey): Uint8Array {
  const bytes = key.exportPrivate();
  try {
    return sealer.seal(bytes, `note-key:${key.vkey}`);
  } finally {
    bytes.fill(0);
  }
}

/**
 * Opens a key sealed by `sealNoteKey`, checking that it is the key the published vkey names.
 *
 * @example
 * const key = openNoteKey(box, row.vkey, row.sealed);
 */
export function openNoteKey(
  sealer: KeySealer,
  vkey: string,
  sealed: Uint8Array,
  options: NoteKeyOptions = {},
): NoteKey {
  const name = vkey.split('+')[0] ?? '';
  const bytes = sealer.open(sealed, `note-key:${vkey}`);
  let key: NoteKey;
  try {
    key = importNoteKey(name, bytes, options);
  } finally {
    bytes.fill(0);
  }
  if (key.vkey !== vkey) {
    throw new PgwardenError(ErrorCodes.AUDIT_NOTE_MALFORMED, 'the sealed key does not match its verifier key');
  }
  return key;
}

/**
 * Parses a verifier key `<name>+<hex key id>+<base64(type ‖ public key)>` into a verifier,
 * checking that the key id matches the name, type and public key.
 *
 * @example
 * const verifier = parseVerifierKey('example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k');
 */
export function parseVerifierKey(vkey: string): NoteVerifier {
  // The base64 part may itself contain '+': split only at the first two.
  const first = vkey.indexOf('+');
  const name = vkey.slice(0, Math.max(first, 0));
  const hex = vkey.slice(first + 1, first + 9);
  const encoded = vkey.slice(first + 10);
  if (first < 0 || vkey[first + 9] !== '+' || !isValidKeyName(name) || !/^[0-9a-f]{8}$/.test(hex)) {
    badVkey('a verifier key is "<name>+<8 hex digits>+<base64>"');
  }
  const material = decodeBase64(encoded);
  if (material === undefined) badVkey('the verifier key material is not base64');
  const algorithm = (Object.keys(SignatureTypes) as NoteAlgorithm[]).find((a) => {
    const type = SignatureTypes[a];
    return material.length === type.length + PUBLIC_KEY_BYTES[a] && material.subarray(0, type.length).equals(type);
  });
  if (algorithm === undefined) badVkey('the verifier key has an unsupported signature type or key length');
  const verifier = verifierFromPublicKey(name, algorithm, material.subarray(SignatureTypes[algorithm].length));
  if (keyIdHex(verifier.keyId) !== hex) badVkey('the verifier key id does not match its name and public key');
  return verifier;
}

/**
 * A verifier for a raw public key (32-byte Ed25519 or 1952-byte ML-DSA-65).
 *
 * @example
 * const verifier = verifierFromPublicKey('witness.example/w1', 'cosignature-ed25519', publicKey);
 */
export function verifierFromPublicKey(name: string, algorithm: NoteAlgorithm, publicKey: Uint8Array): NoteVerifier {
  if (publicKey.length !== PUBLIC_KEY_BYTES[algorithm])
    badVkey(`a ${algorithm} public key is ${PUBLIC_KEY_BYTES[algorithm]} bytes`);
  const type = SignatureTypes[algorithm];
  const keyId = keyIdOf(name, type, publicKey);
  const vkey = `${name}+${keyIdHex(keyId)}+${Buffer.concat([type, publicKey]).toString('base64')}`;
  const pk = new Uint8Array(publicKey);
  let check: (message: Uint8Array, signature: Uint8Array) => boolean;
  if (algorithm === 'ml-dsa-65') {
    check = (message, signature) => ml_dsa65.verify(signature, message, pk);
  } else {
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pk).toString('base64url') },
      format: 'jwk',
    });
    if (algorithm === 'ed25519') {
      check = (message, signature) => signature.length === 64 && verify(null, message, key, signature);
    } else {
      check = (message, signature) => verifyCosignature(key, message, signature);
    }
  }
  return Object.freeze({ name, keyId, algorithm, vkey, verify: check });
}

/**
 * The message a tlog-cosignature/v1 Ed25519 cosignature signs: `cosignature/v1`, `time <t>`, then
 * the checkpoint text.
 *
 * @example
 * cosignedMessage(1679315147, checkpointText);
 */
export function cosignedMessage(timestamp: number, text: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`cosignature/v1\ntime ${timestamp}\n`, 'ascii'), text]);
}

/**
 * The POSIX timestamp in a cosignature (its first 8 bytes, big-endian), or undefined.
 *
 * @example
 * cosignatureTime(sig.signature); // 1679315147
 */
export function cosignatureTime(signature: Uint8Array): number | undefined {
  if (signature.length !== 72) return undefined;
  const time = Buffer.from(signature.buffer, signature.byteOffset, 8).readBigUInt64BE(0);
  return time > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(time);
}

function verifyCosignature(key: KeyObject, text: Uint8Array, signature: Uint8Array): boolean {
  const time = cosignatureTime(signature);
  if (time === undefined || time === 0) return false;
  return verify(null, cosignedMessage(time, text), key, signature.subarray(8));
}

function rawEd25519PublicKey(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.from(jwk.x ?? '', 'base64url');
}

function badVkey(message: string): never {
  throw new PgwardenError(ErrorCodes.AUDIT_NOTE_MALFORMED, message, {
    hint: 'publish verifier keys exactly as pgwarden prints them',
  });
}

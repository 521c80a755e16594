import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import type { MasterKey } from './master-key.js';

const VERSION = 1;
const KEY_ID_BYTES = 8;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + KEY_ID_BYTES;
const OVERHEAD = HEADER_BYTES + NONCE_BYTES + TAG_BYTES;

/**
 * Seals small secrets under a subkey of the master key (AES-256-GCM, random 96-bit nonce).
 * A sealed value is `version (1) ‖ keyId (8) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`; the header and
 * the caller's `aad` are authenticated, so a value only opens for the same purpose, the same
 * master key and the same `aad`. Use the row's identity as `aad` (`totp:<factor id>`): then a
 * ciphertext copied into another row does not open.
 *
 * @example
 * const box = new SecretBox(masterKey, 'totp');
 * const sealed = box.seal(secret, `totp:${factorId}`);
 * const again = box.open(sealed, `totp:${factorId}`); // equals secret
 */
export class SecretBox {
  /** What this box seals; part of the key derivation. */
  readonly purpose: string;
  /** Hex id of the master key behind this box. */
  readonly keyId: string;
  readonly #key: Buffer;
  readonly #keyIdBytes: Buffer;

  constructor(masterKey: MasterKey, purpose: string) {
    if (purpose.length === 0) {
      throw new PgwardenError(ErrorCodes.INTERNAL, 'a SecretBox needs a non-empty purpose');
    }
    this.purpose = purpose;
    this.keyId = masterKey.keyId;
    this.#keyIdBytes = masterKey.keyIdBytes();
    // Prefixed so that a box's key never equals a subkey derived elsewhere for the same word.
    this.#key = masterKey.deriveKey(`secret-box:${purpose}`);
  }

  /**
   * Encrypts `plaintext`, bound to `aad` (non-empty: it names the row the value belongs to).
   *
   * @example
   * const sealed = box.seal(Buffer.from('secret'), 'jwt-key:abc');
   */
  seal(plaintext: Uint8Array, aad: string): Buffer {
    const header = Buffer.alloc(HEADER_BYTES);
    header[0] = VERSION;
    this.#keyIdBytes.copy(header, 1);
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(additionalData(header, aad));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([header, nonce, body, cipher.getAuthTag()]);
  }

  /**
   * Decrypts a value from `seal`. Throws `AUTH_MASTER_KEY` when it was sealed with another master
   * key, or when it was altered, belongs to another `aad` or to another purpose.
   *
   * @example
   * const secret = box.open(row.secret_sealed, `totp:${row.id}`);
   */
  open(sealed: Uint8Array, aad: string): Buffer {
    const data = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    if (data.length < OVERHEAD || data[0] !== VERSION) {
      throw new PgwardenError(ErrorCodes.AUTH_MASTER_KEY, 'the sealed value has an unknown format', {
        detail: data.length < OVERHEAD ? `${data.length} bytes` : `version ${data[0]}`,
      });
    }
    const header = data.subarray(0, HEADER_BYTES);
    const keyId = header.subarray(1);
    if (!keyId.equals(this.#keyIdBytes)) {
      throw new PgwardenError(
        ErrorCodes.AUTH_MASTER_KEY,
        `the value was sealed with another master key (id ${keyId.toString('hex')})`,
        { detail: `this process has master key ${this.keyId}`, hint: 'start with the master key that sealed it' },
      );
    }
    const nonce = data.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
    const body = data.subarray(HEADER_BYTES + NONCE_BYTES, data.length - TAG_BYTES);
    const tag = data.subarray(data.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(additionalData(header, aad));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      // One message for every cause: the failure must not tell an attacker what to change.
      throw new PgwardenError(ErrorCodes.AUTH_MASTER_KEY, 'the sealed value does not open', {
        detail: `purpose ${this.purpose}`,
        hint: 'it was altered, or belongs to another row or purpose',
      });
    }
  }

  /** Never the key. */
  toJSON(): string {
    return this.toString();
  }

  /** Never the key. */
  toString(): string {
    return `SecretBox(${this.purpose}, ${this.keyId})`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

function additionalData(header: Buffer, aad: string): Buffer {
  if (aad.length === 0) {
    throw new PgwardenError(ErrorCodes.INTERNAL, 'SecretBox needs a non-empty aad naming the row the value belongs to');
  }
  return Buffer.concat([header, Buffer.from(aad, 'utf8')]);
}

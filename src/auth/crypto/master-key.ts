import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { type FileHandle, link, mkdir, open, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';

const KEY_BYTES = 32;
const KEY_ID_BYTES = 8;
/** A key file holds one line of 43–44 characters; anything much larger is not a key file. */
const MAX_KEY_FILE_BYTES = 1024;
const HKDF_SALT = Buffer.from('pgwarden master key v1', 'utf8');
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;
const KEY_HINT = 'a master key is 32 random bytes in base64 or base64url, e.g. from `openssl rand -base64 32`';

/**
 * The master key (key-encryption key) that seals the secrets the database must never hold in
 * clear: TOTP secrets, JWT private keys. It never leaves this object: `toJSON` and `util.inspect`
 * print only `MasterKey(<keyId>)`, and callers get purpose-bound subkeys from `deriveKey`.
 *
 * @example
 * const key = parseMasterKey(generateMasterKey());
 * key.keyId;                        // '3f1c…' (16 hex characters, safe to store)
 * const sub = key.deriveKey('totp'); // 32 bytes, only for that purpose
 */
export class MasterKey {
  /** First 8 bytes of SHA-256 of the key, hex: says which key sealed what. Safe to store and log. */
  readonly keyId: string;
  readonly #key: Buffer;

  /** Prefer `parseMasterKey` or `loadOrCreateMasterKeyFile`; this takes the raw 32 bytes. */
  constructor(raw: Uint8Array) {
    if (raw.length !== KEY_BYTES) {
      throw new PgwardenError(ErrorCodes.AUTH_MASTER_KEY, `the master key must be ${KEY_BYTES} bytes`, {
        hint: KEY_HINT,
      });
    }
    this.#key = Buffer.from(raw);
    this.keyId = createHash('sha256').update(this.#key).digest().subarray(0, KEY_ID_BYTES).toString('hex');
  }

  /** The key id as the 8 raw bytes that sealed values carry in their header. */
  keyIdBytes(): Buffer {
    return Buffer.from(this.keyId, 'hex');
  }

  /**
   * A 32-byte subkey for one purpose (HKDF-SHA256). Different purposes give independent keys, so a
   * subkey leaked or misused in one place says nothing about another.
   *
   * @example
   * const macKey = masterKey.deriveKey('recovery-code-pepper');
   */
  deriveKey(purpose: string): Buffer {
    if (purpose.length === 0) {
      throw new PgwardenError(ErrorCodes.INTERNAL, 'MasterKey.deriveKey needs a non-empty purpose');
    }
    return Buffer.from(hkdfSync('sha256', this.#key, HKDF_SALT, Buffer.from(purpose, 'utf8'), KEY_BYTES));
  }

  /** Never the key itself. */
  toJSON(): string {
    return this.toString();
  }

  /** Never the key itself. */
  toString(): string {
    return `MasterKey(${this.keyId})`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/**
 * Parses a master key from base64 or base64url text (surrounding whitespace ignored). The error
 * never repeats the text, since it may be a mistyped real key.
 *
 * @example
 * const key = parseMasterKey(await readFile('/run/secrets/pgwarden-master-key', 'utf8'));
 */
export function parseMasterKey(text: string): MasterKey {
  const trimmed = typeof text === 'string' ? text.trim() : '';
  // Buffer.from(…, 'base64') skips characters it does not know; check the alphabet first so that
  // garbage is refused instead of silently shortened.
  if (!BASE64.test(trimmed) && !BASE64URL.test(trimmed)) {
    throw new PgwardenError(ErrorCodes.AUTH_MASTER_KEY, 'the master key is not base64 or base64url text', {
      hint: KEY_HINT,
    });
  }
  const raw = Buffer.from(trimmed.replace(/=+$/, ''), 'base64url');
  if (raw.length !== KEY_BYTES) {
    throw new PgwardenError(ErrorCodes.AUTH_MASTER_KEY, `the master key must decode to ${KEY_BYTES} bytes`, {
      detail: `it decodes to ${raw.length} bytes`,
      hint: KEY_HINT,
    });
  }
  return new MasterKey(raw);
}

/**
 * A fresh random master key as base64url text (43 characters), for a key file or a secret store.
 *
 * @example
 * const text = generateMasterKey(); // store it; parseMasterKey(text) reads it back
 */
export function generateMasterKey(): string {
  return randomBytes(KEY_BYTES).toString('base64url');
}

/**
 * Reads the master key from `path`, creating the file with a new key (mode 0600) when it does not
 * exist. The new file appears atomically and is never overwritten: a temp file in the same
 * directory is hard-linked into place, so two processes racing both end up with the winner's key.
 * A file that group or other can access is refused.
 *
 * @example
 * const masterKey = await loadOrCreateMasterKeyFile('.pgwarden/master.key');
 */
export async function loadOrCreateMasterKeyFile(path: string): Promise<MasterKey> {
  const existing = await readKeyFile(path);
  if (existing) return existing;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const created = await createKeyFile(path);
  if (created) return created;
  // Another process linked its file first; use that one.
  const winner = await readKeyFile(path);
  if (winner) return winner;
  throw new PgwardenError(ErrorCodes.AUTH_MASTER_KEY, `the master key file ${path} vanished while it was created`, {
    hint: 'something else is removing the file; check the directory',
  });
}

/** The key in `path`, or undefined when there is no such file. */
async function readKeyFile(path: string): Promise<MasterKey | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, fsConstants.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw keyFileError(path, 'cannot be read', err);
  }
  try {
    // fstat on the open handle: the checks apply to the very file that is read.
    const info = await handle.stat();
    if (!info.isFile()) throw keyFileError(path, 'is not a regular file');
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      throw new PgwardenError(ErrorCodes.AUTH_MASTER_KEY, `the master key file ${path} is accessible by other users`, {
        detail: `mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}`,
        hint: `run \`chmod 600 ${path}\` (and check who could have read it)`,
      });
    }
    if (info.size > MAX_KEY_FILE_BYTES) throw keyFileError(path, 'is too large to be a master key file');
    const text = await handle.readFile('utf8');
    try {
      return parseMasterKey(text);
    } catch (err) {
      if (err instanceof PgwardenError) {
        throw new PgwardenError(err.code, `the master key file ${path} does not hold a valid key`, {
          detail: err.detail ?? err.message,
          hint: err.hint,
        });
      }
      throw err;
    }
  } finally {
    await handle.close();
  }
}

/** Writes a new key into place; undefined when `path` appeared meanwhile (nothing is overwritten). */
async function createKeyFile(path: string): Promise<MasterKey | undefined> {
  const text = generateMasterKey();
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(`${text}\n`, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      // link(2) fails with EEXIST instead of replacing, unlike rename(2).
      await link(temp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
      throw keyFileError(path, 'could not be created', err);
    }
    await syncDirectory(dirname(path));
    return parseMasterKey(text);
  } catch (err) {
    if (err instanceof PgwardenError) throw err;
    throw keyFileError(path, 'could not be created', err);
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/** Makes the new directory entry durable; not every platform can open a directory, so best effort. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, fsConstants.O_RDONLY);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Durability of the entry is a bonus; the key itself was already synced.
  }
}

function keyFileError(path: string, what: string, cause?: unknown): PgwardenError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new PgwardenError(ErrorCodes.AUTH_MASTER_KEY, `the master key file ${path} ${what}`, {
    detail: code,
    cause,
  });
}

import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import {
  generateMasterKey,
  loadOrCreateMasterKeyFile,
  MasterKey,
  parseMasterKey,
  SecretBox,
} from '../../src/auth/crypto/index.js';
import { ErrorCodes, PgwardenError } from '../../src/errors/index.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-master-key-test-'));
  dirs.push(dir);
  return dir;
}

/** The PgwardenError `fn` throws (sync or async); fails the test when it does not throw one. */
async function caught(fn: () => unknown): Promise<PgwardenError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof PgwardenError) return err;
    throw err;
  }
  throw new Error('expected a PgwardenError');
}

const raw = Buffer.from('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'hex');
const masterKey = new MasterKey(raw);

describe('parseMasterKey', () => {
  it('accepts base64 and base64url of 32 bytes, trimming whitespace', () => {
    const bytes = Buffer.alloc(32, 0xfb); // encodes with '+' / '-' and '/' / '_'
    const fromBase64 = parseMasterKey(`  ${bytes.toString('base64')}\n`);
    const fromBase64url = parseMasterKey(bytes.toString('base64url'));
    expect(bytes.toString('base64')).toMatch(/[+/]/);
    expect(fromBase64.keyId).toBe(fromBase64url.keyId);
    expect(fromBase64.keyId).toBe(new MasterKey(bytes).keyId);
  });

  it('round-trips generateMasterKey', () => {
    const text = generateMasterKey();
    expect(text).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(parseMasterKey(text).keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(generateMasterKey()).not.toBe(text);
  });

  it('denies other lengths and non-base64 text without echoing the value', async () => {
    const short = randomBytes(31).toString('base64');
    const long = randomBytes(33).toString('base64url');
    const junk = `${randomBytes(32).toString('base64url').slice(0, 42)}!`;
    for (const value of [short, long, junk, '', '   ', `${raw.toString('base64')}$`]) {
      const err = await caught(() => parseMasterKey(value));
      expect(err.code).toBe(ErrorCodes.AUTH_MASTER_KEY);
      if (value.trim()) expect(JSON.stringify(err.toJSON())).not.toContain(value.trim());
    }
  });
});

describe('MasterKey', () => {
  it('derives its key id from the first 8 bytes of SHA-256 of the key', () => {
    expect(masterKey.keyId).toBe(createHash('sha256').update(raw).digest().subarray(0, 8).toString('hex'));
  });

  it('never prints the key in JSON, inspect or string form', () => {
    const shown = [JSON.stringify({ masterKey }), inspect(masterKey, { showHidden: true, depth: 9 }), `${masterKey}`];
    for (const text of shown) {
      expect(text).toContain(`MasterKey(${masterKey.keyId})`);
      expect(text).not.toContain(raw.toString('hex'));
      expect(text).not.toContain(raw.toString('base64url'));
    }
    expect(Object.values(masterKey)).toEqual([masterKey.keyId]);
  });

  it('derives a distinct, stable 32-byte subkey per purpose', () => {
    const totp = masterKey.deriveKey('totp');
    expect(totp).toHaveLength(32);
    expect(masterKey.deriveKey('totp').equals(totp)).toBe(true);
    expect(masterKey.deriveKey('jwt').equals(totp)).toBe(false);
    expect(new MasterKey(Buffer.alloc(32, 7)).deriveKey('totp').equals(totp)).toBe(false);
    expect(totp.equals(raw)).toBe(false);
  });
});

describe('loadOrCreateMasterKeyFile', () => {
  it('creates a 0600 key file once and reads the same key afterwards', async () => {
    const path = join(await tempDir(), 'nested', 'master.key');
    const first = await loadOrCreateMasterKeyFile(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(parseMasterKey(await readFile(path, 'utf8')).keyId).toBe(first.keyId);
    expect((await loadOrCreateMasterKeyFile(path)).keyId).toBe(first.keyId);
  });

  it('gives racing callers the same key and leaves no temp files', async () => {
    const dir = await tempDir();
    const path = join(dir, 'master.key');
    const keys = await Promise.all(Array.from({ length: 20 }, () => loadOrCreateMasterKeyFile(path)));
    expect(new Set(keys.map((k) => k.keyId)).size).toBe(1);
    expect(await readdir(dir)).toEqual(['master.key']);
  });

  it('never overwrites an existing key file', async () => {
    const path = join(await tempDir(), 'master.key');
    const text = generateMasterKey();
    await writeFile(path, `${text}\n`, { mode: 0o600 });
    expect((await loadOrCreateMasterKeyFile(path)).keyId).toBe(parseMasterKey(text).keyId);
    expect(await readFile(path, 'utf8')).toBe(`${text}\n`);
  });

  it.skipIf(process.platform === 'win32')('denies a key file that group or other can read', async () => {
    const path = join(await tempDir(), 'master.key');
    await writeFile(path, generateMasterKey(), { mode: 0o600 });
    await chmod(path, 0o644);
    const err = await caught(() => loadOrCreateMasterKeyFile(path));
    expect(err.code).toBe(ErrorCodes.AUTH_MASTER_KEY);
    expect(err.message).toContain('accessible by other users');
    await chmod(path, 0o640);
    expect((await caught(() => loadOrCreateMasterKeyFile(path))).code).toBe(ErrorCodes.AUTH_MASTER_KEY);
  });

  it('denies a file that holds no valid key, without echoing it', async () => {
    const path = join(await tempDir(), 'master.key');
    const content = randomBytes(16).toString('hex');
    await writeFile(path, content, { mode: 0o600 });
    const err = await caught(() => loadOrCreateMasterKeyFile(path));
    expect(err.code).toBe(ErrorCodes.AUTH_MASTER_KEY);
    expect(JSON.stringify(err.toJSON())).not.toContain(content);
  });
});

describe('SecretBox', () => {
  const box = new SecretBox(masterKey, 'totp');
  const secret = Buffer.from('JBSWY3DPEHPK3PXP-not-so-secret');

  it('opens what it sealed with the same aad', () => {
    const sealed = box.seal(secret, 'totp:factor-1');
    expect(box.open(sealed, 'totp:factor-1').equals(secret)).toBe(true);
    expect(new SecretBox(parseMasterKey(raw.toString('base64')), 'totp').open(sealed, 'totp:factor-1')).toEqual(secret);
  });

  it('writes version 1, the key id, a random 12-byte nonce, the ciphertext and a 16-byte tag', () => {
    const a = box.seal(secret, 'totp:factor-1');
    const b = box.seal(secret, 'totp:factor-1');
    expect(a).toHaveLength(1 + 8 + 12 + secret.length + 16);
    expect(a[0]).toBe(1);
    expect(a.subarray(1, 9).toString('hex')).toBe(masterKey.keyId);
    expect(a.subarray(9, 21).equals(b.subarray(9, 21))).toBe(false);
    expect(a.includes(secret.subarray(0, 8))).toBe(false);
  });

  it('denies a ciphertext moved to another row (different aad)', async () => {
    const sealed = box.seal(secret, 'totp:factor-1');
    const err = await caught(() => box.open(sealed, 'totp:factor-2'));
    expect(err.code).toBe(ErrorCodes.AUTH_MASTER_KEY);
    expect(err.message).toBe('the sealed value does not open');
  });

  it('denies a value sealed for another purpose', async () => {
    const sealed = new SecretBox(masterKey, 'jwt-signing-key').seal(secret, 'totp:factor-1');
    expect((await caught(() => box.open(sealed, 'totp:factor-1'))).code).toBe(ErrorCodes.AUTH_MASTER_KEY);
  });

  it('denies every single-bit change and a truncation', async () => {
    const sealed = box.seal(secret, 'totp:factor-1');
    for (let i = 0; i < sealed.length; i++) {
      const tampered = Buffer.from(sealed);
      tampered[i] = (tampered[i] as number) ^ 0x01;
      const err = await caught(() => box.open(tampered, 'totp:factor-1'));
      expect(err.code).toBe(ErrorCodes.AUTH_MASTER_KEY);
      expect(JSON.stringify(err.toJSON())).not.toContain(secret.toString());
    }
    const short = sealed.subarray(0, sealed.length - 1);
    expect((await caught(() => box.open(short, 'totp:factor-1'))).code).toBe(ErrorCodes.AUTH_MASTER_KEY);
    expect((await caught(() => box.open(sealed.subarray(0, 20), 'totp:factor-1'))).code).toBe(
      ErrorCodes.AUTH_MASTER_KEY,
    );
  });

  it('names the other master key when a value was sealed with it', async () => {
    const other = new MasterKey(Buffer.alloc(32, 9));
    const sealed = new SecretBox(other, 'totp').seal(secret, 'totp:factor-1');
    const err = await caught(() => box.open(sealed, 'totp:factor-1'));
    expect(err.code).toBe(ErrorCodes.AUTH_MASTER_KEY);
    expect(err.message).toBe(`the value was sealed with another master key (id ${other.keyId})`);
  });

  it('denies an unknown format version', async () => {
    const sealed = box.seal(secret, 'totp:factor-1');
    sealed[0] = 2;
    const err = await caught(() => box.open(sealed, 'totp:factor-1'));
    expect(err.message).toBe('the sealed value has an unknown format');
  });

  it('refuses an empty aad, which would bind the value to no row', async () => {
    expect((await caught(() => box.seal(secret, ''))).code).toBe(ErrorCodes.INTERNAL);
  });

  it('never shows its key', () => {
    expect(inspect(box)).toBe(`SecretBox(totp, ${masterKey.keyId})`);
    expect(JSON.stringify(box)).toBe(JSON.stringify(`SecretBox(totp, ${masterKey.keyId})`));
  });
});

import argon2 from 'argon2';
import { describe, expect, it } from 'vitest';
import {
  bcryptSha256FromCrypt,
  defaultArgon2Params,
  HashLimiter,
  hashBcryptSha256,
  MAX_PASSWORD_INPUT_LENGTH,
  normalizePassword,
  parsePhc,
  PasswordHasher,
  verifyBcryptSha256,
} from '../../src/auth/password/index.js';
import { withClient } from '../../src/db/client.js';
import { ErrorCodes, PgwardenError } from '../../src/errors/index.js';
import { emptyDatabase } from '../helpers/db.js';
import { rejected } from '../helpers/errors.js';

/** Small argon2 costs keep the suite fast; cases about the defaults use `new PasswordHasher()`. */
const fast = { memoryCost: 4096, timeCost: 1, parallelism: 1 };
const fastHasher = () => new PasswordHasher({ params: fast });

function errorText(err: PgwardenError): string {
  return [err.message, err.detail, err.hint, JSON.stringify(err)].join('\n');
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('PasswordHasher.hash', () => {
  it('writes argon2id with at least the OWASP costs and a 16-byte salt [P-01]', async () => {
    const hasher = new PasswordHasher();
    const stored = await hasher.hash('correct horse battery staple');
    const phc = parsePhc(stored);
    expect(phc.id).toBe('argon2id');
    expect(phc.version).toBe(19);
    expect(phc.params.m).toBeGreaterThanOrEqual(19456);
    expect(phc.params.t).toBeGreaterThanOrEqual(2);
    expect(phc.params.p).toBeGreaterThanOrEqual(1);
    expect(phc.salt.length).toBeGreaterThanOrEqual(16);
    expect(phc.hash.length).toBe(32);
    expect(await hasher.verify(stored, 'correct horse battery staple')).toBe(true);
  });

  it('gives the same password a different hash each time [P-01]', async () => {
    const hasher = fastHasher();
    const first = await hasher.hash('same password twice');
    const second = await hasher.hash('same password twice');
    expect(first).not.toBe(second);
    expect(parsePhc(first).salt.equals(parsePhc(second).salt)).toBe(false);
  });

  it('hashes and verifies 8-, 64- and 128-character passwords [P-04]', async () => {
    const hasher = fastHasher();
    for (const n of [8, 64, 128]) {
      const password = 'pQ7 '.repeat(32).slice(0, n);
      const stored = await hasher.hash(password);
      expect(await hasher.verify(stored, password)).toBe(true);
      expect(await hasher.verify(stored, password.slice(0, -1))).toBe(false);
    }
  });

  it('uses the OWASP argon2id values by default', () => {
    expect(defaultArgon2Params).toEqual({ memoryCost: 19456, timeCost: 2, parallelism: 1 });
    expect(new PasswordHasher().params).toEqual(defaultArgon2Params);
  });

  it('refuses an over-long input with PW310 that does not quote it', async () => {
    const password = 'secret-marker-'.repeat(MAX_PASSWORD_INPUT_LENGTH);
    const err = await rejected(fastHasher().hash(password));
    expect(err.code).toBe(ErrorCodes.AUTH_INVALID_INPUT);
    expect(errorText(err)).not.toContain('secret-marker');
  });

  it('refuses invalid argon2 parameters', () => {
    expect(() => new PasswordHasher({ params: { memoryCost: 4, parallelism: 1 } })).toThrow(PgwardenError);
    expect(() => new PasswordHasher({ params: { timeCost: 0 } })).toThrow(PgwardenError);
  });
});

describe('PasswordHasher.verify', () => {
  it('verifies the NFD spelling of an NFC password, spaces kept [P-08]', async () => {
    const hasher = fastHasher();
    const nfc = 'pässwörd lang genug'.normalize('NFC');
    const nfd = nfc.normalize('NFD');
    expect(nfd).not.toBe(nfc);
    const stored = await hasher.hash(nfc);
    expect(await hasher.verify(stored, nfd)).toBe(true);
    expect(await hasher.verify(stored, nfc)).toBe(true);
    expect(await hasher.verify(stored, 'pässwördlanggenug')).toBe(false);
    // And the other way round: an NFD spelling is hashed in its normal form.
    expect(await hasher.verify(await hasher.hash(nfd), nfc)).toBe(true);
  });

  it('denies a case variant and a trailing-space variant [P-09]', async () => {
    const hasher = fastHasher();
    const stored = await hasher.hash('Tangerine Kettle 42');
    expect(await hasher.verify(stored, 'tangerine kettle 42')).toBe(false);
    expect(await hasher.verify(stored, 'Tangerine Kettle 42 ')).toBe(false);
    expect(await hasher.verify(stored, ' Tangerine Kettle 42')).toBe(false);
    expect(await hasher.verify(stored, 'Tangerine Kettle 42')).toBe(true);
  });

  it('verifies argon2i and argon2d hashes', async () => {
    const hasher = fastHasher();
    for (const type of [argon2.argon2i, argon2.argon2d] as const) {
      const stored = await argon2.hash(normalizePassword('older scheme pass'), { ...fast, type });
      expect(stored.startsWith(type === argon2.argon2i ? '$argon2i$' : '$argon2d$')).toBe(true);
      expect(await hasher.verify(stored, 'older scheme pass')).toBe(true);
      expect(await hasher.verify(stored, 'older scheme pasS')).toBe(false);
    }
  });

  it('verifies bcrypt-sha256 hashes, also after the NFD spelling', async () => {
    const hasher = fastHasher();
    const stored = await hashBcryptSha256('pässwörd via sql', 4);
    expect(await hasher.verify(stored, 'pässwörd via sql'.normalize('NFD'))).toBe(true);
    expect(await hasher.verify(stored, 'pässwörd via SQL')).toBe(false);
    // The cost is written with two digits (r=04); one digit is read too.
    expect(stored).toContain(',r=04$');
    expect(await hasher.verify(stored.replace(',r=04$', ',r=4$'), 'pässwörd via sql')).toBe(true);
  });

  it('returns false for stored values that are not supported hashes', async () => {
    const hasher = fastHasher();
    const good = await hasher.hash('garbage test pass');
    const garbage = [
      '',
      'not a hash',
      '$argon2id$',
      '$argon2id$v=19$m=4096,t=1,p=1$%%%%$%%%%',
      good.slice(0, -10),
      good.replace('$argon2id$', '$scrypt$'),
      good.replace('m=4096', 'm=4194304'), // 4 GiB: refused, not run
      '$2a$04$' + 'a'.repeat(53), // plain bcrypt is not accepted
      '$bcrypt-sha256$v=2,t=2a,r=99$' + 'a'.repeat(22) + '$' + 'a'.repeat(31),
      'x'.repeat(100_000),
    ];
    for (const stored of garbage) expect(await hasher.verify(stored, 'garbage test pass')).toBe(false);
    expect(await hasher.verify(undefined as unknown as string, 'garbage test pass')).toBe(false);
  });
});

describe('PasswordHasher.needsRehash', () => {
  it('says yes for a weaker argon2id hash and for bcrypt-sha256, no for the defaults [P-02]', async () => {
    const hasher = new PasswordHasher();
    expect(hasher.needsRehash(await fastHasher().hash('rehash me please'))).toBe(true);
    expect(hasher.needsRehash(await hashBcryptSha256('rehash me please', 4))).toBe(true);
    expect(hasher.needsRehash(await hasher.hash('rehash me please'))).toBe(false);
  });

  it('says yes for argon2i, garbage and one cost below the configured one', async () => {
    const hasher = fastHasher();
    expect(hasher.needsRehash(await argon2.hash('x', { ...fast, type: argon2.argon2i }))).toBe(true);
    expect(hasher.needsRehash('garbage')).toBe(true);
    const stored = await hasher.hash('one cost lower');
    expect(hasher.needsRehash(stored)).toBe(false);
    expect(new PasswordHasher({ params: { ...fast, timeCost: 2 } }).needsRehash(stored)).toBe(true);
    expect(new PasswordHasher({ params: { ...fast, memoryCost: 8192 } }).needsRehash(stored)).toBe(true);
    expect(new PasswordHasher({ params: { ...fast, parallelism: 2 } }).needsRehash(stored)).toBe(true);
    // Stronger than configured is fine.
    expect(new PasswordHasher({ params: { ...fast, memoryCost: 2048 } }).needsRehash(stored)).toBe(false);
  });
});

describe('PasswordHasher.dummyHash', () => {
  it('makes one argon2id hash with the current costs and reuses it', async () => {
    const hasher = fastHasher();
    const first = await hasher.dummyHash();
    expect(await hasher.dummyHash()).toBe(first);
    const phc = parsePhc(first);
    expect(phc).toMatchObject({ id: 'argon2id', params: { m: 4096, t: 1, p: 1 } });
    expect(hasher.needsRehash(first)).toBe(false);
    expect(await hasher.verify(first, '')).toBe(false);
    expect(await fastHasher().dummyHash()).not.toBe(first);
  });

  it('tries again after a refused attempt', async () => {
    const hasher = new PasswordHasher({ params: fast, concurrency: 1, maxQueue: 0 });
    const blocker = hasher.hash('holds the only slot');
    expect((await rejected(hasher.dummyHash())).code).toBe(ErrorCodes.AUTH_BUSY);
    await blocker;
    expect(parsePhc(await hasher.dummyHash()).id).toBe('argon2id');
  });
});

describe('PasswordHasher concurrency limit', () => {
  it('accepts 5 of 10 simultaneous hashes with concurrency 2 and queue 3, never running more than 2', async () => {
    const hasher = new PasswordHasher({ params: fast, concurrency: 2, maxQueue: 3 });
    let maxActive = 0;
    const sample = () => (maxActive = Math.max(maxActive, hasher.stats().active));
    const timer = setInterval(sample, 1);
    const passwords = Array.from({ length: 10 }, (_, i) => `busy-password-marker-${i}`);
    const results = await Promise.allSettled(
      passwords.map((p) => {
        const result = hasher.hash(p);
        sample();
        return result;
      }),
    );
    clearInterval(timer);
    const fulfilled = results.filter((r) => r.status === 'fulfilled');
    const rejected = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as PgwardenError] : []));
    expect(fulfilled).toHaveLength(5);
    expect(rejected).toHaveLength(5);
    for (const err of rejected) {
      expect(err).toBeInstanceOf(PgwardenError);
      expect(err.code).toBe(ErrorCodes.AUTH_BUSY);
      expect(errorText(err)).not.toContain('busy-password-marker');
    }
    expect(maxActive).toBe(2);
    expect(hasher.stats()).toEqual({ active: 0, queued: 0, concurrency: 2, maxQueue: 3 });
  });

  it('lets AUTH_BUSY through verify instead of answering false, for argon2 and bcrypt-sha256', async () => {
    const hasher = new PasswordHasher({ params: fast, concurrency: 1, maxQueue: 0 });
    for (const stored of [await hasher.hash('verify when busy'), await hashBcryptSha256('verify when busy', 4)]) {
      const blocker = hasher.verify(stored, 'verify when busy');
      expect((await rejected(hasher.verify(stored, 'verify when busy'))).code).toBe(ErrorCodes.AUTH_BUSY);
      expect(await blocker).toBe(true);
    }
  });

  it('answers false for garbage and absurd costs without taking a slot', async () => {
    const hasher = new PasswordHasher({ params: fast, concurrency: 1, maxQueue: 0 });
    const stored = await hasher.hash('absurd costs');
    const blocker = hasher.hash('holds the only slot');
    // m = 4 GiB and t = 1000 would be a denial of service if a stored hash could ask for them.
    expect(await hasher.verify(stored.replace('m=4096', 'm=4194304'), 'absurd costs')).toBe(false);
    expect(await hasher.verify(stored.replace('t=1', 't=1000'), 'absurd costs')).toBe(false);
    expect(await hasher.verify('garbage', 'absurd costs')).toBe(false);
    await blocker;
  });
});

describe('HashLimiter', () => {
  it('runs at most `concurrency` tasks, queues the next in order and refuses the rest at once', async () => {
    const limiter = new HashLimiter({ concurrency: 2, maxQueue: 3 });
    const gates = Array.from({ length: 10 }, () => deferred());
    const started: number[] = [];
    let running = 0;
    let maxRunning = 0;
    const calls = gates.map((gate, i) =>
      limiter.run(async () => {
        started.push(i);
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        await gate.promise;
        running -= 1;
        return i;
      }),
    );
    const settled = Promise.allSettled(calls);
    expect(limiter.stats()).toEqual({ active: 2, queued: 3, concurrency: 2, maxQueue: 3 });
    for (const gate of gates) gate.resolve();
    const results = await settled;
    expect(results.map((r) => r.status)).toEqual([...Array(5).fill('fulfilled'), ...Array(5).fill('rejected')]);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(maxRunning).toBe(2);
    expect(limiter.stats()).toMatchObject({ active: 0, queued: 0 });
  });

  it('frees the slot when a task fails', async () => {
    const limiter = new HashLimiter({ concurrency: 1, maxQueue: 0 });
    await expect(limiter.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limiter.run(() => Promise.resolve('next'))).toBe('next');
    expect(limiter.stats().active).toBe(0);
  });

  it('refuses invalid limits', () => {
    expect(() => new HashLimiter({ concurrency: 0, maxQueue: 1 })).toThrow(PgwardenError);
    expect(() => new HashLimiter({ concurrency: 1, maxQueue: -1 })).toThrow(PgwardenError);
  });
});

describe('parsePhc', () => {
  it('parses an argon2id string', () => {
    const salt = Buffer.alloc(16, 7);
    const hash = Buffer.alloc(32, 9);
    const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');
    const phc = parsePhc(`$argon2id$v=19$m=19456,t=2,p=1$${b64(salt)}$${b64(hash)}`);
    expect(phc).toEqual({ id: 'argon2id', version: 19, params: { m: 19456, t: 2, p: 1 }, salt, hash });
  });

  it('parses a bcrypt-sha256 string with bcrypt Base64', async () => {
    const phc = parsePhc(await hashBcryptSha256('parse me', 4));
    expect(phc.id).toBe('bcrypt-sha256');
    expect(phc.version).toBeUndefined();
    expect(phc.params).toEqual({ v: 2, t: '2a', r: 4 });
    expect(phc.salt.length).toBe(16);
    expect(phc.hash.length).toBe(23);
  });

  it('throws PW310 on malformed strings without quoting them', () => {
    for (const bad of [
      'argon2id$v=19$m=1$c2FsdA$aGFzaA',
      '$ARGON$v=19$m=1$c2FsdA$aGFzaA',
      '$argon2id$v=19$m=1$c2Fsd*A$aGFzaA',
      '$argon2id$v=19$m=1,m=2$c2FsdA$aGFzaA',
      '$argon2id$v=19$m=1$c2FsdA',
      '$argon2id$v=19$m=1$c2FsdA$aGFzaA$extra',
      '$bcrypt-sha256$v=2,t=2a,r=4$short$short',
      `$argon2id$v=19$m=1$${'A'.repeat(600)}$aGFzaA`,
    ]) {
      let caught: unknown;
      try {
        parsePhc(bad);
      } catch (err) {
        caught = err;
      }
      expect(caught, bad).toBeInstanceOf(PgwardenError);
      expect((caught as PgwardenError).code).toBe(ErrorCodes.AUTH_INVALID_INPUT);
      expect(errorText(caught as PgwardenError)).not.toContain('c2Fsd');
    }
  });
});

describe('bcrypt-sha256', () => {
  it('round-trips in Node and keeps every character past byte 72', async () => {
    const long = 'l'.repeat(90) + 'tail-A-end';
    const stored = await hashBcryptSha256(long, 4);
    expect(stored).toMatch(/^\$bcrypt-sha256\$v=2,t=2a,r=04\$[./A-Za-z0-9]{22}\$[./A-Za-z0-9]{31}$/);
    expect(await verifyBcryptSha256(stored, long)).toBe(true);
    expect(await verifyBcryptSha256(stored, 'l'.repeat(90) + 'tail-B-end')).toBe(false);
  });

  it('converts a crypt() string to the stored form and refuses other input', async () => {
    const salt = 'abcdefghijklmnopqrstuv';
    const hash = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ01234';
    expect(bcryptSha256FromCrypt(`$2a$04$${salt}${hash}`)).toBe(`$bcrypt-sha256$v=2,t=2a,r=04$${salt}$${hash}`);
    expect(() => bcryptSha256FromCrypt('$2a$04$short')).toThrow(PgwardenError);
    await expect(hashBcryptSha256('x', 3)).rejects.toThrow(PgwardenError);
  });

  describe('against pgcrypto', () => {
    const sqlHash = `select crypt(encode(hmac(convert_to(normalize($1, NFKC), 'UTF8'), convert_to($2, 'UTF8'), 'sha256'), 'base64'), $2) as crypt`;

    async function hashInSql(passwords: string[]): Promise<string[]> {
      const db = await emptyDatabase();
      return withClient(db, async (client) => {
        await client.query('create extension if not exists pgcrypto');
        const out: string[] = [];
        for (const password of passwords) {
          const { rows: salts } = await client.query<{ salt: string }>(`select gen_salt('bf', 4) as salt`);
          const salt = salts[0]!.salt;
          expect(salt).toMatch(/^\$2a\$04\$[./A-Za-z0-9]{22}$/);
          const { rows } = await client.query<{ crypt: string }>(sqlHash, [password, salt]);
          out.push(bcryptSha256FromCrypt(rows[0]!.crypt));
        }
        return out;
      });
    }

    it('verifies in Node a hash made by pgcrypto, and no password differing only past byte 72', async () => {
      const short = 'Grüße aus SQL';
      const long = 'q'.repeat(80) + 'twenty chars: A-side';
      const other = 'q'.repeat(80) + 'twenty chars: B-side';
      expect(long).toHaveLength(100);
      const [shortHash, longHash] = await hashInSql([short, long]);
      const hasher = fastHasher();
      expect(await hasher.verify(shortHash!, short)).toBe(true);
      expect(await hasher.verify(shortHash!, short.normalize('NFD'))).toBe(true);
      expect(await hasher.verify(shortHash!, 'grüße aus sql')).toBe(false);
      expect(await hasher.verify(longHash!, long)).toBe(true);
      expect(await hasher.verify(longHash!, other)).toBe(false);
    });

    it('produces in Node a hash pgcrypto recomputes identically', async () => {
      const password = 'Grüße aus Node';
      const stored = await hashBcryptSha256(password, 4);
      const { params, id } = parsePhc(stored);
      expect({ id, params }).toEqual({ id: 'bcrypt-sha256', params: { v: 2, t: '2a', r: 4 } });
      const [, , , salt22, hash31] = stored.split('$');
      const salt = `$2a$04$${salt22}`;
      const db = await emptyDatabase();
      const crypt = await withClient(db, async (client) => {
        await client.query('create extension if not exists pgcrypto');
        return (await client.query<{ crypt: string }>(sqlHash, [password, salt])).rows[0]!.crypt;
      });
      expect(crypt).toBe(`${salt}${hash31}`);
    });
  });
});

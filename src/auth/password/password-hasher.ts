import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import argon2 from 'argon2';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { verifyBcryptSha256 } from './bcrypt-sha256.js';
import { HashLimiter, type HashLimiterStats } from './hash-limiter.js';
import { normalizePassword } from './normalize.js';
import { parsePhc, type PhcHash } from './phc.js';

/** argon2id cost parameters. */
export interface Argon2Params {
  /** Memory in KiB. */
  memoryCost: number;
  /** Passes over memory. */
  timeCost: number;
  /** Lanes. */
  parallelism: number;
}

/**
 * OWASP Password Storage Cheat Sheet's argon2id baseline: 19 MiB, 2 passes, 1 lane.
 *
 * @example
 * new PasswordHasher({ params: { ...defaultArgon2Params, memoryCost: 47104, timeCost: 1 } });
 */
export const defaultArgon2Params: Readonly<Argon2Params> = Object.freeze({
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
});

/** Default number of hash calls that may wait for a slot before PW311. */
export const DEFAULT_HASH_MAX_QUEUE = 256;

/**
 * Longest password input hashed or verified, in UTF-16 code units: far above any policy's maximum
 * (256 code points by default), low enough that a megabyte "password" is not normalised and hashed.
 */
export const MAX_PASSWORD_INPUT_LENGTH = 4096;

/** Options of a PasswordHasher. */
export interface PasswordHasherOptions {
  /** Cost of new hashes, and the floor below which `needsRehash` says yes. */
  params?: Partial<Argon2Params> | undefined;
  /** argon2 operations at once; default `os.availableParallelism()`. */
  concurrency?: number | undefined;
  /** Calls that may wait for a slot; default 256. */
  maxQueue?: number | undefined;
}

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const ARGON2_VERSION = 0x13;
/** Stored hashes asking for more than this are refused rather than run: a stored hash is not a DoS lever. */
const MAX_VERIFY_COST = { m: 1 << 20, t: 64, p: 64 } as const;

/**
 * Hashes and verifies passwords: argon2id for new hashes, argon2i/argon2d and the SQL path's
 * bcrypt-sha256 accepted on verify. Every password is NFKC-normalised first, and every hash or
 * verify waits for a slot in a HashLimiter, so memory stays bounded under a login storm.
 *
 * @example
 * const hasher = new PasswordHasher();
 * const stored = await hasher.hash('correct horse battery staple');
 * const ok = await hasher.verify(user ? user.passwordHash : await hasher.dummyHash(), submitted);
 * if (ok && user && hasher.needsRehash(user.passwordHash)) await save(await hasher.hash(submitted));
 */
export class PasswordHasher {
  readonly #params: Readonly<Argon2Params>;
  readonly #limiter: HashLimiter;
  #dummy: Promise<string> | undefined;

  constructor(options: PasswordHasherOptions = {}) {
    this.#params = Object.freeze(validParams({ ...defaultArgon2Params, ...options.params }));
    this.#limiter = new HashLimiter({
      concurrency: options.concurrency ?? availableParallelism(),
      maxQueue: options.maxQueue ?? DEFAULT_HASH_MAX_QUEUE,
    });
  }

  /** The cost parameters new hashes get. */
  get params(): Readonly<Argon2Params> {
    return this.#params;
  }

  /**
   * Hashes a password into an argon2id PHC string with a fresh 16-byte salt. Rejects with PW311
   * when too many hashes are queued, and with PW310 for input over MAX_PASSWORD_INPUT_LENGTH.
   *
   * @example
   * const stored = await hasher.hash(newPassword); // '$argon2id$v=19$m=19456,t=2,p=1$…$…'
   */
  async hash(password: string): Promise<string> {
    if (typeof password !== 'string' || password.length > MAX_PASSWORD_INPUT_LENGTH) {
      throw new PgwardenError(ErrorCodes.AUTH_INVALID_INPUT, 'the password is too long to hash', {
        detail: `at most ${MAX_PASSWORD_INPUT_LENGTH} UTF-16 code units are accepted`,
      });
    }
    const input = normalizePassword(password);
    const { memoryCost, timeCost, parallelism } = this.#params;
    return this.#limiter.run(() =>
      argon2.hash(input, {
        type: argon2.argon2id,
        version: ARGON2_VERSION,
        memoryCost,
        timeCost,
        parallelism,
        hashLength: HASH_BYTES,
        salt: randomBytes(SALT_BYTES),
      }),
    );
  }

  /**
   * True when `password` matches the stored hash. False for a wrong password and for anything that
   * is not a supported, sane hash (it never throws on a stored value); rejects with PW311 when busy.
   *
   * @example
   * if (!(await hasher.verify(row.password_hash, submitted))) throw invalidCredentials();
   */
  async verify(phc: string, password: string): Promise<boolean> {
    if (typeof password !== 'string' || password.length > MAX_PASSWORD_INPUT_LENGTH) return false;
    const kind = verifiableKind(phc);
    if (kind === undefined) return false;
    const input = normalizePassword(password);
    if (kind === 'bcrypt-sha256') return this.#limiter.run(() => verifyBcryptSha256(phc, input));
    return this.#limiter.run(async () => {
      try {
        return await argon2.verify(phc, input);
      } catch {
        return false;
      }
    });
  }

  /**
   * True when the stored hash should be replaced at the next successful login: it is not argon2id
   * v19, or its memory, passes, lanes, salt or output are below what this hasher uses.
   *
   * @example
   * if (hasher.needsRehash(row.password_hash)) await updateHash(userId, await hasher.hash(submitted));
   */
  needsRehash(phc: string): boolean {
    let parsed: PhcHash;
    try {
      parsed = parsePhc(phc);
    } catch {
      return true;
    }
    const { m, t, p } = parsed.params;
    if (parsed.id !== 'argon2id' || parsed.version !== ARGON2_VERSION) return true;
    if (typeof m !== 'number' || typeof t !== 'number' || typeof p !== 'number') return true;
    const want = this.#params;
    return (
      m < want.memoryCost ||
      t < want.timeCost ||
      p < want.parallelism ||
      parsed.salt.length < SALT_BYTES ||
      parsed.hash.length < HASH_BYTES
    );
  }

  /**
   * An argon2id hash of a random, discarded secret with this hasher's parameters, made once and
   * reused. Verify against it when the user does not exist, so the reply takes as long as for a
   * real account and does not reveal which accounts exist.
   *
   * @example
   * const stored = user?.passwordHash ?? (await hasher.dummyHash());
   * const ok = (await hasher.verify(stored, submitted)) && user !== undefined;
   */
  dummyHash(): Promise<string> {
    if (this.#dummy === undefined) {
      const pending = this.hash(randomBytes(32).toString('base64url'));
      this.#dummy = pending;
      // A refused attempt (PW311) must not be cached; the next call tries again.
      pending.catch(() => {
        if (this.#dummy === pending) this.#dummy = undefined;
      });
    }
    return this.#dummy;
  }

  /**
   * The limiter's current load.
   *
   * @example
   * metrics.set('pgwarden_password_hash_queue', hasher.stats().queued);
   */
  stats(): HashLimiterStats {
    return this.#limiter.stats();
  }
}

/** Which verifier a stored hash needs, or undefined when it is not one we accept. */
function verifiableKind(phc: string): 'argon2' | 'bcrypt-sha256' | undefined {
  let parsed: PhcHash;
  try {
    parsed = parsePhc(phc);
  } catch {
    return undefined;
  }
  if (parsed.id === 'bcrypt-sha256') return 'bcrypt-sha256';
  if (!['argon2id', 'argon2i', 'argon2d'].includes(parsed.id)) return undefined;
  if (parsed.version !== undefined && parsed.version !== 0x10 && parsed.version !== ARGON2_VERSION) return undefined;
  const { m, t, p } = parsed.params;
  if (typeof m !== 'number' || typeof t !== 'number' || typeof p !== 'number') return undefined;
  if (m > MAX_VERIFY_COST.m || t > MAX_VERIFY_COST.t || p > MAX_VERIFY_COST.p) return undefined;
  return 'argon2';
}

function validParams(params: Argon2Params): Argon2Params {
  const { memoryCost, timeCost, parallelism } = params;
  const ok =
    [memoryCost, timeCost, parallelism].every((n) => Number.isInteger(n) && n >= 1) &&
    parallelism <= MAX_VERIFY_COST.p &&
    timeCost <= MAX_VERIFY_COST.t &&
    memoryCost >= 8 * parallelism &&
    memoryCost <= MAX_VERIFY_COST.m;
  if (!ok) {
    throw new PgwardenError(ErrorCodes.CONFIG_INVALID, 'the argon2 parameters are invalid', {
      detail: `memoryCost (KiB) must be from 8 × parallelism to ${MAX_VERIFY_COST.m}, timeCost from 1 to ${MAX_VERIFY_COST.t}, parallelism from 1 to ${MAX_VERIFY_COST.p}`,
    });
  }
  return { memoryCost, timeCost, parallelism };
}

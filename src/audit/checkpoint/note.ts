import { createHash } from 'node:crypto';
import { ErrorCodes, PgwardenError } from '../../errors/index.js';

/**
 * Signature algorithms pgwarden puts on notes. `ed25519` is C2SP signature type 0x01,
 * `cosignature-ed25519` the timestamped witness cosignature (type 0x04, c2sp.org/tlog-cosignature).
 * C2SP assigns no type byte to ML-DSA-65 (0x06 is ML-DSA-44 cosignatures only), so `ml-dsa-65` uses
 * the private-use byte 0xff followed by the identifier `pgwarden/ml-dsa-65` (see `ML_DSA_65_TYPE`).
 */
export type NoteAlgorithm = 'ed25519' | 'ml-dsa-65' | 'cosignature-ed25519';

/** Signature type bytes: what goes into key ids and verifier keys ahead of the public key. */
export const SignatureTypes: Readonly<Record<NoteAlgorithm, Uint8Array>> = Object.freeze({
  ed25519: Uint8Array.of(0x01),
  'cosignature-ed25519': Uint8Array.of(0x04),
  // 0xff = "no identifier byte assigned" in c2sp.org/signed-note, followed by a longer identifier.
  'ml-dsa-65': Buffer.concat([Uint8Array.of(0xff), Buffer.from('pgwarden/ml-dsa-65', 'ascii')]),
});

/** The private-use type of ML-DSA-65 note signatures: 0xff ‖ ASCII `pgwarden/ml-dsa-65`. */
export const ML_DSA_65_TYPE = SignatureTypes['ml-dsa-65'];

/** Public key lengths per algorithm, checked when a verifier key is parsed. */
export const PUBLIC_KEY_BYTES: Readonly<Record<NoteAlgorithm, number>> = Object.freeze({
  ed25519: 32,
  'cosignature-ed25519': 32,
  'ml-dsa-65': 1952,
});

/** Verifiers must accept at least 16 signatures (C2SP); beyond this many a note is refused. */
export const MAX_SIGNATURES = 64;
/** Largest note accepted, in bytes: room for dozens of ML-DSA-65 signatures (about 4.4 KiB each in base64). */
export const MAX_NOTE_BYTES = 512 * 1024;

/** One key that can check note signatures; built from a verifier key by `parseVerifierKey`. */
export interface NoteVerifier {
  readonly name: string;
  /** The 32-bit key id, big-endian, as in the signature line. */
  readonly keyId: number;
  readonly algorithm: NoteAlgorithm;
  /** The verifier key string `<name>+<hex id>+<base64(type ‖ public key)>`. */
  readonly vkey: string;
  /** Checks `signature` (without the 4-byte key id) over the note text. */
  verify(text: Uint8Array, signature: Uint8Array): boolean;
}

/** One key that signs notes. Implementations never reveal private material in JSON or logs. */
export interface NoteSigner {
  readonly name: string;
  readonly keyId: number;
  readonly algorithm: NoteAlgorithm;
  readonly vkey: string;
  /** The signature over the note text, without the 4-byte key id. */
  sign(text: Uint8Array): Uint8Array;
}

/** One signature line of a note. */
export interface NoteSignature {
  readonly name: string;
  readonly keyId: number;
  /** The signature bytes after the 4-byte key id. */
  readonly signature: Uint8Array;
  /** The whole line, `— <name> <base64>` without the newline. */
  readonly line: string;
}

/** A note split into its text (ending in a newline) and its signature lines. */
export interface ParsedNote {
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

/** A note whose signatures were checked: the keys whose signatures verified, each once. */
export interface VerifiedNote extends ParsedNote {
  readonly verifiedBy: readonly NoteVerifier[];
}

const EM_DASH = '\u2014';
const strictBase64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// Control characters other than newline; C2SP allows none of them anywhere in a note.
// eslint-disable-next-line no-control-regex
const controlChars = /[\u0000-\u0009\u000b-\u001f]/;

/**
 * The C2SP key id: the first 4 bytes of SHA-256(name ‖ 0x0A ‖ type ‖ public key), big-endian.
 *
 * @example
 * keyIdOf('example.com/foo', SignatureTypes.ed25519, publicKey); // 0x530d903a for the C2SP example key
 */
export function keyIdOf(name: string, type: Uint8Array, publicKey: Uint8Array): number {
  const digest = createHash('sha256').update(name, 'utf8').update('\n').update(type).update(publicKey).digest();
  return digest.readUInt32BE(0);
}

/**
 * Whether `name` is a valid key name: non-empty, no Unicode space and no `+`.
 *
 * @example
 * isValidKeyName('pgwarden.example/db1'); // true
 */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name) && !controlChars.test(name) && isWellFormed(name);
}

/**
 * Decodes strict standard base64 (RFC 4648 §4, padded), or returns undefined.
 *
 * @example
 * decodeBase64('AQI='); // Uint8Array [1, 2]
 */
export function decodeBase64(text: string): Buffer | undefined {
  if (!strictBase64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/** The 8-digit lowercase hex form of a key id. */
export function keyIdHex(keyId: number): string {
  return keyId.toString(16).padStart(8, '0');
}

/**
 * Splits a signed note into its text and signature lines, checking the C2SP format: valid UTF-8,
 * no control characters but newline, text ending in a newline, a blank line, then one or more
 * `— <name> <base64(key id ‖ signature)>` lines. Signatures are not checked here.
 *
 * @example
 * const { text, signatures } = parseNote(body);
 */
export function parseNote(input: string | Uint8Array): ParsedNote {
  const note = decodeNote(input);
  if (!note.endsWith('\n')) malformed('the note does not end in a newline');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) malformed('the note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) malformed(`the note has more than ${MAX_SIGNATURES} signatures`);
  const signatures = lines.map(parseSignatureLine);
  return { text, signatures };
}

/**
 * Formats a note from its text and signature lines (each `— name base64`, no newline).
 *
 * @example
 * const note = formatNote('hello\n', signatures.map((s) => s.line));
 */
export function formatNote(text: string, signatureLines: readonly string[]): string {
  checkText(text);
  if (signatureLines.length === 0) malformed('a note needs at least one signature');
  for (const line of signatureLines) parseSignatureLine(line);
  return `${text}\n${signatureLines.map((line) => `${line}\n`).join('')}`;
}

/**
 * The signature line of `signer` over `text`.
 *
 * @example
 * const line = signatureLine(signer, 'hello\n'); // '— example.com/foo Uw2Q…'
 */
export function signatureLine(signer: NoteSigner, text: string): string {
  checkText(text);
  const id = Buffer.alloc(4);
  id.writeUInt32BE(signer.keyId >>> 0);
  const sig = signer.sign(Buffer.from(text, 'utf8'));
  return `${EM_DASH} ${signer.name} ${Buffer.concat([id, sig]).toString('base64')}`;
}

/**
 * Signs `text` with each signer, giving the whole signed note.
 *
 * @example
 * const note = signNote('pgwarden.example/db1\n10\n…=\n', [ed25519Key, mlDsaKey]);
 */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  return formatNote(
    text,
    signers.map((signer) => signatureLine(signer, text)),
  );
}

/**
 * Adds signature lines (a witness's cosignatures, say) to a signed note, dropping exact duplicates.
 *
 * @example
 * const cosigned = addSignatureLines(note, response.cosignatures);
 */
export function addSignatureLines(note: string, lines: readonly string[]): string {
  const parsed = parseNote(note);
  const all = parsed.signatures.map((s) => s.line);
  for (const line of lines) if (!all.includes(line)) all.push(line);
  return formatNote(parsed.text, all);
}

/**
 * Verifies a note against trusted keys, following c2sp.org/signed-note: signatures whose
 * (name, key id) match no verifier are ignored and never counted; a signature from a known key
 * that fails rejects the whole note; at least one known signature must verify. A key that signed
 * twice counts once.
 *
 * @example
 * const { text, verifiedBy } = verifyNote(body, [logVerifier]);
 */
export function verifyNote(input: string | Uint8Array | ParsedNote, verifiers: readonly NoteVerifier[]): VerifiedNote {
  const parsed = typeof input === 'object' && 'signatures' in input ? input : parseNote(input);
  const message = Buffer.from(parsed.text, 'utf8');
  const verifiedBy: NoteVerifier[] = [];
  for (const sig of parsed.signatures) {
    const matches = verifiers.filter((v) => v.name === sig.name && v.keyId === sig.keyId);
    if (matches.length === 0) continue;
    // Several verifiers may share name and id only by accident; any one that verifies is enough.
    const ok = matches.find((v) => safeVerify(v, message, sig.signature));
    if (!ok) {
      throw new PgwardenError(ErrorCodes.AUDIT_NOTE_UNVERIFIED, 'a signature from a trusted key does not verify', {
        detail: `key ${sig.name}+${keyIdHex(sig.keyId)}`,
        hint: 'the note was altered or signed with another key under the same name and id; reject it',
      });
    }
    if (!verifiedBy.includes(ok)) verifiedBy.push(ok);
  }
  if (verifiedBy.length === 0) {
    throw new PgwardenError(ErrorCodes.AUDIT_NOTE_UNVERIFIED, 'the note has no signature from a trusted key', {
      detail: `signed by ${parsed.signatures.map((s) => `${s.name}+${keyIdHex(s.keyId)}`).join(', ')}`,
      hint: 'check the verifier keys configured for this origin',
    });
  }
  return { ...parsed, verifiedBy };
}

function safeVerify(verifier: NoteVerifier, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verifier.verify(message, signature);
  } catch {
    return false;
  }
}

function decodeNote(input: string | Uint8Array): string {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.byteLength;
  if (size > MAX_NOTE_BYTES) malformed(`the note is larger than ${MAX_NOTE_BYTES} bytes`);
  let note: string;
  if (typeof input === 'string') {
    if (!isWellFormed(input)) malformed('the note is not valid UTF-8');
    note = input;
  } else {
    try {
      note = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
    } catch {
      malformed('the note is not valid UTF-8');
    }
  }
  if (controlChars.test(note)) malformed('the note contains a control character other than newline');
  return note;
}

function checkText(text: string): void {
  if (!text.endsWith('\n')) malformed('the note text does not end in a newline');
  if (!isWellFormed(text)) malformed('the note text is not valid UTF-8');
  if (controlChars.test(text)) malformed('the note text contains a control character other than newline');
}

function parseSignatureLine(line: string): NoteSignature {
  const parts = line.split(' ');
  if (parts.length !== 3 || parts[0] !== EM_DASH) malformed('a signature line is not "— <key name> <base64>"');
  const name = parts[1] ?? '';
  const encoded = parts[2] ?? '';
  if (!isValidKeyName(name)) malformed('a signature line has an invalid key name');
  const bytes = decodeBase64(encoded);
  if (bytes === undefined || bytes.length < 5) malformed('a signature line does not hold base64(key id ‖ signature)');
  return { name, keyId: bytes.readUInt32BE(0), signature: new Uint8Array(bytes.subarray(4)), line };
}

function isWellFormed(text: string): boolean {
  // Lone surrogates cannot be encoded as UTF-8; a round trip replaces them.
  return Buffer.from(text, 'utf8').toString('utf8') === text;
}

function malformed(message: string): never {
  throw new PgwardenError(ErrorCodes.AUDIT_NOTE_MALFORMED, message, {
    hint: 'a signed note is UTF-8 text ending in a newline, a blank line, then "— <key name> <base64>" lines',
  });
}

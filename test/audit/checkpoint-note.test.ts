import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  addSignatureLines,
  exportNoteKey,
  generateNoteKey,
  importNoteKey,
  type KeySealer,
  keyIdHex,
  ML_DSA_65_TYPE,
  openNoteKey,
  parseNote,
  parseVerifierKey,
  sealNoteKey,
  signNote,
  verifyNote,
} from '../../src/audit/checkpoint/index.js';
import { ErrorCodes } from '../../src/errors/index.js';
import { caught } from '../helpers/errors.js';

// Known-answer vector from c2sp.org/signed-note ("Verifier keys", Example).
const C2SP_VKEY = 'example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k';
const C2SP_NOTE =
  'This is an example message.\n\n' +
  '— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n';

const key = generateNoteKey('pgwarden.example/db1', 'ed25519');
const text = 'pgwarden.example/db1\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n';

describe('signed notes (c2sp.org/signed-note)', () => {
  it('verifies the C2SP example note with the C2SP example verifier key', () => {
    const verifier = parseVerifierKey(C2SP_VKEY);
    expect(verifier).toMatchObject({ name: 'example.com/foo', keyId: 0x530d903a, algorithm: 'ed25519' });
    expect(verifier.vkey).toBe(C2SP_VKEY);
    const note = verifyNote(C2SP_NOTE, [verifier]);
    expect(note.text).toBe('This is an example message.\n');
    expect(note.verifiedBy).toEqual([verifier]);
  });

  it('denies the C2SP example once one character of the text changes', () => {
    const err = caught(() =>
      verifyNote(C2SP_NOTE.replace('example message', 'example massage'), [parseVerifierKey(C2SP_VKEY)]),
    );
    expect(err.code).toBe(ErrorCodes.AUDIT_NOTE_UNVERIFIED);
  });

  it('round-trips Ed25519 and ML-DSA-65 signatures and their vkeys', () => {
    const pq = generateNoteKey('pgwarden.example/db1', 'ml-dsa-65');
    const note = signNote(text, [key, pq]);
    const verifiers = [parseVerifierKey(key.vkey), parseVerifierKey(pq.vkey)];
    expect(verifyNote(note, verifiers).verifiedBy.map((v) => v.algorithm)).toEqual(['ed25519', 'ml-dsa-65']);
    // The ML-DSA-65 vkey carries the private-use type 0xff ‖ "pgwarden/ml-dsa-65" before the 1952-byte key.
    const material = Buffer.from(pq.vkey.slice(pq.vkey.indexOf('+') + 10), 'base64');
    expect(material.subarray(0, ML_DSA_65_TYPE.length)).toEqual(Buffer.from(ML_DSA_65_TYPE));
    expect(material[0]).toBe(0xff);
    expect(material.length).toBe(ML_DSA_65_TYPE.length + 1952);
  });

  it('ignores signatures from unknown keys and never counts them', () => {
    const stranger = generateNoteKey('evil.example/log', 'ed25519');
    const sameName = generateNoteKey('pgwarden.example/db1', 'ed25519');
    const note = signNote(text, [stranger, sameName, key]);
    const verified = verifyNote(note, [parseVerifierKey(key.vkey)]);
    expect(verified.verifiedBy.map((v) => v.vkey)).toEqual([key.vkey]);
    // Only unknown keys: the note is refused, however many signatures it carries.
    const onlyUnknown = signNote(text, [stranger, sameName]);
    expect(caught(() => verifyNote(onlyUnknown, [parseVerifierKey(key.vkey)])).code).toBe(
      ErrorCodes.AUDIT_NOTE_UNVERIFIED,
    );
  });

  it('counts a key that signed twice once, and denies a note where a known key signature fails', () => {
    const note = signNote(text, [key, key]);
    expect(parseNote(note).signatures).toHaveLength(2);
    expect(verifyNote(note, [key.verifier]).verifiedBy).toHaveLength(1);
    const good = parseNote(note).signatures[0]?.line ?? '';
    const bytes = Buffer.from(good.split(' ')[2] ?? '', 'base64');
    bytes[10] = (bytes[10] ?? 0) ^ 1;
    const forged = `${text}\n${good}\n— ${key.name} ${bytes.toString('base64')}\n`;
    expect(caught(() => verifyNote(forged, [key.verifier])).code).toBe(ErrorCodes.AUDIT_NOTE_UNVERIFIED);
  });

  it('denies malformed notes and signature lines', () => {
    const line = parseNote(signNote(text, [key])).signatures[0]?.line ?? '';
    const sig = line.split(' ')[2] ?? '';
    const bad = [
      `${text}\n${line}`, // no final newline
      `${text}${line}\n`, // no blank line
      `${text}\n`, // no signatures
      `${text}\n- ${key.name} ${sig}\n`, // hyphen instead of em dash
      `${text}\n— ${key.name}  ${sig}\n`, // two spaces
      `${text}\n— ${key.name} ${sig} extra\n`, // trailing field
      `${text}\n— ${key.name} ${sig.slice(0, -1)}\n`, // bad base64 padding
      `${text}\n— ${key.name} AAAA\n`, // shorter than a key id plus signature
      `${text}\n— a+b ${sig}\n`, // '+' in the key name
      `${text}\n— ${key.name} ${sig}\r\n`, // CR
      `pgwarden\tx\n3\n\n${line}\n`, // tab in the text
      `${text}\n— ${key.name} ${sig}\n`.replace('\n3\n', '\n3\u0000\n'),
      '\ud800\n\n' + `${line}\n`, // lone surrogate
    ];
    for (const note of bad) {
      expect(caught(() => verifyNote(note, [key.verifier])).code, JSON.stringify(note)).toBe(
        ErrorCodes.AUDIT_NOTE_MALFORMED,
      );
    }
  });

  it('denies non-UTF-8 bytes and accepts the same note as valid UTF-8 bytes', () => {
    const note = signNote(text, [key]);
    expect(verifyNote(Buffer.from(note, 'utf8'), [key.verifier]).text).toBe(text);
    const broken = Buffer.concat([Buffer.from([0xc3, 0x28, 0x0a]), Buffer.from(note, 'utf8')]);
    expect(caught(() => parseNote(broken)).code).toBe(ErrorCodes.AUDIT_NOTE_MALFORMED);
  });

  it('separates text and signatures at the last blank line', () => {
    const multi = 'line one\n\nline three\n';
    const note = signNote(multi, [key]);
    expect(verifyNote(note, [key.verifier]).text).toBe(multi);
  });

  it('adds cosignature lines without duplicating them', () => {
    const note = signNote(text, [key]);
    const other = generateNoteKey('witness.example/w1', 'ed25519');
    const extra = parseNote(signNote(text, [other])).signatures[0]?.line ?? '';
    const once = addSignatureLines(note, [extra]);
    expect(addSignatureLines(once, [extra])).toBe(once);
    expect(parseNote(once).signatures).toHaveLength(2);
  });

  it('denies verifier keys whose id does not match, or with an unknown type', () => {
    const name = key.name;
    const hex = keyIdHex(key.keyId);
    const material = key.vkey.slice(name.length + 10);
    const wrongId = `${name}+${keyIdHex((parseInt(hex, 16) + 1) >>> 0)}+${material}`;
    const otherName = `pgwarden.example/db2+${hex}+${material}`;
    const unknownType = `${name}+${hex}+${Buffer.concat([Buffer.of(0x09), Buffer.from(material, 'base64').subarray(1)]).toString('base64')}`;
    for (const vkey of [wrongId, otherName, unknownType, 'no-plus', `${name}+${hex}`]) {
      expect(caught(() => parseVerifierKey(vkey)).code).toBe(ErrorCodes.AUDIT_NOTE_MALFORMED);
    }
  });
});

describe('note keys', () => {
  const sealer: KeySealer = {
    seal: (plaintext, aad) => Buffer.concat([Buffer.from(`${aad}|`), plaintext]),
    open: (sealed, aad) => {
      const prefix = Buffer.from(`${aad}|`);
      if (!Buffer.from(sealed).subarray(0, prefix.length).equals(prefix)) throw new Error('wrong aad');
      return Buffer.from(sealed).subarray(prefix.length);
    },
  };

  it('round-trips both algorithms through the opaque private form and the caller’s sealer', () => {
    for (const algorithm of ['ed25519', 'ml-dsa-65', 'cosignature-ed25519'] as const) {
      const original = generateNoteKey('pgwarden.example/db1', algorithm);
      const again = importNoteKey(original.name, exportNoteKey(original));
      expect(again.vkey).toBe(original.vkey);
      const opened = openNoteKey(sealer, original.vkey, sealNoteKey(sealer, original));
      expect(verifyNote(signNote(text, [opened]), [original.verifier]).verifiedBy).toHaveLength(1);
    }
  });

  it('never prints private material in JSON, inspect or string form', () => {
    const secret = exportNoteKey(key).subarray(2);
    const shown = [JSON.stringify({ key }), inspect(key, { showHidden: true, depth: 9 }), `${key}`];
    for (const out of shown) {
      expect(out).toContain(keyIdHex(key.keyId));
      expect(out).not.toContain(secret.toString('hex'));
      expect(out).not.toContain(secret.toString('base64'));
    }
  });

  it('denies a sealed key opened under another vkey', () => {
    const other = generateNoteKey('pgwarden.example/db2', 'ed25519');
    expect(() => openNoteKey(sealer, other.vkey, sealNoteKey(sealer, key))).toThrow();
  });
});

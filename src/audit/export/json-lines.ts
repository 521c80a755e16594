import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { leafHashOfText } from '../ledger/encoding.js';
import { decodeHash, encodeHash, hashesEqual } from '../merkle/index.js';
import { type ExportRecord, type ExportSourceName, RECORD_KEYS, toExportRecord } from './export-record.js';
import { JsonNumber, type JsonObject, jsonTextEqual, parseJsonText, stringifyJsonText } from './json-text.js';

/**
 * One record as a JSON line (no trailing newline): `position`, `source`, `leaf_hash` (base64),
 * the readable fields, and last the canonical `leaf` text that `leaf_hash` is the hash of.
 *
 * @example
 * formatJsonLine(record);
 * // {"position":0,"source":"row_change","leaf_hash":"…","id":1,"time":"…","op":"INSERT",…,"leaf":"[…]"}
 */
export function formatJsonLine(record: ExportRecord): string {
  const out: JsonObject = new Map();
  out.set('position', new JsonNumber(String(record.position)));
  out.set('source', record.source);
  out.set('leaf_hash', encodeHash(record.leafHash, 'leaf hash'));
  for (const [k, v] of record.fields) out.set(k, v);
  out.set('leaf', record.leaf);
  return stringifyJsonText(out);
}

/** What `checkExportedRecord` vouches for: prove `leafHash` at `position` with an inclusion proof. */
export interface CheckedRecord {
  position: number;
  leafHash: Uint8Array;
  source: ExportSourceName;
  /** The canonical leaf text. */
  leaf: string;
}

function refuse(message: string, detail?: string): PgwardenError {
  return new PgwardenError(ErrorCodes.LEDGER_PROOF_FAILED, message, {
    detail,
    hint: 'the record was changed after export, or is not a pgwarden export; take the record from the ledger again',
  });
}

/**
 * Checks one exported JSON-lines record on its own: its `leaf` hashes to its `leaf_hash`, and
 * every readable field says exactly what the leaf says (no field added, dropped or changed;
 * numbers compared digit for digit). What it does not check is that the leaf hash really sits
 * at `position` in the ledger: that is the inclusion proof's job, against a signed checkpoint.
 * Throws `PW434` (LEDGER_PROOF_FAILED) naming the first difference.
 *
 * @example
 * const { position, leafHash } = checkExportedRecord(line);
 * verifyInclusion(leafHash, position, checkpoint.size, proof, checkpoint.root);
 */
export function checkExportedRecord(line: string): CheckedRecord {
  let parsed;
  try {
    parsed = parseJsonText(line);
  } catch (err) {
    throw refuse('the exported record is not JSON', (err as Error).message);
  }
  if (!(parsed instanceof Map)) throw refuse('the exported record is not a JSON object');
  const position = parsed.get('position');
  if (!(position instanceof JsonNumber) || !/^(0|[1-9][0-9]{0,15})$/.test(position.text)) {
    throw refuse('the exported record has no valid position');
  }
  const positionNumber = Number(position.text);
  if (!Number.isSafeInteger(positionNumber)) throw refuse('the exported record has no valid position');
  const leaf = parsed.get('leaf');
  if (typeof leaf !== 'string') throw refuse('the exported record has no leaf text');
  let stated: Uint8Array;
  try {
    stated = decodeHash(parsed.get('leaf_hash'), 'leaf_hash');
  } catch {
    throw refuse('the exported record has no valid leaf_hash (32 bytes, base64)');
  }
  if (!hashesEqual(leafHashOfText(leaf), stated)) {
    throw refuse(`record at position ${position.text}: its leaf does not hash to its leaf_hash`);
  }
  const expected = toExportRecord(positionNumber, stated, leaf);
  if (parsed.get('source') !== expected.source) {
    throw refuse(
      `record at position ${position.text}: source says ${JSON.stringify(parsed.get('source'))}, the leaf is a ${expected.source}`,
    );
  }
  const known = new Set<string>([...RECORD_KEYS, ...expected.fields.keys()]);
  for (const key of parsed.keys()) {
    if (!known.has(key))
      throw refuse(`record at position ${position.text}: field ${JSON.stringify(key)} is not in the leaf`);
  }
  for (const [key, value] of expected.fields) {
    const actual = parsed.get(key);
    if (actual === undefined) throw refuse(`record at position ${position.text}: field ${key} is missing`);
    if (!jsonTextEqual(actual, value)) {
      const said = stringifyJsonText(value);
      throw refuse(
        `record at position ${position.text}: field ${key} differs from the leaf`,
        `the leaf says ${said.length > 200 ? `${said.slice(0, 200)}…` : said}`,
      );
    }
  }
  return { position: positionNumber, leafHash: stated, source: expected.source, leaf };
}

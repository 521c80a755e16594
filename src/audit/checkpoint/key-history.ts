import { ErrorCodes, PgwardenError } from '../../errors/index.js';
import { parseVerifierKey } from './keys.js';
import { keyIdHex, type NoteSigner, type NoteVerifier, parseNote, signNote, verifyNote } from './note.js';

/** First line of a key history note; versions the format. */
export const KEY_HISTORY_HEADER = 'pgwarden.key-history/v1';

/**
 * One change of a log's signing keys. A key added at size N signs checkpoints of size ≥ N; a key
 * revoked at size M no longer verifies checkpoints of size ≥ M (older ones still do).
 */
export type KeyChange =
  | { readonly action: 'add'; readonly size: number; readonly vkey: string }
  | { readonly action: 'revoke'; readonly size: number; readonly key: string };

/** A verified key history: the log's key changes, in order, and the signed note they came from. */
export interface KeyHistory {
  readonly origin: string;
  readonly changes: readonly KeyChange[];
  /** The signed note, to publish next to the checkpoints. */
  readonly note: string;
}

interface KeySpan {
  readonly verifier: NoteVerifier;
  readonly from: number;
  readonly until: number;
}

/**
 * Signs a new version of a log's key history: the previous changes (if any) plus `changes`, by
 * the history keys (offline keys that never sign checkpoints, so a stolen log key cannot rewrite
 * the history).
 *
 * @example
 * let history = appendKeyChanges(null, origin, [{ action: 'add', size: 0, vkey: oldKey.vkey }], [rootKey]);
 * history = appendKeyChanges(history, origin, [
 *   { action: 'revoke', size: 5000, key: `${oldKey.name}+${keyIdHex(oldKey.keyId)}` },
 *   { action: 'add', size: 5000, vkey: newKey.vkey },
 * ], [rootKey]);
 */
export function appendKeyChanges(
  previous: KeyHistory | null,
  origin: string,
  changes: readonly KeyChange[],
  signers: readonly NoteSigner[],
): KeyHistory {
  if (previous && previous.origin !== origin) historyError('the key history belongs to another origin');
  const all = [...(previous?.changes ?? []), ...changes];
  keySpans(all);
  const lines = all.map((c) => (c.action === 'add' ? `add ${c.size} ${c.vkey}` : `revoke ${c.size} ${c.key}`));
  const note = signNote(`${KEY_HISTORY_HEADER}\n${origin}\n${lines.map((l) => `${l}\n`).join('')}`, signers);
  return { origin, changes: all, note };
}

/**
 * Verifies and parses a published key history. With `previous`, the new version must extend it
 * (append-only): a history that drops or edits an earlier change is refused.
 *
 * @example
 * const history = openKeyHistory(published, [rootVerifier], 'pgwarden.example/db1', lastSeenHistory);
 */
export function openKeyHistory(
  note: string,
  verifiers: readonly NoteVerifier[],
  origin: string,
  previous?: KeyHistory,
): KeyHistory {
  const { text } = verifyNote(parseNote(note), verifiers);
  return historyFromText(text, note, origin, previous);
}

/**
 * Parses a key history note WITHOUT checking its signatures: only for showing or using a
 * history someone explicitly chose not to pin (`verify-proof --unpinned`). Anything that must
 * be trusted goes through `openKeyHistory`.
 *
 * @example
 * const claimed = readKeyHistoryUnverified(bundle.keyHistory, bundle.origin);
 */
export function readKeyHistoryUnverified(note: string, origin: string): KeyHistory {
  return historyFromText(parseNote(note).text, note, origin);
}

function historyFromText(text: string, note: string, origin: string, previous?: KeyHistory): KeyHistory {
  const lines = text.slice(0, -1).split('\n');
  if (lines[0] !== KEY_HISTORY_HEADER || lines.length < 2) historyError('the note is not a pgwarden key history');
  if (lines[1] !== origin) {
    throw new PgwardenError(ErrorCodes.AUDIT_CHECKPOINT_ORIGIN, 'the key history belongs to another origin', {
      detail: `expected ${origin}`,
    });
  }
  const changes = lines.slice(2).map(parseChange);
  keySpans(changes);
  if (previous) {
    const extends_ =
      previous.origin === origin &&
      previous.changes.length <= changes.length &&
      previous.changes.every((c, i) => sameChange(c, changes[i]));
    if (!extends_) historyError('the key history does not extend the previous one', 'a key history is append-only');
  }
  return { origin, changes, note };
}

/**
 * The log keys that may sign a checkpoint of tree size `size`.
 *
 * @example
 * const keys = keysValidAt(history, checkpoint.size);
 */
export function keysValidAt(history: KeyHistory, size: number): NoteVerifier[] {
  return keySpans(history.changes)
    .filter((s) => s.from <= size && size < s.until)
    .map((s) => s.verifier);
}

/**
 * Every key the history ever named, valid or revoked.
 *
 * @example
 * allHistoryKeys(history).map((k) => k.vkey);
 */
export function allHistoryKeys(history: KeyHistory): NoteVerifier[] {
  return keySpans(history.changes).map((s) => s.verifier);
}

function keySpans(changes: readonly KeyChange[]): KeySpan[] {
  const spans = new Map<string, { verifier: NoteVerifier; from: number; until: number }>();
  let last = 0;
  for (const change of changes) {
    if (!Number.isSafeInteger(change.size) || change.size < 0) historyError('a key change has an invalid tree size');
    if (change.size < last) historyError('key changes must be in tree-size order');
    last = change.size;
    if (change.action === 'add') {
      const verifier = parseVerifierKey(change.vkey);
      const id = `${verifier.name}+${keyIdHex(verifier.keyId)}`;
      if (spans.has(id)) historyError('a key is added twice', `key ${id}`);
      spans.set(id, { verifier, from: change.size, until: Number.POSITIVE_INFINITY });
    } else {
      const span = spans.get(change.key);
      if (!span || span.until !== Number.POSITIVE_INFINITY) {
        historyError('a revocation names a key that is not active', `key ${change.key}`);
      }
      span.until = change.size;
    }
  }
  return [...spans.values()];
}

function parseChange(line: string): KeyChange {
  const match = /^(add|revoke) (0|[1-9][0-9]{0,15}) (\S+)$/.exec(line);
  if (!match) historyError('a key history line is not "add|revoke <size> <key>"');
  const size = Number(match[2]);
  const key = match[3] ?? '';
  return match[1] === 'add' ? { action: 'add', size, vkey: key } : { action: 'revoke', size, key };
}

function sameChange(a: KeyChange, b: KeyChange | undefined): boolean {
  if (!b || a.action !== b.action || a.size !== b.size) return false;
  return a.action === 'add' ? b.action === 'add' && a.vkey === b.vkey : b.action === 'revoke' && a.key === b.key;
}

function historyError(message: string, detail?: string): never {
  throw new PgwardenError(ErrorCodes.AUDIT_KEY_HISTORY, message, {
    detail,
    hint: 'publish key histories only through appendKeyChanges, signed by the history keys',
  });
}

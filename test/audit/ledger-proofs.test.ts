import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateMasterKey, parseMasterKey } from '../../src/auth/crypto/index.js';
import {
  historyKey,
  initLedger,
  type InclusionBundle,
  proveConsistency,
  proveEntry,
  sealLedger,
  verifyProofBundle,
} from '../../src/audit/ledger/index.js';
import {
  generateNoteKey,
  appendKeyChanges,
  signCheckpoint,
  parseCheckpoint,
  parseNote,
} from '../../src/audit/checkpoint/index.js';
import { installedDatabase } from '../helpers/db.js';
import { sealAll } from '../helpers/ledger.js';

// Inclusion and consistency proofs of ledger entries, checked offline, and fuzzed: every
// mutation of a proof, its leaf, its position, its size or its checkpoint fails.
const masterKey = parseMasterKey(generateMasterKey());
let admin: pg.Client;
let origin: string;
let pinned: string;
let bundle: InclusionBundle;

beforeAll(async () => {
  admin = new pg.Client(await installedDatabase());
  await admin.connect();
  await admin.query(`create table public.t (id int primary key, v text); select audit.enable('public.t')`);
  ({ origin } = await initLedger(admin, { masterKey }));
  pinned = historyKey(masterKey, origin).vkey;
  for (let round = 0; round < 3; round++) {
    await admin.query(`insert into public.t select g, 'v' || g from generate_series($1 * 37 + 1, $1 * 37 + 37) g`, [
      round,
    ]);
    await sealLedger(admin, { masterKey });
  }
  await sealAll(admin, masterKey);
  bundle = await proveEntry(admin, {
    source: 'row_change',
    id: (await admin.query(`select min(id) + 40 as id from audit.row_changes`)).rows[0].id,
  });
});
afterAll(async () => admin?.end());

describe('inclusion proofs', () => {
  it('prove a sealed row against the newest signed checkpoint, offline', () => {
    const check = verifyProofBundle(JSON.parse(JSON.stringify(bundle)), { historyKey: pinned });
    expect(check).toMatchObject({
      format: 'pgwarden.inclusion-proof/v1',
      position: bundle.position,
      keyTrust: 'pinned',
    });
    expect(check.entry).toMatchObject({ table_name: 't', op: 'INSERT' });
  });

  it('refuses to vouch for a proof when no history key is pinned', () => {
    expect(() => verifyProofBundle(bundle)).toThrow(expect.objectContaining({ code: 'PW434' }));
  });

  it('fails for every mutated proof hash, position, size, leaf and checkpoint [A-13]', () => {
    const mutants: InclusionBundle[] = [];
    bundle.proof.forEach((h, i) => {
      for (const bit of [0, 7, 255]) {
        const bytes = Buffer.from(h, 'base64');
        bytes[bit % 32] = (bytes[bit % 32] ?? 0) ^ (1 << (bit % 8));
        mutants.push({ ...bundle, proof: bundle.proof.map((x, j) => (j === i ? bytes.toString('base64') : x)) });
      }
      mutants.push({ ...bundle, proof: bundle.proof.filter((_, j) => j !== i) });
      mutants.push({ ...bundle, proof: [...bundle.proof.slice(0, i + 1), h, ...bundle.proof.slice(i + 1)] });
    });
    mutants.push({ ...bundle, proof: [...bundle.proof, bundle.proof[0]!] });
    mutants.push({ ...bundle, proof: [...bundle.proof].reverse() });
    for (const delta of [-1, 1, bundle.treeSize]) mutants.push({ ...bundle, position: bundle.position + delta });
    mutants.push({ ...bundle, treeSize: bundle.treeSize - 1 });
    mutants.push({ ...bundle, leaf: bundle.leaf.replace('"INSERT"', '"DELETE"') });
    mutants.push({ ...bundle, leaf: bundle.leaf.replace(/"v\d+"/, '"forged"') });
    mutants.push({ ...bundle, leaf: `${bundle.leaf} ` });
    mutants.push({ ...bundle, checkpoint: bundle.checkpoint.replace(/\n(\d+)\n/, (_, n) => `\n${Number(n) + 1}\n`) });
    mutants.push({ ...bundle, origin: `${origin}-staging` });
    expect(mutants.length).toBeGreaterThan(20);
    for (const mutant of mutants) {
      expect(() => verifyProofBundle(mutant, { historyKey: pinned }), JSON.stringify(mutant).slice(0, 80)).toThrow();
    }
  });

  it('refuses a checkpoint re-signed with a key the pinned history never named [A-15]', () => {
    const rogue = generateNoteKey(origin, 'ed25519');
    const { size, root } = parseCheckpoint(parseNote(bundle.checkpoint).text);
    const forged = signCheckpoint({ origin, size, root }, [rogue]);
    expect(() => verifyProofBundle({ ...bundle, checkpoint: forged }, { historyKey: pinned })).toThrow();
    // A forger who also brings their own key history is caught by the pinned history key.
    const rogueHistory = appendKeyChanges(
      null,
      origin,
      [{ action: 'add', size: 0, vkey: rogue.vkey }],
      [generateNoteKey(`${origin}/key-history`, 'ed25519')],
    );
    expect(() =>
      verifyProofBundle({ ...bundle, checkpoint: forged, keyHistory: rogueHistory.note }, { historyKey: pinned }),
    ).toThrow();
  });
});

describe('consistency proofs', () => {
  it('prove an older checkpoint is a prefix of the newest, offline, and fail when mutated [A-12]', async () => {
    const sizes = (await admin.query(`select tree_size from ledger.checkpoints order by tree_size`)).rows.map((r) =>
      Number(r.tree_size),
    );
    const proof = await proveConsistency(admin, sizes[0]!);
    expect(verifyProofBundle(proof, { historyKey: pinned })).toMatchObject({
      oldSize: sizes[0],
      treeSize: sizes.at(-1),
    });
    proof.proof.forEach((h, i) => {
      const bytes = Buffer.from(h, 'base64');
      bytes[0] = (bytes[0] ?? 0) ^ 1;
      const mutant = { ...proof, proof: proof.proof.map((x, j) => (j === i ? bytes.toString('base64') : x)) };
      expect(() => verifyProofBundle(mutant, { historyKey: pinned })).toThrow();
    });
    expect(() => verifyProofBundle({ ...proof, proof: proof.proof.slice(1) }, { historyKey: pinned })).toThrow();
  });
});

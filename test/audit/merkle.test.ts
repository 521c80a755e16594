import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  consistencyProof,
  decodeProof,
  emptyRoot,
  encodeProof,
  inclusionProof,
  leafHash,
  nodeHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from '../../src/audit/merkle/index.js';
import { ErrorCodes, PgwardenError } from '../../src/errors/index.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

/** The RFC 6962 reference tree of transparency-dev/merkle (and certificate-transparency-go). */
const referenceLeaves = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map((data) => leafHash(unhex(data)));

/** Root of the tree of the first i + 1 reference leaves. */
const referenceRoots = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const rootAt = (size: number): Uint8Array => unhex(referenceRoots[size - 1] as string);

/** [leaf index (0-based), tree size, audit path]. */
const referenceInclusion: [number, number, string[]][] = [
  [
    0,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    5,
    8,
    [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [
    1,
    5,
    [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
  [0, 1, []],
];

/** [old size, new size, consistency proof]. */
const referenceConsistency: [number, number, string[]][] = [
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [
    2,
    5,
    [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
  [
    6,
    7,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [1, 1, []],
  [8, 8, []],
];

describe('leafHash, nodeHash, emptyRoot', () => {
  it('hashes a leaf as SHA-256(0x00 ‖ data)', () => {
    const data = Buffer.from('audit event');
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from([0]), data]))
      .digest('hex');
    expect(hex(leafHash(data))).toBe(expected);
    expect(hex(leafHash(new Uint8Array()))).toBe(referenceRoots[0]);
  });

  it('hashes a node as SHA-256(0x01 ‖ left ‖ right)', () => {
    const [a, b] = [leafHash(Buffer.from('a')), leafHash(Buffer.from('b'))];
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from([1]), a, b]))
      .digest('hex');
    expect(hex(nodeHash(a, b))).toBe(expected);
  });

  it('gives the SHA-256 of the empty string as the empty root', () => {
    expect(hex(emptyRoot())).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(hex(rootOf([]))).toBe(hex(emptyRoot()));
  });
});

describe('rootOf', () => {
  it.each(referenceRoots.map((root, i) => [i + 1, root] as const))(
    'matches the RFC 6962 reference root of the first %i leaves',
    (size, root) => {
      expect(hex(rootOf(referenceLeaves.slice(0, size)))).toBe(root);
    },
  );

  it('refuses a leaf hash that is not 32 bytes', () => {
    expect(() => rootOf([new Uint8Array(31)])).toThrow(PgwardenError);
    expect(() => rootOf([new Uint8Array(64)])).toThrow(PgwardenError);
  });
});

describe('inclusionProof and verifyInclusion: reference vectors', () => {
  it.each(referenceInclusion)('reproduces and accepts the reference proof for leaf %i of %i', (index, size, path) => {
    const leaves = referenceLeaves.slice(0, size);
    expect(inclusionProof(leaves, index).map(hex)).toEqual(path);
    expect(verifyInclusion(index, size, leaves[index] as Uint8Array, path.map(unhex), rootAt(size))).toBe(true);
  });

  it('refuses to build a proof for an index outside the tree', () => {
    expect(() => inclusionProof(referenceLeaves, 8)).toThrow(PgwardenError);
    expect(() => inclusionProof(referenceLeaves, -1)).toThrow(PgwardenError);
    expect(() => inclusionProof([], 0)).toThrow(PgwardenError);
  });
});

describe('consistencyProof and verifyConsistency: reference vectors', () => {
  it.each(referenceConsistency)(
    'reproduces and accepts the reference proof from %i to %i',
    (oldSize, newSize, path) => {
      expect(consistencyProof(referenceLeaves, oldSize, newSize).map(hex)).toEqual(path);
      expect(verifyConsistency(oldSize, newSize, rootAt(oldSize), rootAt(newSize), path.map(unhex))).toBe(true);
    },
  );

  it('refuses to build a proof from the empty tree or backwards', () => {
    expect(() => consistencyProof(referenceLeaves, 0, 8)).toThrow(PgwardenError);
    expect(() => consistencyProof(referenceLeaves, 5, 4)).toThrow(PgwardenError);
    expect(() => consistencyProof(referenceLeaves, 5, 9)).toThrow(PgwardenError);
  });
});

describe('domain separation and position [A-14]', () => {
  const leaves = referenceLeaves.slice(0, 4);
  const root = rootOf(leaves);
  const [l0, l1, l2, l3] = leaves as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];

  it('denies an internal node presented as a leaf (the 64-byte concatenation of its children) [A-14]', () => {
    const forged = Buffer.concat([l0, l1]);
    // The node H(l0, l1) is the leftmost node of level 1; its real sibling is H(l2, l3).
    const proof = [nodeHash(l2, l3)];
    expect(verifyInclusion(0, 2, nodeHash(l0, l1), proof, root)).toBe(true); // the interior view
    expect(verifyInclusion(0, 2, leafHash(forged), proof, root)).toBe(false);
    expect(verifyInclusion(0, 4, leafHash(forged), proof, root)).toBe(false);
    expect(verifyInclusion(0, 4, forged, proof, root)).toBe(false);
    expect(hex(leafHash(forged))).not.toBe(hex(nodeHash(l0, l1)));
  });

  it('changes the root when two sibling leaves are swapped [A-14]', () => {
    expect(hex(rootOf([l1, l0, l2, l3]))).not.toBe(hex(root));
    expect(hex(rootOf([l0, l1, l3, l2]))).not.toBe(hex(root));
    expect(hex(nodeHash(l0, l1))).not.toBe(hex(nodeHash(l1, l0)));
  });

  it('denies a proof moved to its sibling position: pairs are never sorted [A-14]', () => {
    const proof = inclusionProof(leaves, 0);
    expect(verifyInclusion(0, 4, l0, proof, root)).toBe(true);
    expect(verifyInclusion(1, 4, l0, proof, root)).toBe(false);
    // A sorted-pair (QLDB-style) combiner would accept l1 at index 0 with l0 as its sibling.
    const swapped = [l0, ...inclusionProof(leaves, 1).slice(1)];
    expect(verifyInclusion(0, 4, l1, swapped, root)).toBe(false);
  });
});

describe('encodeProof and decodeProof', () => {
  const proof = inclusionProof(referenceLeaves, 5);

  it('round-trips a proof through base64 strings', () => {
    const encoded = encodeProof(proof);
    expect(encoded).toHaveLength(3);
    expect(encoded[0]).toBe(Buffer.from(proof[0] as Uint8Array).toString('base64'));
    expect(decodeProof(encoded).map(hex)).toEqual(proof.map(hex));
    expect(decodeProof([])).toEqual([]);
  });

  it.each([
    ['a string', 'abc'],
    ['an object', { 0: 'x' }],
    ['a number element', [1]],
    ['a 31-byte hash', [Buffer.alloc(31).toString('base64')]],
    ['a 33-byte hash', [Buffer.alloc(33).toString('base64')]],
    ['unpadded base64', [Buffer.alloc(32).toString('base64').replace('=', '')]],
    ['base64url', [Buffer.alloc(32, 0xff).toString('base64url') + '=']],
    ['non-canonical trailing bits', ['A'.repeat(42) + 'B=']],
    ['whitespace', [' ' + Buffer.alloc(32).toString('base64')]],
    ['an empty string', ['']],
  ])('denies %s', (_what, input) => {
    expect(() => decodeProof(input)).toThrow(PgwardenError);
    try {
      decodeProof(input);
    } catch (err) {
      expect((err as PgwardenError).code).toBe(ErrorCodes.AUDIT_PROOF_MALFORMED);
    }
  });

  it('refuses to encode a hash that is not 32 bytes', () => {
    expect(() => encodeProof([new Uint8Array(16)])).toThrow(PgwardenError);
  });
});

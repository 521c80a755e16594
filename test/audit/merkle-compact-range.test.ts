import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CompactRange, emptyRoot, leafHash, rootOf } from '../../src/audit/merkle/index.js';
import { PgwardenError } from '../../src/errors/index.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const MAX_SIZE = 300;
const leaves = Array.from({ length: MAX_SIZE }, () => leafHash(randomBytes(1 + (randomBytes(1)[0] as number))));

const popcount = (n: number): number => n.toString(2).replaceAll('0', '').length;

describe('CompactRange', () => {
  it('starts empty with the empty root', () => {
    const range = new CompactRange();
    expect(range.size).toBe(0);
    expect(hex(range.root())).toBe(hex(emptyRoot()));
    expect(range.toJSON()).toEqual({ size: 0, hashes: [] });
  });

  it(`gives rootOf at every size 0..${MAX_SIZE}, appending one leaf at a time`, () => {
    const range = new CompactRange();
    for (let size = 0; size <= MAX_SIZE; size++) {
      expect(range.size).toBe(size);
      expect(range.hashes).toHaveLength(popcount(size));
      expect(hex(range.root())).toBe(hex(rootOf(leaves.slice(0, size))));
      if (size < MAX_SIZE) range.append(leaves[size] as Uint8Array);
    }
  });

  it(`gives the same root after a toJSON/fromJSON round trip at every size 0..${MAX_SIZE}`, () => {
    let range = new CompactRange();
    for (let size = 0; size <= MAX_SIZE; size++) {
      const state = JSON.stringify(range);
      range = CompactRange.fromJSON(JSON.parse(state));
      expect(CompactRange.fromJSON(state).toJSON()).toEqual(range.toJSON());
      expect(range.size).toBe(size);
      expect(hex(range.root())).toBe(hex(rootOf(leaves.slice(0, size))));
      if (size < MAX_SIZE) range.append(leaves[size] as Uint8Array);
    }
  });

  it('gives the same state whether leaves are appended in batches or one by one', () => {
    const oneByOne = new CompactRange();
    leaves.forEach((h) => oneByOne.append(h));
    const batched = new CompactRange();
    for (let start = 0, batch = 1; start < MAX_SIZE; start += batch, batch = (batch * 3) % 17 || 1) {
      batched.appendMany(leaves.slice(start, start + batch));
    }
    expect(batched.toJSON()).toEqual(oneByOne.toJSON());
    expect(hex(batched.root())).toBe(hex(rootOf(leaves)));
  });

  it('is not changed by mutating an appended hash, a returned hash or a clone', () => {
    const range = new CompactRange();
    const first = Uint8Array.from(leaves[0] as Uint8Array);
    range.append(first);
    const root = hex(range.root());
    first.fill(0);
    (range.hashes[0] as Uint8Array).fill(0);
    range.root().fill(0);
    range.clone().append(leaves[1] as Uint8Array);
    expect(hex(range.root())).toBe(root);
    expect(range.size).toBe(1);
  });

  it('refuses a leaf hash that is not 32 bytes', () => {
    const range = new CompactRange();
    expect(() => range.append(new Uint8Array(31))).toThrow(PgwardenError);
    expect(() => range.append(new Uint8Array(64))).toThrow(PgwardenError);
    expect(range.size).toBe(0);
  });

  it.each([
    ['null', null],
    ['a number', 5],
    ['not JSON text', '{size'],
    ['a negative size', { size: -1, hashes: [] }],
    ['a fractional size', { size: 1.5, hashes: [] }],
    ['a string size', { size: '1', hashes: [Buffer.alloc(32).toString('base64')] }],
    ['too few hashes for the size', { size: 3, hashes: [Buffer.alloc(32).toString('base64')] }],
    ['too many hashes for the size', { size: 1, hashes: [Buffer.alloc(32).toString('base64'), ''] }],
    ['a short hash', { size: 1, hashes: [Buffer.alloc(31).toString('base64')] }],
    ['a non-string hash', { size: 1, hashes: [[1, 2, 3]] }],
    ['missing hashes', { size: 0 }],
  ])('fromJSON denies %s', (_what, state) => {
    expect(() => CompactRange.fromJSON(state)).toThrow(PgwardenError);
  });
});

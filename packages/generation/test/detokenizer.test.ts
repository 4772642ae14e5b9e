import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { IncrementalDetokenizer, UnstableSuffix } from '../src/index.ts';
import { byteIds, createFakeTokenizer, processResponse } from './helpers/fake-tokenizer.ts';
import { seededRandom } from '@chatglm/common';

const tok = createFakeTokenizer();
const ids = (...surfaces: string[]): number[] => surfaces.map((s) => tok.id(s));

/** Pushes every id; returns the delta of each push and the final one. */
function run(tokenIds: number[]): { deltas: string[]; last: string; detok: IncrementalDetokenizer } {
  const detok = new IncrementalDetokenizer(tok.decode, processResponse);
  const deltas = tokenIds.map((id) => detok.push(id));
  return { deltas, last: detok.finish(), detok };
}

describe('fake tokenizer (sanity of the test double)', () => {
  it('decodes like ChatGLM: dummy prefix, bytes, <n>, clean-up, and process_response', () => {
    assert.equal(tok.decode(ids('▁Hello', '▁world', '!')), 'Hello world!');
    assert.equal(tok.decode(byteIds(tok, '中')), '中');
    assert.equal(tok.decode(byteIds(tok, '中').slice(0, 2)), '\uFFFD');
    assert.equal(tok.decode(ids('a', '<', 'n', '>', 'b')), 'a\nb');
    assert.equal(tok.decode(ids('a', '▁', '.')), 'a.');
    assert.equal(processResponse(' 你好,中文! ok, [[训练时间]]: '), '你好，中文！ ok, 2023年：');
  });
});

describe('IncrementalDetokenizer', () => {
  it('holds back a CJK character spelled by 3 byte tokens until it is complete', () => {
    const { deltas, last } = run([...ids('a'), ...byteIds(tok, '中')]);
    assert.deepEqual(deltas, ['a', '', '', '中']);
    assert.equal(last, '');
  });

  it('holds back "," until the next character decides between "," and "，"', () => {
    const cjkAfter = run([...ids('a', ','), ...byteIds(tok, '中')]);
    assert.deepEqual(cjkAfter.deltas, ['a', '', '', '', '，中']);
    const asciiAfter = run(ids('a', ',', 'b'));
    assert.deepEqual(asciiAfter.deltas, ['a', '', ',b']);
    const atTheEnd = run(ids('a', ','));
    assert.deepEqual([...atTheEnd.deltas, atTheEnd.last], ['a', '', ',']);
  });

  it('emits a mark after a CJK character at once: it is fullwidth whatever follows', () => {
    assert.deepEqual(run(ids('中', ',', '文', '!')).deltas, ['中', '，', '文', '！']);
  });

  it('holds back trailing whitespace, which strip() or clean-up may remove', () => {
    const stripped = run(ids('▁Hello', '▁', '<n>'));
    assert.deepEqual([...stripped.deltas, stripped.last], ['Hello', '', '', '']);
    const cleaned = run(ids('▁Hello', '▁', '!', 'a'));
    assert.deepEqual(cleaned.deltas, ['Hello', '', '', '!a']);
    const kept = run(ids('▁Hello', '▁world'));
    assert.deepEqual(kept.deltas, ['Hello', ' world']);
  });

  it('holds back a partial [[训练时间]] until it is replaced or cannot be', () => {
    const full = run(ids('a', '[[', '训练', '时间', ']]', ','));
    assert.deepEqual([...full.deltas, full.last], ['a', '', '', '', '2023年', '', '，']);
    const broken = run(ids('a', '[[', '训练', 'x'));
    assert.deepEqual(broken.deltas, ['a', '', '', '[[训练x']);
  });

  it('holds back a <n> or <|blank_k|> spelled by several pieces', () => {
    const newline = run(ids('a', '<', 'n', '>', 'b'));
    assert.deepEqual(newline.deltas, ['a', '', '', '', '\nb']);
    const blank = run(ids('a', '<', '|', 'blank', '_', '8', '0', '|', '>', 'b'));
    assert.equal(blank.deltas.join('') + blank.last, 'a' + ' '.repeat(80) + 'b');
    assert.deepEqual(blank.deltas.slice(1, -1), ['', '', '', '', '', '', '', '']);
  });

  it('holds a trailing apostrophe: " \' " becomes "\'" but " \' ," becomes " \',"', () => {
    const r = run(ids('ve', "▁'", '▁', ',', 'a'));
    assert.equal(tok.decode(ids('ve', "▁'", '▁')), "ve'");
    assert.equal(tok.decode(ids('ve', "▁'", '▁', ',')), "ve ',");
    assert.deepEqual(r.deltas, ['ve', '', '', '', " ',a"]);
  });

  it('holds " n" and " \'" which clean-up may merge into "n\'t" and "\'s"', () => {
    const r = run(ids('a', '▁n', "n't", '▁the'));
    assert.equal(r.deltas.join('') + r.last, tok.decode(ids('a', '▁n', "n't", '▁the')));
    assert.deepEqual(r.deltas.slice(0, 2), ['a', '']);
  });

  it('concatenates to process_response(decode(ids)) and never retracts, over random sequences', () => {
    const random = seededRandom(2023);
    const tricky = [
      ...ids(',', '!', ':', ';', '?', '.', "'", '▁', '<', '>', '|', 'n', '_', '8', '0', '[[', '[', ']', ']]'),
      ...ids('训练', '时间', '中', '文', '你好', '。', '▁Hello', 'a', 's', 't', "n't", "'s", '<n>', '<|blank_2|>'),
      ...ids('blank', 'tab', '▁n', "▁'", 've', 're', 'm', '<|tab|>'),
      tok.padId,
      ...byteIds(tok, '中👋é'),
      tok.byteId(0x2e),
      tok.byteId(0x20),
      tok.byteId(0xff),
    ];
    let emittedBeforeEnd = 0;
    for (let trial = 0; trial < 1500; trial++) {
      const length = 1 + Math.floor(random() * 30);
      const sequence = Array.from({ length }, () => tricky[Math.floor(random() * tricky.length)]!);
      const detok = new IncrementalDetokenizer(tok.decode, processResponse);
      let shown = '';
      for (let i = 0; i < sequence.length; i++) {
        shown += detok.push(sequence[i]!);
        // What is shown must be a prefix of the response of EVERY continuation, not only this one.
        for (const next of [...tricky.slice(0, 8), tok.byteId(0x80)]) {
          const continued = processResponse(tok.decode([...sequence.slice(0, i + 1), next]));
          assert.ok(continued.startsWith(shown), `shown ${JSON.stringify(shown)} vs ${JSON.stringify(continued)}`);
        }
      }
      emittedBeforeEnd += shown.length;
      shown += detok.finish();
      assert.equal(shown, processResponse(tok.decode(sequence)), `sequence ${sequence}`);
      assert.ok(detok.consistent);
    }
    assert.ok(emittedBeforeEnd > 5000, 'text is streamed, not all held to the end');
  });

  it('re-decodes 2,000 tokens fast enough for a whole-context reply', () => {
    const random = seededRandom(1);
    const common = ids('你好', '中', '文', ',', '。', '▁Hello', '▁world', '<n>', 'a', '▁the');
    const sequence = Array.from({ length: 2000 }, () => common[Math.floor(random() * common.length)]!);
    const detok = new IncrementalDetokenizer(tok.decode, processResponse);
    const started = performance.now();
    let shown = '';
    for (const id of sequence) shown += detok.push(id);
    shown += detok.finish();
    const ms = performance.now() - started;
    assert.equal(shown, processResponse(tok.decode(sequence)));
    assert.ok(ms < 1500, `2,000 tokens took ${ms.toFixed(0)} ms`);
  });
});

describe('UnstableSuffix', () => {
  it('finds the stable prefix by peeling tails repeatedly', () => {
    const s = new UnstableSuffix();
    assert.equal(s.stableLength('abc'), 3);
    assert.equal(s.stableLength('abc \uFFFD'), 3);
    assert.equal(s.stableLength('ab <|blank_1'), 2);
    assert.equal(s.stableLength('ab:\uFFFD'), 2);
    assert.equal(s.stableLength('中:\uFFFD'), 2);
    assert.equal(s.stableLength('a [[训练时'), 1);
    assert.equal(s.stableLength('   '), 0);
  });
});

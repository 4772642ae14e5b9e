import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  createStoppingCriteria,
  remainingTokens,
  resolveSamplingParams,
  StopStringFilter,
  TextStream,
} from '../src/index.ts';
import { byteIds, createFakeTokenizer, processResponse } from './helpers/fake-tokenizer.ts';
import { seededRandom } from '@chatglm/common';

const EOP = 1;

describe('stopping criteria', () => {
  const state = (promptTokens: number, completionTokens: number, lastTokenId = 7) => ({
    promptTokens,
    completionTokens,
    lastTokenId,
  });

  it('stops on <eop> with reason "stop"', () => {
    const stop = createStoppingCriteria(resolveSamplingParams(), EOP);
    assert.equal(stop(state(3, 1, EOP)), 'stop');
    assert.equal(stop(state(3, 1, 8)), null);
  });

  it('counts maxLength over prompt + generated tokens, as HF max_length', () => {
    const stop = createStoppingCriteria(resolveSamplingParams({ maxLength: 10 }), EOP);
    assert.equal(stop(state(6, 3)), null);
    assert.equal(stop(state(6, 4)), 'length');
    assert.equal(stop(state(9, 1)), 'length');
  });

  it('applies maxNewTokens as well; the first limit reached wins', () => {
    const stop = createStoppingCriteria(resolveSamplingParams({ maxLength: 100, maxNewTokens: 2 }), EOP);
    assert.equal(stop(state(50, 1)), null);
    assert.equal(stop(state(50, 2)), 'length');
    const tight = createStoppingCriteria(resolveSamplingParams({ maxLength: 52, maxNewTokens: 5 }), EOP);
    assert.equal(tight(state(50, 2)), 'length');
  });

  it('reports "stop" for <eop> drawn as the last allowed token', () => {
    const stop = createStoppingCriteria(resolveSamplingParams({ maxLength: 4 }), EOP);
    assert.equal(stop(state(3, 1, EOP)), 'stop');
  });

  it('computes the remaining budget, 0 for a prompt that already fills maxLength', () => {
    const params = resolveSamplingParams({ maxLength: 10, maxNewTokens: 4 });
    assert.equal(remainingTokens(params, 3, 0), 4);
    assert.equal(remainingTokens(params, 8, 0), 2);
    assert.equal(remainingTokens(params, 10, 0), 0);
    assert.equal(remainingTokens(params, 12, 0), 0);
  });
});

describe('StopStringFilter', () => {
  it('cuts before the first stop string, even one split across deltas', () => {
    const filter = new StopStringFilter(['END']);
    assert.deepEqual(['abc E', 'N', 'D tail'].map((d) => filter.push(d)), ['abc ', '', '']);
    assert.ok(filter.stopped);
    assert.equal(filter.push('more'), '');
    assert.equal(filter.flush(), '');
  });

  it('releases a held prefix that turned out not to be a stop string', () => {
    const filter = new StopStringFilter(['END']);
    assert.deepEqual(['xE', 'Nx', 'E'].map((d) => filter.push(d)), ['x', 'ENx', '']);
    assert.equal(filter.flush(), 'E');
    assert.ok(!filter.stopped);
  });

  it('takes the earliest of several stop strings', () => {
    const filter = new StopStringFilter(['world', 'lo w', '']);
    assert.equal(filter.push('hello world'), 'hel');
  });

  it('never lets text at or after a stop string out, over random splits', () => {
    const random = seededRandom(5);
    const alphabet = 'ab\n.';
    for (let trial = 0; trial < 500; trial++) {
      const text = Array.from({ length: 40 }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      const stops = ['a.b', '\n\n', 'bbb'];
      const filter = new StopStringFilter(stops);
      let shown = '';
      for (let at = 0; at < text.length; ) {
        const len = 1 + Math.floor(random() * 5);
        shown += filter.push(text.slice(at, at + len));
        at += len;
      }
      shown += filter.flush();
      const hits = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
      assert.equal(shown, hits.length > 0 ? text.slice(0, Math.min(...hits)) : text);
      assert.equal(filter.stopped, hits.length > 0);
    }
  });
});

describe('TextStream', () => {
  const tok = createFakeTokenizer();
  const ids = (...s: string[]): number[] => s.map((x) => tok.id(x));

  it('matches stop strings in the processed text (fullwidth punctuation in Chinese context)', () => {
    const stream = new TextStream({ decode: tok.decode, processResponse, stop: ['，'] });
    const deltas = [...ids('你好', ','), ...byteIds(tok, '中'), ...ids('文')].map((id) => stream.push(id));
    assert.equal(deltas.join(''), '你好');
    assert.ok(stream.stopped);
    assert.equal(stream.finish(), '');
    assert.equal(stream.text, '你好');
  });

  it('finds a stop string in the tail released by finish()', () => {
    const stream = new TextStream({ decode: tok.decode, processResponse, stop: ['a!'] });
    const shown = ids('▁Hello', 'a', '!').map((id) => stream.push(id)).join('');
    assert.equal(shown, 'Hello');
    assert.ok(!stream.stopped);
    assert.equal(stream.finish(), '');
    assert.ok(stream.stopped);
    assert.equal(stream.text, 'Hello');
  });

  it('releases at the end a tail held because it might have begun a stop string', () => {
    const stream = new TextStream({ decode: tok.decode, processResponse, stop: ['xyz'] });
    assert.deepEqual(ids('a', 'x').map((id) => stream.push(id)), ['a', '']);
    assert.equal(stream.finish(), 'x');
    assert.equal(stream.text, 'ax');
    assert.ok(!stream.stopped);
  });

  it('without a stop string ends with process_response(decode(ids))', () => {
    const stream = new TextStream({ decode: tok.decode, processResponse });
    const sequence = ids('▁', '你好', ',', '▁world', '!', '▁');
    const shown = sequence.map((id) => stream.push(id)).join('') + stream.finish();
    assert.equal(shown, processResponse(tok.decode(sequence)));
    assert.equal(stream.text, shown);
  });
});

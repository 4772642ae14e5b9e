import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  generate,
  resolveSamplingParams,
  type FinishEvent,
  type GenerateEvent,
  type GenerateOptions,
  type LogitsSource,
  type SamplingParams,
} from '../src/index.ts';
import { createFakeTokenizer, processResponse } from './helpers/fake-tokenizer.ts';
import { seededRandom } from '@chatglm/common';

const tok = createFakeTokenizer();
const PADDING_ROWS = 5;
const vocab = { vocabSize: tok.vocabSize, eopId: tok.eopId, forcedTokenId: tok.spaceId };
const options: GenerateOptions = { vocab, decode: tok.decode, processResponse };
const greedy = (overrides: Partial<SamplingParams> = {}): SamplingParams =>
  resolveSamplingParams({ doSample: false, ...overrides });
const ids = (...s: string[]): number[] => s.map((x) => tok.id(x));

/** A model that "wants" the scripted ids in order (one-hot-ish logits) and records its calls. */
class ScriptedSource implements LogitsSource {
  readonly prefills: number[][] = [];
  readonly decoded: number[] = [];
  private step = 0;
  constructor(
    private readonly script: number[],
    private readonly edit: (logits: Float32Array, step: number) => void = () => {},
  ) {}
  async prefill(promptIds: readonly number[]): Promise<Float32Array> {
    this.prefills.push([...promptIds]);
    return this.next();
  }
  async decode(tokenId: number): Promise<Float32Array> {
    this.decoded.push(tokenId);
    return this.next();
  }
  private next(): Float32Array {
    const logits = new Float32Array(tok.vocabSize + PADDING_ROWS);
    const target = this.script[this.step];
    if (target !== undefined) logits[target] = 10;
    this.edit(logits, this.step++);
    return logits;
  }
}

/** A "model" whose logits are a fixed random function of the last token, for sampling tests. */
class RandomModel implements LogitsSource {
  private last = 0;
  async prefill(promptIds: readonly number[]): Promise<Float32Array> {
    this.last = promptIds.at(-1) ?? 0;
    return this.logits();
  }
  async decode(tokenId: number): Promise<Float32Array> {
    this.last = tokenId;
    return this.logits();
  }
  private logits(): Float32Array {
    const random = seededRandom(this.last + 1);
    return Float32Array.from({ length: tok.vocabSize + PADDING_ROWS }, (_, i) => (i === tok.eopId ? -2 : random() * 4));
  }
}

/** Runs a generation; checks that `shownBefore` (a resumed request's earlier text) + deltas = text. */
async function collect(events: AsyncGenerator<GenerateEvent, FinishEvent>, shownBefore = ''): Promise<{
  tokens: Extract<GenerateEvent, { type: 'token' }>[];
  finish: FinishEvent;
}> {
  const tokens: Extract<GenerateEvent, { type: 'token' }>[] = [];
  let finish: FinishEvent | undefined;
  for await (const event of events) {
    if (event.type === 'token') tokens.push(event);
    else finish = event;
  }
  assert.ok(finish, 'a finish event comes last');
  const shown = shownBefore + tokens.map((t) => t.delta).join('') + finish.delta;
  assert.equal(shown, finish.text, 'deltas add up to the text: no text twice, no gap');
  return { tokens, finish };
}

const PROMPT = [7, 8, 9];

describe('generate', () => {
  it('stops at <eop>: kept in the ids, not fed back, not in the text', async () => {
    const source = new ScriptedSource([...ids('▁Hello', '▁world'), tok.eopId, tok.id('a')]);
    const decode = (tokenIds: number[]): string => {
      assert.ok(!tokenIds.includes(tok.eopId), '<eop> is never decoded');
      return tok.decode(tokenIds);
    };
    const { tokens, finish } = await collect(generate(source, PROMPT, greedy(), { ...options, decode }));
    assert.deepEqual(source.prefills, [PROMPT]);
    assert.deepEqual(source.decoded, ids('▁Hello', '▁world'));
    assert.deepEqual(
      tokens.map((t) => t.tokenId),
      [...ids('▁Hello', '▁world'), tok.eopId],
    );
    assert.equal(tokens[2]!.delta, '');
    // e^10 against the other vocabSize - 1 real tokens at 0; the masked padding rows do not count.
    const expected = -Math.log1p((tok.vocabSize - 1) / Math.exp(10));
    for (const { logprob } of tokens) assert.ok(Math.abs(logprob - expected) < 1e-6, `logprob ${logprob}`);
    assert.deepEqual(finish, {
      type: 'finish',
      finishReason: 'stop',
      delta: '',
      text: 'Hello world',
      tokenIds: [...ids('▁Hello', '▁world'), tok.eopId],
      promptTokens: 3,
      completionTokens: 3,
    });
  });

  it('stops when prompt + generated reaches maxLength', async () => {
    const source = new ScriptedSource(ids('a', 'b', 'a', 'b', 'a'));
    const { finish } = await collect(generate(source, PROMPT, greedy({ maxLength: 5 }), options));
    assert.equal(finish.finishReason, 'length');
    assert.equal(finish.text, 'ab');
    assert.equal(finish.completionTokens, 2);
    assert.deepEqual(source.decoded, ids('a'), 'the last token is not fed to the model');
  });

  it('stops after maxNewTokens', async () => {
    const source = new ScriptedSource(ids('a', 'b', 'a', 'b', 'a'));
    const { finish } = await collect(generate(source, PROMPT, greedy({ maxNewTokens: 3 }), options));
    assert.equal(finish.finishReason, 'length');
    assert.equal(finish.text, 'aba');
  });

  it('does not run the model when the prompt already fills maxLength', async () => {
    const source = new ScriptedSource(ids('a'));
    const { tokens, finish } = await collect(generate(source, PROMPT, greedy({ maxLength: 3 }), options));
    assert.equal(tokens.length, 0);
    assert.equal(finish.finishReason, 'length');
    assert.equal(source.prefills.length, 0);
  });

  it('stops at a stop string and never shows text from it on', async () => {
    const source = new ScriptedSource(ids('▁Hello', '▁world', '!', 'a'));
    const { tokens, finish } = await collect(generate(source, PROMPT, greedy({ stop: [' wor'] }), options));
    assert.equal(finish.finishReason, 'stop');
    assert.equal(finish.text, 'Hello');
    assert.equal(tokens.length, 2);
    assert.ok(!tokens.some((t) => t.delta.includes('w')));
  });

  it('reports "stop" when a stop string only shows up in the tail released at the end', async () => {
    const source = new ScriptedSource(ids('▁Hello', 'a', '!', 'b'));
    const params = greedy({ stop: ['a!'], maxNewTokens: 3 });
    const { finish } = await collect(generate(source, PROMPT, params, options));
    assert.equal(finish.finishReason, 'stop');
    assert.equal(finish.text, 'Hello');
    assert.equal(finish.completionTokens, 3);
  });

  it('finishes "cancelled" on abort, keeping the text so far and not calling the model again', async () => {
    const source = new ScriptedSource(ids('▁Hello', '▁world', ',', 'a', 'b'));
    const controller = new AbortController();
    const events: GenerateEvent[] = [];
    for await (const event of generate(source, PROMPT, greedy(), { ...options, signal: controller.signal })) {
      events.push(event);
      if (events.length === 3) controller.abort();
    }
    const finish = events.at(-1) as FinishEvent;
    assert.equal(finish.finishReason, 'cancelled');
    assert.equal(finish.text, 'Hello world,');
    assert.equal(finish.completionTokens, 3);
    assert.deepEqual(source.decoded, ids('▁Hello', '▁world'));
  });

  it('does not prefill when aborted before it starts', async () => {
    const source = new ScriptedSource(ids('a'));
    const signal = AbortSignal.abort();
    const { finish } = await collect(generate(source, PROMPT, greedy(), { ...options, signal }));
    assert.equal(finish.finishReason, 'cancelled');
    assert.equal(source.prefills.length, 0);
  });

  it('masks padding rows and applies the invalid-score fix', async () => {
    const padded = new ScriptedSource(ids('a', 'b'), (logits) => {
      logits[tok.vocabSize + 2] = 1000;
    });
    const { finish } = await collect(generate(padded, PROMPT, greedy({ maxNewTokens: 2 }), options));
    assert.deepEqual(finish.tokenIds, ids('a', 'b'));

    const broken = new ScriptedSource(ids('a', 'b'), (logits, step) => {
      if (step === 1) logits[3] = Number.NaN;
    });
    const fixed = await collect(generate(broken, PROMPT, greedy({ maxNewTokens: 2 }), options));
    assert.deepEqual(fixed.finish.tokenIds, [tok.id('a'), tok.spaceId]);
  });

  it('samples reproducibly from the seed, and a resumed request continues identically', async () => {
    const params = resolveSamplingParams({ seed: 77n, maxNewTokens: 40, topK: 20, topP: 0.9 });
    const full = await collect(generate(new RandomModel(), PROMPT, params, options));
    const again = await collect(generate(new RandomModel(), PROMPT, params, options));
    assert.deepEqual(again.finish.tokenIds, full.finish.tokenIds);
    const other = await collect(generate(new RandomModel(), PROMPT, { ...params, seed: 78n }, options));
    assert.notDeepEqual(other.finish.tokenIds, full.finish.tokenIds);

    const k = 17;
    const shownBefore = full.tokens.slice(0, k).map((t) => t.delta).join('');
    const resumeFrom = full.finish.tokenIds.slice(0, k);
    const resumed = await collect(generate(new RandomModel(), PROMPT, params, { ...options, resumeFrom }), shownBefore);
    assert.deepEqual(resumed.finish.tokenIds, full.finish.tokenIds);
    assert.equal(resumed.tokens.length, full.finish.tokenIds.length - k);
    assert.equal(resumed.finish.text, full.finish.text);
  });

  it('finishes at once when resumed after the <eop> was already generated', async () => {
    const source = new ScriptedSource(ids('a'));
    const decode = (tokenIds: number[]): string => {
      assert.ok(!tokenIds.includes(tok.eopId), '<eop> is never decoded');
      return tok.decode(tokenIds);
    };
    const resumeFrom = [...ids('▁Hello'), tok.eopId];
    const { tokens, finish } = await collect(
      generate(source, PROMPT, greedy(), { ...options, decode, resumeFrom }),
      'Hello',
    );
    assert.equal(tokens.length, 0);
    assert.equal(source.prefills.length, 0);
    assert.equal(finish.finishReason, 'stop');
    assert.deepEqual(finish.tokenIds, resumeFrom);
  });

  it('propagates errors from the model', async () => {
    const failing: LogitsSource = {
      prefill: async () => {
        throw new Error('stage down');
      },
      decode: async () => new Float32Array(1),
    };
    await assert.rejects(collect(generate(failing, PROMPT, greedy(), options)), /stage down/);
  });
});

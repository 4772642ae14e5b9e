// A P-tuning v2 prefix (spec §10) in running stages: split stages, batched decode and slot reuse
// behave exactly as without one, and the prefix really is what every token attends to first.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { MemoryWeightSource, encodePrefix, glmPositions, promptLayout, type LayerRange, type PromptLayout } from '@chatglm/glm';
import { CpuStageRuntime, StageChain, StageExecutor, type PrefixLocation } from '@chatglm/runtime';
import { maxAbsDiff } from '../../../test/support/golden.ts';
import { argmax, promptIds, randomTensors, tinyConfig } from '../../../test/support/models.ts';
import { prefixTensors, writePrefixCheckpoint } from './ptuning-support.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-prefix-stages-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const config = tinyConfig(); // the base model: no pre_seq_len in its config
const tensors = randomTensors(config, 3);
const prefixConfig = { ...config, preSeqLen: 6, prefixProjection: true };
const encoderTensors = prefixTensors(prefixConfig, 21);
const checkpoint: PrefixLocation = { kind: 'checkpoint', dir: writePrefixCheckpoint(path.join(tmp, 'ptuning'), prefixConfig, encoderTensors) };
const prefixKv = await encodePrefix({ config: prefixConfig, weights: new MemoryWeightSource(new Map(Object.entries(encoderTensors))) });
const inMemory: PrefixLocation = { kind: 'memory', ...prefixKv };
const VOCAB = config.vocabSize;

async function chain(ranges: LayerRange[], prefix: PrefixLocation | undefined, maxSequences = 2): Promise<StageChain> {
  const stages = await Promise.all(
    ranges.map((range) => CpuStageRuntime.create({ config, range, weights: { kind: 'memory', tensors }, prefix, maxSequences, maxTokensPerSequence: 40, threads: 1, spinning: false })),
  );
  return new StageChain(stages);
}

/** Greedy generation: the final hidden states of every step and the tokens. */
async function greedy(c: StageChain, text: number[], steps: number) {
  const prompt = promptIds(config, text);
  const layout = promptLayout(prompt, config);
  const { positions, blockPositions } = glmPositions(layout, 0, prompt.length);
  let out = await c.prefill({ seqId: 's', tokens: prompt, positions, blockPositions, contextLength: layout.contextLength }, { fetchHidden: true });
  const hidden = [out.hidden!];
  const tokens: number[] = [];
  for (let k = 0; k < steps; k++) {
    const token = argmax(out.logits!);
    tokens.push(token);
    const pos = glmPositions(layout, prompt.length + k, 1);
    out = await c.decode([{ seqId: 's', token, position: pos.positions[0]!, blockPosition: pos.blockPositions[0]! }], { fetchHidden: true });
    hidden.push(out.hidden!);
  }
  await c.release('s');
  return { hidden, tokens };
}

test('a 3-stage split, each stage encoding its own layers from the checkpoint, equals one stage given the whole prefix', async () => {
  const whole = await chain([{ start: 0, end: 4 }], inMemory);
  const split = await chain([{ start: 0, end: 1 }, { start: 1, end: 3 }, { start: 3, end: 4 }], checkpoint);
  const plain = await chain([{ start: 0, end: 4 }], undefined);
  try {
    assert.deepEqual(split.stages.map((s) => s.info.prefixLength), [6, 6, 6]);
    const text = [5, 17, 33, 2, 60, 71];
    const a = await greedy(whole, text, 12);
    const b = await greedy(split, text, 12);
    assert.deepEqual(b.tokens, a.tokens);
    let worst = 0;
    a.hidden.forEach((h, i) => (worst = Math.max(worst, maxAbsDiff(h, b.hidden[i]!))));
    console.log(`prefix split vs whole: max |hidden diff| ${worst.toExponential(2)}, tokens ${a.tokens.join(' ')}`);
    assert.ok(worst < 1e-4, `hidden states differ by ${worst}`);
    assert.ok(new Set(a.tokens).size > 1, 'the random model should not be degenerate (a single repeated token)');
    // The prefix matters: without it the same prompt gives other activations.
    const none = await greedy(plain, text, 12);
    assert.ok(maxAbsDiff(none.hidden[0]!, a.hidden[0]!) > 1e-2, 'the prefix changed nothing');
  } finally {
    await Promise.all([whole.close(), split.close(), plain.close()]);
  }
});

interface Seq {
  id: string;
  prompt: number[];
  layout: PromptLayout;
  tokens: number[];
  logits: Float32Array[];
}

const PROMPTS = [[3, 4], [10, 20, 30, 40, 50, 60, 70], [8], [41, 42, 43, 44]];

function newSeqs(): Seq[] {
  return PROMPTS.map((text, i) => {
    const prompt = promptIds(config, text);
    return { id: `seq${i}`, prompt, layout: promptLayout(prompt, config), tokens: [], logits: [] };
  });
}

async function prefill(c: StageChain, s: Seq): Promise<void> {
  const { positions, blockPositions } = glmPositions(s.layout, 0, s.prompt.length);
  const out = await c.prefill({ seqId: s.id, tokens: s.prompt, positions, blockPositions, contextLength: s.layout.contextLength });
  s.logits.push(out.logits!);
  s.tokens.push(argmax(out.logits!));
}

function entry(s: Seq) {
  const k = s.tokens.length - 1;
  const pos = glmPositions(s.layout, s.prompt.length + k, 1);
  return { seqId: s.id, token: s.tokens[k]!, position: pos.positions[0]!, blockPosition: pos.blockPositions[0]! };
}

test('batched decode of sequences with the prefix equals decoding each alone, and a reused slot keeps the prefix', async () => {
  const ranges = [{ start: 0, end: 2 }, { start: 2, end: 4 }];
  const alone = await chain(ranges, checkpoint, 4);
  const batched = await chain(ranges, checkpoint, 4);
  const STEPS = 8;
  try {
    const ref = newSeqs();
    for (const s of ref) {
      await prefill(alone, s);
      for (let k = 0; k < STEPS; k++) {
        const out = await alone.decode([entry(s)]);
        s.logits.push(out.logits!);
        s.tokens.push(argmax(out.logits!));
      }
      await alone.release(s.id);
    }
    const seqs = newSeqs();
    for (const s of seqs) await prefill(batched, s);
    for (let k = 0; k < STEPS; k++) {
      const order = k % 2 === 0 ? seqs : [...seqs].reverse();
      const out = await batched.decode(order.map(entry));
      order.forEach((s, r) => {
        const row = out.logits!.slice(r * VOCAB, (r + 1) * VOCAB);
        s.logits.push(row);
        s.tokens.push(argmax(row));
      });
    }
    let worst = 0;
    seqs.forEach((s, i) => {
      assert.deepEqual(s.tokens, ref[i]!.tokens, `tokens of ${s.id}`);
      s.logits.forEach((l, j) => (worst = Math.max(worst, maxAbsDiff(l, ref[i]!.logits[j]!))));
    });
    console.log(`prefix batched vs alone: max |logit diff| ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-4);

    // Slot 1 held a 9-token prompt plus 8 generated tokens; a new sequence there must see the
    // prefix again and nothing of the old one.
    await batched.release('seq1');
    const fresh = { ...newSeqs()[2]!, id: 'reuse' };
    await prefill(batched, fresh);
    assert.ok(maxAbsDiff(fresh.logits[0]!, ref[2]!.logits[0]!) < 1e-5);
  } finally {
    await alone.close();
    await batched.close();
  }
});

test('the cache holds the prefix as-is in positions [0, P) and the tokens after it', async () => {
  const stage = await StageExecutor.create({ config, range: { start: 2, end: 4 }, weights: { kind: 'memory', tensors }, prefix: inMemory, maxSequences: 2, maxTokensPerSequence: 20, threads: 1 });
  try {
    assert.equal(stage.info.prefixLength, 6);
    assert.equal(stage.info.maxTokensPerSequence, 14);
    const hidden = new Float32Array(3 * config.hiddenSize).fill(0.25);
    await stage.prefill({ seqId: 's', hidden, positions: [0, 1, 1], blockPositions: [0, 0, 1], contextLength: 2 });
    const HD = config.hiddenSize / config.numHeads;
    for (const layer of [2, 3]) {
      const cached = stage.readCache('s', layer);
      assert.equal(cached.length, 9);
      const want = prefixKv.layers[layer]!;
      for (let h = 0; h < config.numHeads; h++) {
        for (let t = 0; t < 6; t++) {
          const got = (a: Float32Array) => a.subarray((h * 9 + t) * HD, (h * 9 + t + 1) * HD);
          const exp = (a: Float32Array) => a.subarray((h * 6 + t) * HD, (h * 6 + t + 1) * HD);
          assert.deepEqual(got(cached.keys), exp(want.keys), `layer ${layer} head ${h} prefix key ${t}`);
          assert.deepEqual(got(cached.values), exp(want.values), `layer ${layer} head ${h} prefix value ${t}`);
        }
      }
    }
  } finally {
    await stage.close();
  }
});

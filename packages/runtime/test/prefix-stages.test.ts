// A P-tuning v2 prefix (docs/model.md §10) in running stages: split stages, batched decode and slot reuse
// behave exactly as without one, and the prefix really is what every token attends to first.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { MemoryWeightSource, encodePrefix, type LayerRange } from '@chatglm/glm';
import { ThreadedStageRuntime, StageChain, StageExecutor, type PrefixLocation } from '@chatglm/runtime';
import { maxAbsDiff } from '../../../test/support/golden.ts';
import { decodeAlone, decodeBatched, greedyRun, newSeqs, prefillSeq, worstDiff } from '../../../test/support/engine-steps.ts';
import { randomTensors, tinyConfig } from '../../../test/support/models.ts';
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
    ranges.map((range) => ThreadedStageRuntime.create({ config, range, weights: { kind: 'memory', tensors }, prefix, maxSequences, maxTokensPerSequence: 40, threads: 1, spinning: false })),
  );
  return new StageChain(stages);
}

test('a 3-stage split, each stage encoding its own layers from the checkpoint, equals one stage given the whole prefix', async () => {
  const whole = await chain([{ start: 0, end: 4 }], inMemory);
  const split = await chain([{ start: 0, end: 1 }, { start: 1, end: 3 }, { start: 3, end: 4 }], checkpoint);
  const plain = await chain([{ start: 0, end: 4 }], undefined);
  try {
    assert.deepEqual(split.stages.map((s) => s.info.prefixLength), [6, 6, 6]);
    const text = [5, 17, 33, 2, 60, 71];
    const a = await greedyRun(whole, config, text, 12);
    const b = await greedyRun(split, config, text, 12);
    assert.deepEqual(b.tokens, a.tokens);
    const worst = worstDiff(a.hidden, b.hidden);
    console.log(`prefix split vs whole: max |hidden diff| ${worst.toExponential(2)}, tokens ${a.tokens.join(' ')}`);
    assert.ok(worst < 1e-4, `hidden states differ by ${worst}`);
    assert.ok(new Set(a.tokens).size > 1, 'the random model should not be degenerate (a single repeated token)');
    // The prefix matters: without it the same prompt gives other activations.
    const none = await greedyRun(plain, config, text, 12);
    assert.ok(maxAbsDiff(none.hidden[0]!, a.hidden[0]!) > 1e-2, 'the prefix changed nothing');
  } finally {
    await Promise.all([whole.close(), split.close(), plain.close()]);
  }
});

const PROMPTS = [[3, 4], [10, 20, 30, 40, 50, 60, 70], [8], [41, 42, 43, 44]];

test('batched decode of sequences with the prefix equals decoding each alone, and a reused slot keeps the prefix', async () => {
  const ranges = [{ start: 0, end: 2 }, { start: 2, end: 4 }];
  const alone = await chain(ranges, checkpoint, 4);
  const batched = await chain(ranges, checkpoint, 4);
  const STEPS = 8;
  try {
    const ref = newSeqs(config, PROMPTS);
    await decodeAlone(alone, ref, STEPS);
    const seqs = newSeqs(config, PROMPTS);
    await decodeBatched(batched, seqs, STEPS, VOCAB);
    let worst = 0;
    seqs.forEach((s, i) => {
      assert.deepEqual(s.tokens, ref[i]!.tokens, `tokens of ${s.id}`);
      worst = Math.max(worst, worstDiff(s.logits, ref[i]!.logits));
    });
    console.log(`prefix batched vs alone: max |logit diff| ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-4);

    // Slot 1 held a 9-token prompt plus 8 generated tokens; a new sequence there must see the
    // prefix again and nothing of the old one.
    await batched.release('seq1');
    const fresh = { ...newSeqs(config, PROMPTS)[2]!, id: 'reuse' };
    await prefillSeq(batched, fresh);
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
      const cached = await stage.readCache('s', layer);
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

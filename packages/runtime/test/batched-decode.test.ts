// Several sequences of different lengths decoded in one run give what each gives alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ThreadedStageRuntime, StageChain, type StageDevice } from '@chatglm/runtime';
import { maxAbsDiff } from '../../../test/support/golden.ts';
import { decodeAlone, decodeBatched, newSeqs as newSeqsFor, nextEntry, prefillSeq, worstDiff } from '../../../test/support/engine-steps.ts';
import { randomTensors, tinyConfig } from '../../../test/support/models.ts';
import { STAGE_DEVICES } from '../../../test/support/stage-devices.ts';

const config = tinyConfig();
const tensors = randomTensors(config, 11);
const VOCAB = config.vocabSize;

async function makeChain(device: StageDevice = 'cpu'): Promise<StageChain> {
  const stages = await Promise.all(
    [{ start: 0, end: 2 }, { start: 2, end: 4 }].map((range) =>
      ThreadedStageRuntime.create({ config, range, weights: { kind: 'memory', tensors }, maxSequences: 4, maxTokensPerSequence: 40, threads: 1, spinning: false, device }),
    ),
  );
  return new StageChain(stages);
}

const PROMPTS = [[3, 4], [10, 20, 30, 40, 50, 60, 70], [8], [41, 42, 43, 44]];
const STEPS = 8;
const newSeqs = () => newSeqsFor(config, PROMPTS);

for (const { device, skip } of STAGE_DEVICES) {
  test(`on ${device}, batched decode of 4 sequences of different lengths equals decoding each alone`, { skip }, async () => {
    const alone = await makeChain(device);
    const batched = await makeChain(device);
    try {
      const ref = newSeqs();
      await decodeAlone(alone, ref, STEPS);
      const seqs = newSeqs();
      await decodeBatched(batched, seqs, STEPS, VOCAB);
      let worst = 0;
      seqs.forEach((s, i) => {
        assert.deepEqual(s.tokens, ref[i]!.tokens, `tokens of ${s.id}`);
        worst = Math.max(worst, worstDiff(s.logits, ref[i]!.logits));
      });
      console.log(`${device}: batched vs alone: max |logit diff| ${worst.toExponential(2)}`);
      assert.ok(worst < 1e-4);
    } finally {
      await alone.close();
      await batched.close();
    }
  });
}

for (const { device, skip } of STAGE_DEVICES) {
  test(`on ${device}, a batch around a released sequence, and reuse of its cache pages`, { skip }, async () => {
    const c = await makeChain(device);
    const ref = await makeChain(device);
    try {
      const [a, b, d] = newSeqs();
      for (const s of [a!, b!, d!]) await prefillSeq(c, s);
      await c.release(b!.id); // frees the middle sequence's pages while a and d go on
      const out = await c.decode([nextEntry(a!), nextEntry(d!)]);
      const [ra, , rd] = newSeqs();
      for (const s of [ra!, rd!]) {
        await prefillSeq(ref, s);
        const o = await ref.decode([nextEntry(s)]);
        s.logits.push(o.logits!);
      }
      assert.ok(maxAbsDiff(out.logits!.slice(0, VOCAB), ra!.logits[1]!) < 1e-4);
      assert.ok(maxAbsDiff(out.logits!.slice(VOCAB), rd!.logits[1]!) < 1e-4);
      // The freed pages go to a new sequence without leaking the old one's cache.
      const [, rb] = newSeqs();
      await prefillSeq(c, rb!);
      const fresh = newSeqs()[1]!;
      await prefillSeq(ref, fresh);
      assert.ok(maxAbsDiff(rb!.logits[0]!, fresh.logits[0]!) < 1e-5);
    } finally {
      await c.close();
      await ref.close();
    }
  });
}

test('errors: unknown sequence, full cache, context overflow, out-of-vocabulary id', async () => {
  const c = await makeChain();
  try {
    await assert.rejects(c.decode([{ seqId: 'nope', token: 1, position: 0, blockPosition: 0 }]), /no KV slot/);
    await assert.rejects(
      c.prefill({ seqId: 'big', tokens: new Array(41).fill(1), positions: new Array(41).fill(0), blockPositions: new Array(41).fill(0), contextLength: 40 }),
      /needs 41 cached positions but this stage holds 40/,
    );
    await assert.rejects(c.prefill({ seqId: 'oov', tokens: [VOCAB], positions: [0], blockPositions: [0], contextLength: 0 }), /outside the vocabulary/);
    const seqs = newSeqs();
    for (const s of seqs) await prefillSeq(c, s);
    const extra = { ...newSeqs()[0]!, id: 'fifth' };
    await assert.rejects(prefillSeq(c, extra), /all 4 KV slots are in use/);
    // A failed prefill leaves no half-allocated slot behind on any stage.
    assert.equal((await c.stages[0]!.capacity()).activeSequences, 4);
    assert.equal((await c.stages[1]!.capacity()).activeSequences, 4);
  } finally {
    await c.close();
  }
});

// A model run as one range and as several stages gives the same activations and tokens.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { glmPositions, promptLayout } from '@chatglm/glm';
import { CpuStageRuntime, StageChain } from '@chatglm/runtime';
import { maxAbsDiff } from '../../../test/support/golden.ts';
import { argmax, promptIds, randomTensors, tinyConfig } from '../../../test/support/models.ts';

const config = tinyConfig();
const tensors = randomTensors(config);

async function chain(ranges: { start: number; end: number }[]): Promise<StageChain> {
  const stages = await Promise.all(
    ranges.map((range) => CpuStageRuntime.create({ config, range, weights: { kind: 'memory', tensors }, maxSequences: 2, maxTokensPerSequence: 32, threads: 1, spinning: false })),
  );
  return new StageChain(stages);
}

/** Greedy generation returning the final hidden states of every step and the tokens. */
async function greedy(c: StageChain, prompt: number[], steps: number) {
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

test('one range vs [0,1)+[1,3)+[3,4): same hidden states and greedy tokens', async () => {
  const whole = await chain([{ start: 0, end: 4 }]);
  const split = await chain([{ start: 0, end: 1 }, { start: 1, end: 3 }, { start: 3, end: 4 }]);
  try {
    const prompt = promptIds(config, [5, 17, 33, 2, 60, 71]);
    const a = await greedy(whole, prompt, 12);
    const b = await greedy(split, prompt, 12);
    assert.deepEqual(b.tokens, a.tokens);
    let worst = 0;
    a.hidden.forEach((h, i) => (worst = Math.max(worst, maxAbsDiff(h, b.hidden[i]!))));
    console.log(`split vs whole: max |hidden diff| ${worst.toExponential(2)}, tokens ${a.tokens.join(' ')}`);
    assert.ok(worst < 1e-4, `hidden states differ by ${worst}`);
    assert.ok(new Set(a.tokens).size > 1, 'the random model should not be degenerate (a single repeated token)');
  } finally {
    await whole.close();
    await split.close();
  }
});

test('a chain refuses stages with a gap between their layer ranges', async () => {
  const a = await CpuStageRuntime.create({ config, range: { start: 0, end: 1 }, weights: { kind: 'memory', tensors }, threads: 1 });
  const b = await CpuStageRuntime.create({ config, range: { start: 2, end: 4 }, weights: { kind: 'memory', tensors }, threads: 1 });
  try {
    assert.throws(() => new StageChain([a, b]), /stage 0 ends at layer 1 but stage 1 starts at 2/);
  } finally {
    await a.close();
    await b.close();
  }
});

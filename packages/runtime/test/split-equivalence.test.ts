// A model run as one range and as several stages gives the same activations and tokens.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ThreadedStageRuntime, StageChain, type StageDevice } from '@chatglm/runtime';
import { maxAbsDiff } from '../../../test/support/golden.ts';
import { greedyRun, worstDiff } from '../../../test/support/engine-steps.ts';
import { randomTensors, tinyConfig } from '../../../test/support/models.ts';
import { STAGE_DEVICES } from '../../../test/support/stage-devices.ts';

const config = tinyConfig();
const tensors = randomTensors(config);

async function chain(ranges: { start: number; end: number }[], device: StageDevice = 'cpu'): Promise<StageChain> {
  const stages = await Promise.all(
    ranges.map((range) => ThreadedStageRuntime.create({ config, range, weights: { kind: 'memory', tensors }, maxSequences: 2, maxTokensPerSequence: 32, threads: 1, spinning: false, device })),
  );
  return new StageChain(stages);
}

for (const { device, skip } of STAGE_DEVICES) {
  test(`on ${device}, one range vs [0,1)+[1,3)+[3,4): same hidden states and greedy tokens`, { skip }, async () => {
    const whole = await chain([{ start: 0, end: 4 }], device);
    const split = await chain([{ start: 0, end: 1 }, { start: 1, end: 3 }, { start: 3, end: 4 }], device);
    try {
      const text = [5, 17, 33, 2, 60, 71];
      const a = await greedyRun(whole, config, text, 12);
      const b = await greedyRun(split, config, text, 12);
      assert.deepEqual(b.tokens, a.tokens);
      const worst = worstDiff(a.hidden, b.hidden);
      if (device !== 'cpu') {
        // The same model on the CPU: the same tokens, the same activations within float rounding.
        const cpu = await chain([{ start: 0, end: 4 }]);
        try {
          const c = await greedyRun(cpu, config, text, 12);
          assert.deepEqual(a.tokens, c.tokens, `${device} gives the CPU's greedy tokens`);
          const vsCpu = worstDiff(a.hidden, c.hidden);
          console.log(`${device} vs cpu: max |hidden diff| ${vsCpu.toExponential(2)}`);
          assert.ok(vsCpu < 1e-4, `${device} differs from the CPU by ${vsCpu}`);
        } finally {
          await cpu.close();
        }
      }
      console.log(`${device}: split vs whole: max |hidden diff| ${worst.toExponential(2)}, tokens ${a.tokens.join(' ')}`);
      assert.ok(worst < 1e-4, `hidden states differ by ${worst}`);
      assert.ok(new Set(a.tokens).size > 1, 'the random model should not be degenerate (a single repeated token)');
    } finally {
      await whole.close();
      await split.close();
    }
  });
}

test('a chain refuses stages with a gap between their layer ranges', async () => {
  const a = await ThreadedStageRuntime.create({ config, range: { start: 0, end: 1 }, weights: { kind: 'memory', tensors }, threads: 1 });
  const b = await ThreadedStageRuntime.create({ config, range: { start: 2, end: 4 }, weights: { kind: 'memory', tensors }, threads: 1 });
  try {
    assert.throws(() => new StageChain([a, b]), /stage 1 holds layers \[2, 4\) but the previous stage, stage 0, ends at layer 1: layer 1 is not served/);
  } finally {
    await a.close();
    await b.close();
  }
});

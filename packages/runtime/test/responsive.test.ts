// session.run() blocks the thread it runs on; the CPU stage runs it in a worker thread so the
// hosting process (gRPC server, pipeline head) keeps serving while a step computes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ThreadedStageRuntime } from '@chatglm/runtime';
import { randomTensors, tinyConfig } from '../../../test/support/models.ts';

test('the host event loop keeps running during a long prefill', async () => {
  const config = tinyConfig({ hiddenSize: 512, numHeads: 8, innerHiddenSize: 2048, numLayers: 4, maxSequenceLength: 1024 });
  const stage = await ThreadedStageRuntime.create({ config, range: { start: 0, end: 4 }, weights: { kind: 'memory', tensors: randomTensors(config) }, maxSequences: 1, maxTokensPerSequence: 1024, threads: 1 });
  try {
    const n = 1000;
    const tokens = Array.from({ length: n }, (_, i) => i % 90);
    const positions = Array.from({ length: n }, (_, i) => i);
    let last = performance.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 5);
    const t0 = performance.now();
    await stage.prefill({ seqId: 's', tokens, positions, blockPositions: new Array(n).fill(0), contextLength: n });
    const runMs = performance.now() - t0;
    clearInterval(timer);
    console.log(`prefill of ${n} tokens took ${runMs.toFixed(0)} ms; the longest event-loop gap was ${maxGap.toFixed(0)} ms`);
    assert.ok(runMs > 200, 'the step must be long enough to show blocking');
    assert.ok(maxGap < runMs / 2, `the event loop stalled for ${maxGap.toFixed(0)} ms of a ${runMs.toFixed(0)} ms step`);
  } finally {
    await stage.close();
  }
});

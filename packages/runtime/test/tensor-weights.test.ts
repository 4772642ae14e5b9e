// Weights of kind 'tensors' (StageTensors built by the caller, as the device check writes random
// int4 codes) give the graph the memory weights give, in a StageExecutor of this thread; a stage
// thread cannot take them (they are functions) and says so.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChatGlmError } from '@chatglm/common';
import { MemoryWeightSource, stageTensors, type HostTensor } from '@chatglm/glm';
import { StageExecutor, ThreadedStageRuntime } from '@chatglm/runtime';
import { randomTensors, tinyConfig } from '../../../test/support/models.ts';

const config = tinyConfig({ numLayers: 2 });
const tensors = randomTensors(config);
const request = { seqId: 's', tokens: [5, 6, 7], positions: [0, 1, 2], blockPositions: [0, 0, 0], contextLength: 3 };

test("'tensors' weights in this thread: the same logits as the same tensors by name", async () => {
  const byName = await StageExecutor.create({ config, range: { start: 0, end: 2 }, weights: { kind: 'memory', tensors }, threads: 1 });
  const built = await StageExecutor.create({ config, range: { start: 0, end: 2 }, weights: { kind: 'tensors', tensors: stageTensors(new MemoryWeightSource(new Map<string, HostTensor>(Object.entries(tensors)))) }, threads: 1 });
  try {
    const a = await byName.prefill(request);
    const b = await built.prefill(request);
    assert.ok(a.logits && a.logits.length > 0);
    assert.deepEqual(b.logits, a.logits);
  } finally {
    await byName.close();
    await built.close();
  }
});

test("'tensors' weights cannot go to a stage thread: invalid_stage_spec, naming the alternatives", async () => {
  const tensorsWeights = stageTensors(new MemoryWeightSource(new Map<string, HostTensor>(Object.entries(tensors))));
  await assert.rejects(ThreadedStageRuntime.create({ config, range: { start: 0, end: 2 }, weights: { kind: 'tensors', tensors: tensorsWeights }, threads: 1 }), (err: unknown) => {
    assert.ok(err instanceof ChatGlmError);
    assert.equal(err.code, 'invalid_stage_spec');
    assert.match(err.message, /StageExecutor/);
    return true;
  });
});

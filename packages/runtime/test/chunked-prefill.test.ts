// Chunked prefill (chunked-stage.ts): a stage converted in chunks of layers computes what the whole
// stage computes, and in its thread a decode step that arrives while a prompt is being prefilled
// runs between the prompt's chunks instead of after the whole prompt; a release meanwhile stops the
// prefill and leaves no slot behind.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { glmPositions, promptLayout, readBundleManifest, stageTensors, writeStageBundle, MemoryWeightSource, type BundleOptions, type HostTensor } from '@chatglm/glm';
import { ThreadedStageRuntime, type KvCapacity, type StageOutput } from '@chatglm/runtime';
import { maxAbsDiff } from '../../../test/support/golden.ts';
import { bundleWorkspace, promptIds, randomTensors, tinyConfig } from '../../../test/support/models.ts';

const config = tinyConfig();
const tensors = randomTensors(config, 5);
const { tmp, sourceDir } = bundleWorkspace('chunked');
const whole = { start: 0, end: config.numLayers };

function bundle(name: string, options: BundleOptions): string {
  const dir = path.join(tmp, name);
  const source = stageTensors(new MemoryWeightSource(new Map<string, HostTensor>(Object.entries(tensors))), options.quantization ?? {});
  writeStageBundle({ dir: sourceDir, config, tensors: source, sourceId: 'test-source' }, whole, dir, options);
  return dir;
}

// Float weights stored as fp16: the embedding is read by the first chunk and, as the tied lm_head,
// by the last, and must be written once.
const unchunkedDir = bundle('whole', { storage: 'float16' });
const chunkedDir = bundle('chunked', { storage: 'float16', prefillChunkLayers: 1 });
const open = (dir: string) => ThreadedStageRuntime.create({ config, range: whole, weights: { kind: 'bundle', dir }, maxSequences: 2, maxTokensPerSequence: 32, threads: 1 });

const promptA = promptIds(config, [5, 6, 7]);
const promptB = promptIds(config, [8, 9, 10, 11, 12, 13, 14, 15]);
const prefillOf = (seqId: string, prompt: number[]) => {
  const layout = promptLayout(prompt, config);
  return { seqId, tokens: prompt, ...glmPositions(layout, 0, prompt.length), contextLength: layout.contextLength };
};
const decodeOfA = () => {
  const next = glmPositions(promptLayout(promptA, config), promptA.length, 1);
  return [{ seqId: 'a', token: 9, position: next.positions[0]!, blockPosition: next.blockPositions[0]! }];
};

test('a bundle in chunks of one layer: one graph per layer over the same weight files, computing what the whole stage computes', async () => {
  const manifest = readBundleManifest(chunkedDir);
  assert.deepEqual(manifest.graphs.map((g) => g.layers), [0, 1, 2, 3].map((l) => ({ start: l, end: l + 1 })));
  const weightBytes = (dir: string) => readBundleManifest(dir).files.filter((f) => !f.name.endsWith('.onnx')).reduce((sum, f) => sum + f.bytes, 0);
  assert.equal(weightBytes(chunkedDir), weightBytes(unchunkedDir), 'the chunks share the weights (the embedding is written once)');

  const outputs: StageOutput[][] = [];
  const capacities: KvCapacity[] = [];
  for (const dir of [unchunkedDir, chunkedDir]) {
    const stage = await open(dir);
    try {
      outputs.push([await stage.prefill(prefillOf('a', promptA)), await stage.decode(decodeOfA())]);
      capacities.push(await stage.capacity());
    } finally {
      await stage.close();
    }
  }
  const [unchunked, chunked] = outputs as [StageOutput[], StageOutput[]];
  for (let i = 0; i < 2; i++) assert.ok(maxAbsDiff(chunked[i]!.logits!, unchunked[i]!.logits!) < 1e-5, `step ${i}`);
  // The chunks' caches together hold the pages one graph's cache holds.
  const [whole, parts] = capacities as [KvCapacity, KvCapacity];
  assert.ok(whole.kvBytesHeld > 0);
  assert.equal(parts.kvBytesHeld, whole.kvBytesHeld);
  assert.equal(parts.kvBytesCommitted, whole.kvBytesCommitted);
  assert.equal(parts.cachedTokens, whole.cachedTokens);
});

/** Prefills A, then sends B's prefill and A's decode together: which reply comes first. */
async function orderOfReplies(dir: string): Promise<string[]> {
  const stage = await open(dir);
  try {
    await stage.prefill(prefillOf('a', promptA));
    const order: string[] = [];
    await Promise.all([stage.prefill(prefillOf('b', promptB)).then(() => order.push('prefill of b')), stage.decode(decodeOfA()).then(() => order.push('decode of a'))]);
    const capacity = await stage.capacity();
    assert.equal(capacity.activeSequences, 2);
    return order;
  } finally {
    await stage.close();
  }
}

test("a decode step sent during a chunked stage's prefill runs between its chunks; a whole stage runs it after the prefill", async () => {
  assert.deepEqual(await orderOfReplies(chunkedDir), ['decode of a', 'prefill of b']);
  // The control: one graph, so the decode waits for the whole prompt.
  assert.deepEqual(await orderOfReplies(unchunkedDir), ['prefill of b', 'decode of a']);
});

test('a release during a chunked prefill stops it and frees every chunk\'s slot', async () => {
  const stage = await open(chunkedDir);
  try {
    const prefill = stage.prefill(prefillOf('b', promptB));
    const released = stage.release('b');
    await assert.rejects(prefill, /released while its prompt was being prefilled/);
    await released;
    assert.equal((await stage.capacity()).activeSequences, 0);
    // Every chunk's slot is free again: the same sequence prefills anew.
    await stage.prefill(prefillOf('b', promptB));
    assert.equal((await stage.capacity()).activeSequences, 1);
  } finally {
    await stage.close();
  }
});

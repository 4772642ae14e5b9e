// The KV cache of a webgpu stage lives on the GPU and the graph writes it in place
// (DeviceKvPools): after prefills of different lengths and batched decode steps, every sequence's
// cached keys and values, read back from the device, equal the CPU stage's host cache. A write
// that landed anywhere but the pools' own buffers would leave them zero. Bundles converted for
// webgpu stages record it, and a CPU stage refuses them.
import assert from 'node:assert/strict';
import path from 'node:path';
import test from 'node:test';
import { MemoryWeightSource, STAGE_IO, SequencePositions, buildStageGraph, bundleVariant, quantizationFromFlags, randomGlmWeights, readBundleManifest, stageTensors, writeStageBundle, type BundleOptions, type HostTensor } from '@chatglm/glm';
import { StageExecutor, type PrefixLocation } from '@chatglm/runtime';
import { bundleWorkspace, randomTensors, tinyConfig } from '../../../test/support/models.ts';
import { webgpuMissing } from '../../../test/support/stage-devices.ts';

const config = tinyConfig();

test('a device-resident cache graph gives back no new rows: its pools are written in the graph', () => {
  const graph = buildStageGraph(config, { start: 0, end: 2 }, new MemoryWeightSource(randomGlmWeights(config, { layers: { start: 0, end: 2 } })), { kvResidence: 'device' });
  const text = Buffer.from(graph.model).toString('latin1');
  assert.ok(text.includes(STAGE_IO.cacheRows) && text.includes(STAGE_IO.keyPagesOut(1)), 'cache_rows in, written pools out');
  assert.ok(!text.includes(STAGE_IO.newKey(0)), 'no new_key output');
});

// A P-tuning prefix of 21 positions fills one page shared by every sequence and 5 positions of each
// sequence's first page, both written to the device from the host.
const prefixOf = (length: number): Extract<PrefixLocation, { kind: 'memory' }> => {
  const n = config.hiddenSize * length;
  const values = (salt: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + salt));
  return { kind: 'memory', length, layers: [0, 1].map((layer) => ({ layer, keys: values(layer), values: values(layer + 10) })) };
};

for (const [name, prefix, sharedPages] of [['no prefix', undefined, 0], ['a 21-position P-tuning prefix', prefixOf(21), 1]] as const) test(`webgpu, ${name}: the cache on the device equals the CPU stage's after prefills of different lengths and batched decode steps`, { skip: webgpuMissing }, async () => {
  const tensors = randomTensors(config, 3);
  const prompts = [[5, 6, 7, config.gmaskTokenId, config.bosTokenId], [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, config.gmaskTokenId, config.bosTokenId]];
  const run = async (device: 'cpu' | 'webgpu') => {
    const stage = await StageExecutor.create({ config, range: { start: 0, end: 2 }, weights: { kind: 'memory', tensors }, ...(prefix && { prefix }), maxSequences: 3, maxTokensPerSequence: 40 + (prefix?.length ?? 0), threads: 1, device });
    try {
      assert.equal(stage.info.kvOnDevice, device === 'webgpu', 'the stage reports where its cache is');
      const positions = prompts.map((p) => SequencePositions.of(p, config));
      for (const [i, p] of prompts.entries()) await stage.prefill({ seqId: `s${i}`, tokens: p, ...positions[i]!.prefill(p.length), contextLength: positions[i]!.contextLength });
      for (let k = 0; k < 3; k++) {
        await stage.decode(prompts.map((p, i) => ({ seqId: `s${i}`, token: 30 + k, ...positions[i]!.at(p.length + k) })));
      }
      const capacity = await stage.capacity();
      // Keys and values of 2 layers, every position of the pools (the padding page's 16 and the shared prefix pages' too), fp32.
      const pooled = capacity.kvTokensCapacity + 16 * (1 + sharedPages);
      if (device === 'webgpu') assert.equal(capacity.kvBytesCommitted, 2 * 2 * pooled * config.hiddenSize * 4, 'the GPU pools are committed whole from the start');
      const caches = [];
      for (const i of prompts.keys()) for (const layer of [0, 1]) caches.push(await stage.readCache(`s${i}`, layer));
      return caches;
    } finally {
      await stage.close();
    }
  };
  const cpu = await run('cpu');
  const gpu = await run('webgpu');
  let worst = 0;
  cpu.forEach((c, i) => {
    const g = gpu[i]!;
    assert.equal(g.length, c.length);
    assert.ok(c.keys.some((v) => v !== 0), 'the CPU cache holds values');
    for (const [a, b] of [[c.keys, g.keys], [c.values, g.values]] as const) a.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - b[j]!))));
  });
  console.log(`device cache vs host cache: max |diff| ${worst.toExponential(2)} over ${cpu.length} sequence-layers`);
  assert.ok(worst < 1e-4, `device cache differs from the host cache by ${worst}`);
});

test('a bundle converted for webgpu records its cache on the device: a webgpu stage keeps it there, a CPU stage refuses it by name', { skip: webgpuMissing }, async () => {
  const { tmp, sourceDir } = bundleWorkspace('device-kv-bundle');
  const tensors = randomTensors(config, 5);
  const range = { start: 0, end: config.numLayers };
  // fp32 storage, so that the bundle's weights are the memory build's exactly.
  const options: BundleOptions = { storage: 'float32', quantization: quantizationFromFlags({ quantize: 'int4', kvCache: 'float32', device: 'webgpu' }) };
  const dir = path.join(tmp, 'stage');
  writeStageBundle({ dir: sourceDir, config, tensors: stageTensors(new MemoryWeightSource(new Map<string, HostTensor>(Object.entries(tensors))), options.quantization), sourceId: 'test-source' }, range, dir, options);
  assert.equal(readBundleManifest(dir).quantization.kvResidence, 'device');
  assert.match(bundleVariant(options), /kvgpu/);
  assert.equal(bundleVariant({ quantization: quantizationFromFlags({ quantize: 'int4' }) }).includes('kvgpu'), false, 'a CPU bundle keeps its name');

  const prompt = [5, 6, 7, config.gmaskTokenId, config.bosTokenId];
  const positions = SequencePositions.of(prompt, config);
  const logitsOn = async (spec: Parameters<typeof StageExecutor.create>[0]) => {
    const stage = await StageExecutor.create(spec);
    try {
      assert.equal(stage.info.kvOnDevice, spec.device === 'webgpu');
      await stage.prefill({ seqId: 's', tokens: prompt, ...positions.prefill(prompt.length), contextLength: positions.contextLength });
      return (await stage.decode([{ seqId: 's', token: 9, ...positions.at(prompt.length) }])).logits!;
    } finally {
      await stage.close();
    }
  };
  const common = { config, range, maxSequences: 1, maxTokensPerSequence: 16, threads: 1 };
  const fromBundle = await logitsOn({ ...common, weights: { kind: 'bundle', dir }, device: 'webgpu' });
  // Against the same weights built in memory on webgpu (the CPU's int4 products quantize activations to int8, so differ more).
  const inMemory = await logitsOn({ ...common, weights: { kind: 'memory', tensors }, quantization: { linears: 'int4', embedding: 'int4' }, device: 'webgpu' });
  const worst = fromBundle.reduce((m, v, i) => Math.max(m, Math.abs(v - inMemory[i]!)), 0);
  assert.ok(worst < 1e-5, `the webgpu bundle's logits vs the in-memory build's: ${worst}`);
  await assert.rejects(StageExecutor.create({ ...common, weights: { kind: 'bundle', dir }, device: 'cpu' }), /converted for webgpu stages .*convert the model again without --device webgpu/);
});

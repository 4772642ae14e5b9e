// Bundles: a stage converted to disk (graph + weight files) computes what the in-memory build of the
// same stage computes; fp16 storage stays close; a damaged bundle is refused with a clear message; a
// conversion's folder of stage bundles is read as one pipeline, or refused when it is not one.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { glmPositions, promptLayout, readBundleManifest, readConvertedStages, stageBundleName, stageTensors, writeStageBundle, MemoryWeightSource, type BundleOptions, type BundleProgress, type HostTensor } from '@chatglm/glm';
import { ThreadedStageRuntime, StageChain } from '@chatglm/runtime';
import { maxAbsDiff } from '../../../test/support/golden.ts';
import { bundleWorkspace, promptIds, randomTensors, tinyConfig } from '../../../test/support/models.ts';

const config = tinyConfig();
const tensors = randomTensors(config, 21);
const { tmp, sourceDir } = bundleWorkspace('bundle');

function bundle(name: string, range: { start: number; end: number }, options: BundleOptions): string {
  const dir = path.join(tmp, name);
  const source = stageTensors(new MemoryWeightSource(new Map<string, HostTensor>(Object.entries(tensors))), options.quantization ?? {});
  writeStageBundle({ dir: sourceDir, config, tensors: source, sourceId: 'test-source' }, range, dir, { ...options, maxFileBytes: 60_000 });
  return dir;
}

async function logitsOf(stages: ThreadedStageRuntime[]): Promise<Float32Array[]> {
  const chain = new StageChain(stages);
  try {
    const prompt = promptIds(config, [5, 6, 7, 8]);
    const layout = promptLayout(prompt, config);
    const { positions, blockPositions } = glmPositions(layout, 0, prompt.length);
    const out = [(await chain.prefill({ seqId: 's', tokens: prompt, positions, blockPositions, contextLength: layout.contextLength })).logits!];
    for (let k = 0; k < 4; k++) {
      const pos = glmPositions(layout, prompt.length + k, 1);
      out.push((await chain.decode([{ seqId: 's', token: 10 + k, position: pos.positions[0]!, blockPosition: pos.blockPositions[0]! }])).logits!);
    }
    return out;
  } finally {
    await chain.close();
  }
}

const common = { config, maxSequences: 1, maxTokensPerSequence: 16, threads: 1, spinning: false };
const ranges = [{ start: 0, end: 2 }, { start: 2, end: 4 }];

for (const quant of ['none', 'int8', 'int4'] as const) {
  test(`a 2-stage ${quant} bundle computes what the in-memory build computes`, async () => {
    const options: BundleOptions = { quantization: { linears: quant, embedding: quant }, storage: 'float32' };
    const dirs = ranges.map((r, i) => bundle(`${quant}-${i}`, r, options));
    const manifest = readBundleManifest(dirs[1]!);
    assert.deepEqual(manifest.layers, ranges[1]);
    assert.equal(manifest.quantization.linears, quant);
    assert.ok(manifest.files.length > 2, 'weights roll over into several files');
    const fromDisk = await logitsOf(await Promise.all(ranges.map((range, i) => ThreadedStageRuntime.create({ ...common, range, weights: { kind: 'bundle', dir: dirs[i]! } }))));
    const inMemory = await logitsOf(await Promise.all(ranges.map((range) => ThreadedStageRuntime.create({ ...common, range, weights: { kind: 'memory', tensors }, quantization: options.quantization! }))));
    let worst = 0;
    fromDisk.forEach((l, i) => (worst = Math.max(worst, maxAbsDiff(l, inMemory[i]!))));
    assert.ok(worst < 1e-5, `bundle vs in-memory: ${worst}`);
  });
}

test('fp16 storage halves the float bytes and stays close to fp32', async () => {
  const f32 = bundle('f32', { start: 0, end: 4 }, { storage: 'float32' });
  const f16 = bundle('f16', { start: 0, end: 4 }, { storage: 'float16' });
  const size = (dir: string) => readBundleManifest(dir).files.filter((f) => f.name !== 'graph.onnx').reduce((a, f) => a + f.bytes, 0);
  assert.ok(size(f16) < 0.55 * size(f32), `${size(f16)} vs ${size(f32)}`);
  const a = await logitsOf([await ThreadedStageRuntime.create({ ...common, range: { start: 0, end: 4 }, weights: { kind: 'bundle', dir: f32 } })]);
  const b = await logitsOf([await ThreadedStageRuntime.create({ ...common, range: { start: 0, end: 4 }, weights: { kind: 'bundle', dir: f16 } })]);
  let worst = 0;
  a.forEach((l, i) => (worst = Math.max(worst, maxAbsDiff(l, b[i]!))));
  console.log(`fp16 storage vs fp32: max |logit diff| ${worst.toExponential(2)}`);
  assert.ok(worst > 0 && worst < 0.05);
});

test('an fp16 KV cache is fixed in the bundle: recorded, loaded as converted, and refused when another is asked', async () => {
  const options: BundleOptions = { quantization: { linears: 'int8', embedding: 'int8', kvCache: 'float16' }, storage: 'float32' };
  const dirs = ranges.map((r, i) => bundle(`kv16-${i}`, r, options));
  assert.equal(readBundleManifest(dirs[0]!).quantization.kvCache, 'float16');
  const fromDisk = await logitsOf(await Promise.all(ranges.map((range, i) => ThreadedStageRuntime.create({ ...common, range, weights: { kind: 'bundle', dir: dirs[i]! } }))));
  const inMemory = await logitsOf(await Promise.all(ranges.map((range) => ThreadedStageRuntime.create({ ...common, range, weights: { kind: 'memory', tensors }, quantization: options.quantization! }))));
  const fp32Cache = await logitsOf(await Promise.all(ranges.map((range) => ThreadedStageRuntime.create({ ...common, range, weights: { kind: 'memory', tensors }, quantization: { ...options.quantization!, kvCache: 'float32' } }))));
  let worst = 0;
  let fromFp32 = 0;
  fromDisk.forEach((l, i) => {
    worst = Math.max(worst, maxAbsDiff(l, inMemory[i]!));
    fromFp32 = Math.max(fromFp32, maxAbsDiff(l, fp32Cache[i]!));
  });
  assert.ok(worst < 1e-5, `bundle vs in-memory: ${worst}`);
  assert.ok(fromFp32 > 0, 'the fp16 cache computed exactly what the fp32 one does: was it used?');
  await assert.rejects(ThreadedStageRuntime.create({ ...common, range: ranges[0]!, weights: { kind: 'bundle', dir: dirs[0]! }, quantization: { kvCache: 'float32' } }), /converted with a float16 KV cache, not float32/);
  // A bundle written before the field existed has an fp32 graph.
  const manifestFile = path.join(dirs[0]!, 'bundle.json');
  const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
  delete manifest.quantization.kvCache;
  fs.writeFileSync(manifestFile, JSON.stringify(manifest));
  assert.equal(readBundleManifest(dirs[0]!).quantization.kvCache, 'float32');
});

test('a truncated weights file or a wrong layer range is refused with a clear message', async () => {
  const dir = bundle('broken', { start: 0, end: 4 }, { storage: 'float32' });
  await assert.rejects(ThreadedStageRuntime.create({ ...common, range: { start: 0, end: 2 }, weights: { kind: 'bundle', dir } }), /holds layers 0-3, not layers 0-1/);
  const weights = path.join(dir, 'weights-000.bin');
  fs.truncateSync(weights, 1000);
  await assert.rejects(ThreadedStageRuntime.create({ ...common, range: { start: 0, end: 4 }, weights: { kind: 'bundle', dir } }), /weights-000\.bin is 1000 bytes, the manifest says \d+ \(truncated or replaced\?\)/);
});

test('a conversion reports its progress after each weight tensor: layer by layer, every byte written', () => {
  const dir = path.join(tmp, 'progress');
  const source = stageTensors(new MemoryWeightSource(new Map<string, HostTensor>(Object.entries(tensors))), { linears: 'int4', embedding: 'int4' });
  const seen: BundleProgress[] = [];
  const manifest = writeStageBundle({ dir: sourceDir, config, tensors: source, sourceId: 'test-source' }, { start: 1, end: 4 }, dir, { storage: 'float16' }, (p) => seen.push(p));
  assert.deepEqual(seen.map((p) => p.tensors), seen.map((_, i) => i + 1));
  const layers = [...new Set(seen.map((p) => p.layer).filter((l) => l !== undefined))];
  assert.deepEqual(layers, [1, 2, 3], 'layers in order, each once');
  // Every byte of the weight files is a tensor's (files are padded between tensors to an alignment).
  const weightBytes = manifest.files.filter((f) => f.name !== 'graph.onnx').reduce((a, f) => a + f.bytes, 0);
  const written = seen.at(-1)!.bytes;
  assert.ok(written <= weightBytes && written > weightBytes * 0.9, `${written} bytes reported, ${weightBytes} in the files`);
});

test('a conversion folder reads as one pipeline in order; an incomplete or mixed one is refused by name', () => {
  const out = path.join(tmp, 'converted');
  const options: BundleOptions = { quantization: { linears: 'int8', embedding: 'int8' }, storage: 'float32' };
  fs.mkdirSync(out);
  ranges.forEach((r, i) => fs.renameSync(bundle(`c-${i}`, r, options), path.join(out, stageBundleName(i, 2))));
  fs.mkdirSync(path.join(out, 'notes'));
  const stages = readConvertedStages(out)!;
  assert.deepEqual(stages.map((s) => [path.basename(s.dir), s.manifest.layers]), [['stage-0-of-2', ranges[0]], ['stage-1-of-2', ranges[1]]]);
  assert.equal(readConvertedStages(sourceDir), undefined, 'a folder without stage bundles is not a conversion');

  // Another conversion's stage beside them: of another quantization, then of another stage count.
  fs.renameSync(path.join(out, 'stage-1-of-2'), path.join(tmp, 'kept'));
  fs.renameSync(bundle('c-int4', ranges[1]!, { ...options, quantization: { linears: 'int4', embedding: 'int4' } }), path.join(out, 'stage-1-of-2'));
  assert.throws(() => readConvertedStages(out), /stage-1-of-2 was converted from another checkpoint or with other options/);
  fs.rmSync(path.join(out, 'stage-1-of-2'), { recursive: true });
  assert.throws(() => readConvertedStages(out), /has no stage-1-of-2: the conversion is incomplete/);
  fs.renameSync(bundle('c-whole', { start: 0, end: 4 }, options), path.join(out, stageBundleName(0, 1)));
  assert.throws(() => readConvertedStages(out), /holds conversions for 1 and 2 stages/);
});

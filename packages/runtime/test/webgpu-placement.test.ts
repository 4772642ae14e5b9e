// On --device webgpu every compute node of a stage's graph runs on the WebGPU provider: ONNX
// Runtime would otherwise quietly run what the provider lacks on the CPU (and copy activations to
// and fro). Read from ONNX Runtime's own profile of a prefill and a decode step, for float and
// quantized weights, on the first, a middle and the last stage.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { GraphBuilder, glmPositions, promptLayout, type QuantizationOptions } from '@chatglm/glm';
import ort from 'onnxruntime-node';
import { StageExecutor, readProfile, type ProfileEvent } from '@chatglm/runtime';
import { promptIds, randomTensors, tinyConfig } from '../../../test/support/models.ts';
import { webgpuMissing } from '../../../test/support/stage-devices.ts';

interface Placement {
  op: string;
  provider: string;
  /** Only integer or boolean outputs: shape arithmetic (sizes, offsets, whether a step is a decode step), which the CPU is welcome to do. */
  shapeArithmetic: boolean;
}

/** The nodes that ran on the CPU though they compute on activations (not shape arithmetic). */
function cpuFallbacks(placed: Map<string, Placement>): string[] {
  return [...placed].filter(([, p]) => p.provider !== 'WebGpuExecutionProvider' && !p.shapeArithmetic).map(([node, p]) => `${node} (${p.op} on ${p.provider})`);
}

/** Whether a profiled node only computes integers or booleans: shape arithmetic (see Placement). */
function isShapeArithmetic(e: ProfileEvent): boolean {
  const outputs = (e.args?.output_type_shape ?? []).flatMap((o) => Object.keys(o));
  return outputs.length > 0 && outputs.every((t) => t === 'int64' || t === 'int32' || t === 'bool');
}

/** Each node's op and provider, from an ONNX Runtime profile (one entry per node). */
function placements(file: string): Map<string, Placement> {
  const events = readProfile(file);
  const nodes = new Map<string, Placement>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.args?.op_name || !e.args.provider || !e.name) continue;
    nodes.set(e.name.replace(/_kernel_time$/, ''), { op: e.args.op_name, provider: e.args.provider, shapeArithmetic: isShapeArithmetic(e) });
  }
  return nodes;
}

const config = tinyConfig({ hiddenSize: 128, numHeads: 4, innerHiddenSize: 512, maxSequenceLength: 64 });
const tensors = randomTensors(config);
const VARIANTS: [string, QuantizationOptions][] = [
  ['float weights', {}],
  ['int4 linears', { linears: 'int4' }],
  ['int8 linears, int4 embedding and lm_head', { linears: 'int8', embedding: 'int4' }],
];

for (const [name, quantization] of VARIANTS) {
  test(`webgpu node placement, ${name}: no compute node falls back to the CPU`, { skip: webgpuMissing }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-profile-'));
    const prompt = promptIds(config, [5, 6, 7]);
    const layout = promptLayout(prompt, config);
    const placed = new Map<string, Placement>();
    try {
      // The whole model, then a first, a middle and a last stage (inputs of another kind, no lm_head).
      for (const range of [{ start: 0, end: 4 }, { start: 0, end: 1 }, { start: 1, end: 3 }, { start: 3, end: 4 }]) {
        const stage = await StageExecutor.create({ config, range, weights: { kind: 'memory', tensors }, quantization, maxSequences: 2, maxTokensPerSequence: 16, threads: 1, device: 'webgpu', profileFilePrefix: path.join(dir, `stage-${range.start}-${range.end}`) });
        try {
          const first = range.start === 0;
          const hiddenOf = (n: number) => new Float32Array(n * config.hiddenSize).fill(0.01);
          const { positions, blockPositions } = glmPositions(layout, 0, prompt.length);
          await stage.prefill({ seqId: 's', ...(first ? { tokens: prompt } : { hidden: hiddenOf(prompt.length) }), positions, blockPositions, contextLength: layout.contextLength });
          const next = glmPositions(layout, prompt.length, 1);
          await stage.decode([{ seqId: 's', ...(first ? { token: 9 } : { hidden: hiddenOf(1) }), position: next.positions[0]!, blockPosition: next.blockPositions[0]! }]);
          for (const [node, p] of placements(stage.endProfiling())) placed.set(`${range.start}-${range.end}:${node}`, p);
        } finally {
          await stage.close();
        }
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const byProvider = new Map<string, Set<string>>();
    for (const { op, provider, shapeArithmetic } of placed.values()) byProvider.set(provider, (byProvider.get(provider) ?? new Set()).add(shapeArithmetic ? `${op}(shape)` : op));
    console.log(`${name}: ${[...byProvider].map(([p, ops]) => `${p}: ${[...ops].sort().join(' ')}`).join(' | ')}`);
    assert.ok((byProvider.get('WebGpuExecutionProvider')?.size ?? 0) > 5, 'the profile lists the nodes that ran on WebGPU');
    assert.deepEqual(cpuFallbacks(placed), [], 'compute nodes that fell back to the CPU');
    assert.ok(byProvider.get('WebGpuExecutionProvider')?.has('ScatterElements'), 'the KV cache is written on the GPU');
    // The fused kernels that keep a layer at a few dispatches (docs/performance.md, "GPUs").
    for (const fused of ['RotaryEmbedding', 'SkipLayerNormalization', 'MultiHeadAttention']) assert.ok(byProvider.get('WebGpuExecutionProvider')?.has(fused), `${fused} runs on the GPU`);
  });
}

// An fp16 KV cache needs fp16 shaders, which SwiftShader (CI) lacks and NVIDIA GPUs have: without
// them the first step must fail with what to do, not ONNX Runtime's shader message alone; with them,
// the stage computes what the CPU computes with the same cache.
test('an fp16 KV cache on webgpu: the CPU\'s logits where the adapter has fp16 shaders, else an error saying what to do', { skip: webgpuMissing }, async () => {
  const quantization: QuantizationOptions = { linears: 'int4', embedding: 'int4', kvCache: 'float16' };
  const prompt = promptIds(config, [5, 6, 7]);
  const layout = promptLayout(prompt, config);
  const { positions, blockPositions } = glmPositions(layout, 0, prompt.length);
  const logitsOn = async (device: 'cpu' | 'webgpu') => {
    const stage = await StageExecutor.create({ config, range: { start: 0, end: 4 }, weights: { kind: 'memory', tensors }, quantization, maxSequences: 1, maxTokensPerSequence: 16, threads: 1, device });
    try {
      await stage.prefill({ seqId: 's', tokens: prompt, positions, blockPositions, contextLength: layout.contextLength });
      const next = glmPositions(layout, prompt.length, 1);
      return (await stage.decode([{ seqId: 's', token: 9, position: next.positions[0]!, blockPosition: next.blockPositions[0]! }])).logits!;
    } finally {
      await stage.close();
    }
  };
  const cpu = await logitsOn('cpu');
  let gpu: Float32Array;
  try {
    gpu = await logitsOn('webgpu');
  } catch (err) {
    assert.match((err as Error).message, /keeps its KV cache in fp16, and the WebGPU adapter cannot compute in fp16 .*--kv-cache float32/);
    console.log('this adapter has no fp16 shaders (SwiftShader): checked the error names --kv-cache float32');
    return;
  }
  const worst = cpu.reduce((m, v, i) => Math.max(m, Math.abs(v - gpu[i]!)), 0);
  console.log(`this adapter computes in fp16: webgpu vs cpu logits max |diff| ${worst.toExponential(2)}`);
  assert.ok(worst < 1e-2, `webgpu vs cpu with an fp16 cache: ${worst}`);
});

// A GPU pays per kernel (docs/performance.md, "GPUs": a one-stream step on an H200 was bound by
// the host's work per kernel), so a decode layer's kernel count is held to what it is: 4 linear
// products, 2 SkipLayerNormalizations, RotaryEmbedding, a Split, 2 ScatterElements writing the
// cache, 2 Gathers reading it, a Gelu, and attention: an If choosing MultiHeadAttention (2), or,
// with fusedDecodeAttention off, 4 Transposes, 2 products, the mask's Add and a Softmax (8).
// Counted as the difference between a 4-layer and a 2-layer model's decode step (the embedding and
// lm_head cancel), reshapes aside (they alias their input: no GPU work) and shape arithmetic aside.
for (const [fusedDecodeAttention, budget] of [[true, 15], [false, 21]] as const) {
  test(`a decode step on webgpu runs at most ${budget} kernels a layer, attention ${fusedDecodeAttention ? 'as MultiHeadAttention' : 'as products'}`, { skip: webgpuMissing }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-profile-'));
    const prompt = promptIds(config, [5, 6, 7]);
    const layout = promptLayout(prompt, config);
    const decodeKernels = async (layers: number): Promise<Map<string, number>> => {
      const layerConfig = { ...config, numLayers: layers };
      const stage = await StageExecutor.create({ config: layerConfig, range: { start: 0, end: layers }, weights: { kind: 'memory', tensors: randomTensors(layerConfig) }, quantization: { linears: 'int4' }, fusedDecodeAttention, maxSequences: 1, maxTokensPerSequence: 16, threads: 1, device: 'webgpu', profileFilePrefix: path.join(dir, `layers-${layers}`) });
      let file: string;
      try {
        const { positions, blockPositions } = glmPositions(layout, 0, prompt.length);
        await stage.prefill({ seqId: 's', tokens: prompt, positions, blockPositions, contextLength: layout.contextLength });
        const next = glmPositions(layout, prompt.length, 1);
        await stage.decode([{ seqId: 's', token: 9, position: next.positions[0]!, blockPosition: next.blockPositions[0]! }]);
        file = stage.endProfiling();
      } finally {
        await stage.close();
      }
      const events = readProfile(file);
      const decodeRun = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').at(-1);
      assert.ok(decodeRun?.ts !== undefined, 'the profile has the decode run');
      const counts = new Map<string, number>();
      for (const e of events) {
        if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || (e.ts ?? 0) < decodeRun.ts || e.args?.provider !== 'WebGpuExecutionProvider') continue;
        if (e.args.op_name === 'Reshape' || isShapeArithmetic(e)) continue;
        counts.set(e.args.op_name ?? '?', (counts.get(e.args.op_name ?? '?') ?? 0) + 1);
      }
      return counts;
    };
    try {
      const [two, four] = [await decodeKernels(2), await decodeKernels(4)];
      const perLayer = new Map([...four].map(([op, n]) => [op, (n - (two.get(op) ?? 0)) / 2] as const).filter(([, n]) => n !== 0));
      const total = [...perLayer.values()].reduce((a, b) => a + b, 0);
      console.log(`webgpu decode kernels a layer: ${total} (${[...perLayer].map(([op, n]) => `${op} ${n}`).join(', ')})`);
      assert.ok(total > 0 && total <= budget, `a decode layer runs ${total} kernels`);
      assert.equal(perLayer.has('MultiHeadAttention'), fusedDecodeAttention, 'MultiHeadAttention runs exactly when asked for');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('negative control: a matrix product forced onto the CPU is caught', { skip: webgpuMissing }, async () => {
  const g = new GraphBuilder();
  g.op('Softmax', [g.op('Gemm', [g.input('x', 'float32', [2, 4]), g.inline('w', 'float32', [4, 4], new Float32Array(16).fill(0.5))], {}, 'gemm_out')], { axis: -1 }, 'y');
  g.output('y', 'float32', [2, 4]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-profile-'));
  try {
    const options = { executionProviders: [{ name: 'webgpu', forceCpuNodeNames: ['Gemm_gemm_out'] }], enableProfiling: true, profileFilePrefix: path.join(dir, 'forced') };
    const session = await ort.InferenceSession.create(g.build('forced').model, options as ort.InferenceSession.SessionOptions);
    await session.run({ x: new ort.Tensor('float32', new Float32Array(8).fill(1), [2, 4]) });
    session.endProfiling();
    const [file] = fs.readdirSync(dir);
    assert.deepEqual(cpuFallbacks(placements(path.join(dir, file!))), ['Gemm_gemm_out (Gemm on CPUExecutionProvider)']);
    await session.release();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// With fp16 storage, every float weight is widened by a Cast that ONNX Runtime can fold at load:
// one consumer per Cast of an initializer, and the embedding gathered from its fp16 rows. A Cast of
// the whole 130528 x 4096 table that fed both the Gather and the lm_head was not folded and ran on
// every step (docs/performance.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import onnxProto from 'onnx-proto';
import { EMBEDDING_NAME, MemoryWeightSource, buildStageGraph, randomGlmWeights } from '@chatglm/glm';
import { tinyConfig } from '../../../test/support/models.ts';

const { onnx } = onnxProto;
const config = tinyConfig();
const weights = new MemoryWeightSource(randomGlmWeights(config, { seed: 3 }));

function decode(range: { start: number; end: number }, storage: 'float16' | 'float32') {
  const graph = onnx.ModelProto.decode(buildStageGraph(config, range, weights, { storage }).model).graph!;
  const nodes = (graph.node ?? []).map((n) => ({ opType: n.opType ?? '', input: n.input ?? [], output: n.output ?? [] }));
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t.dataType ?? 0]));
  const consumers = (value: string) => nodes.filter((n) => n.input.includes(value));
  return { nodes, initializers, consumers };
}

for (const range of [{ start: 0, end: 4 }, { start: 0, end: 2 }, { start: 2, end: 4 }]) {
  test(`fp16 storage, layers ${range.start}-${range.end - 1}: each Cast of a weight has one consumer`, () => {
    const { nodes, initializers, consumers } = decode(range, 'float16');
    const weightCasts = nodes.filter((n) => n.opType === 'Cast' && initializers.has(n.input[0]!));
    assert.ok(weightCasts.length > 0);
    for (const cast of weightCasts) {
      const users = consumers(cast.output[0]!);
      assert.equal(users.length, 1, `the Cast of ${cast.input[0]} feeds ${users.map((u) => u.opType).join(', ')}`);
    }
  });
}

test('fp16 storage: the embedding is gathered from its fp16 table and only the gathered rows are widened', () => {
  const { nodes, initializers, consumers } = decode({ start: 0, end: 4 }, 'float16');
  const gather = nodes.find((n) => n.opType === 'Gather' && n.input[0]?.startsWith(EMBEDDING_NAME));
  assert.ok(gather, 'a Gather reads the embedding initializer itself');
  assert.equal(initializers.get(gather.input[0]!), onnx.TensorProto.DataType.FLOAT16);
  assert.deepEqual(consumers(gather.output[0]!).map((n) => n.opType), ['Cast']);
});

test('fp32 storage: no Cast of a weight at all', () => {
  const { nodes, initializers } = decode({ start: 0, end: 4 }, 'float32');
  assert.deepEqual(nodes.filter((n) => n.opType === 'Cast' && initializers.has(n.input[0]!)).map((n) => n.input[0]), []);
});

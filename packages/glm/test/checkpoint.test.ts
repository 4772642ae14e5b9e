// Reading Hugging Face model directories with safetensors weights, and the errors a user sees.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { numberToFloat16Bits } from '@chatglm/common';
import { SafetensorsWeightSource, parseGlmConfig, readModelDirectory, toHfConfigJson, writeSafetensors, type HostTensor } from '@chatglm/glm';
import { tinyConfig } from '../../../test/support/models.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glm-checkpoint-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function dir(name: string): string {
  const d = path.join(tmp, name);
  fs.mkdirSync(d);
  return d;
}

/** A safetensors file written by hand (not by our writer), with one tensor of the given dtype. */
function handWritten(file: string, name: string, dtype: string, shape: number[], data: Uint8Array, truncateBy = 0): void {
  const header = Buffer.from(JSON.stringify({ [name]: { dtype, shape, data_offsets: [0, data.length] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  const all = Buffer.concat([len, header, Buffer.from(data)]);
  fs.writeFileSync(file, all.subarray(0, all.length - truncateBy));
}

test('fp32 round trip through our writer; fp16 and bf16 widen exactly', () => {
  const d = dir('dtypes');
  const t: HostTensor = { dims: [2, 3], data: Float32Array.from([1, -2, 0.5, 3.25, -0, 1e-3]) };
  writeSafetensors(path.join(d, 'a.safetensors'), new Map([['x', t]]));
  const f16 = new Uint16Array([1, -2, 0.5, 65504, 2 ** -24].map(numberToFloat16Bits));
  handWritten(path.join(d, 'b.safetensors'), 'h', 'F16', [5], new Uint8Array(f16.buffer));
  const bf16 = new Uint16Array([0x3f80, 0xc000, 0x3f00]); // 1, -2, 0.5
  handWritten(path.join(d, 'c.safetensors'), 'b', 'BF16', [3], new Uint8Array(bf16.buffer));
  const src = new SafetensorsWeightSource(d);
  assert.deepEqual(src.get('x'), { dims: [2, 3], data: t.data });
  assert.deepEqual(Array.from(src.get('h').data), [1, -2, 0.5, 65504, 2 ** -24]);
  assert.deepEqual(Array.from(src.get('b').data), [1, -2, 0.5]);
  assert.throws(() => src.get('nope'), /tensor "nope" is missing/);
});

test('sharded checkpoints resolve through model.safetensors.index.json', () => {
  const d = dir('sharded');
  writeSafetensors(path.join(d, 'model-00001-of-00002.safetensors'), new Map([['a', { dims: [1], data: Float32Array.of(1) }]]));
  writeSafetensors(path.join(d, 'model-00002-of-00002.safetensors'), new Map([['b', { dims: [1], data: Float32Array.of(2) }]]));
  const index = { weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } };
  fs.writeFileSync(path.join(d, 'model.safetensors.index.json'), JSON.stringify(index));
  const src = new SafetensorsWeightSource(d);
  assert.equal(src.get('b').data[0], 2);
  fs.rmSync(path.join(d, 'model-00002-of-00002.safetensors'));
  assert.throws(() => new SafetensorsWeightSource(d), /lists shard model-00002-of-00002.safetensors, which is missing/);
});

test('truncated files and unsupported dtypes name the file and tensor', () => {
  const d = dir('broken');
  handWritten(path.join(d, 'model.safetensors'), 'layer.w', 'F32', [4], new Uint8Array(16), 4);
  assert.throws(() => new SafetensorsWeightSource(d), /model\.safetensors: tensor "layer\.w" ends at byte .* beyond the file size .*truncated/);
  handWritten(path.join(d, 'model.safetensors'), 'q', 'I8', [4], new Uint8Array(4));
  assert.throws(() => new SafetensorsWeightSource(d), /tensor "q" has unsupported dtype I8/);
});

test('model directories: config errors, missing files, and .bin weights are explained', () => {
  assert.throws(() => readModelDirectory(path.join(tmp, 'absent')), /does not exist/);
  const d = dir('model');
  assert.throws(() => readModelDirectory(d), /has no config\.json/);
  fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify({ ...toHfConfigJson(tinyConfig()), num_attention_heads: 5 }));
  assert.throws(() => readModelDirectory(d), /hidden_size 64 is not divisible by num_attention_heads 5/);
  fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(toHfConfigJson(tinyConfig())));
  assert.throws(() => readModelDirectory(d), /has no ice_text\.model/);
  fs.writeFileSync(path.join(d, 'ice_text.model'), '');
  fs.writeFileSync(path.join(d, 'pytorch_model-00001-of-00008.bin'), '');
  assert.throws(() => readModelDirectory(d), /pytorch_model-00001-of-00008\.bin: not a torch\.save zip archive \(no PK\\x03\\x04 magic; the file is empty\)/);
  writeSafetensors(path.join(d, 'model.safetensors'), new Map());
  assert.equal(readModelDirectory(d).config.numLayers, 4);
  assert.throws(() => parseGlmConfig({ ...toHfConfigJson(tinyConfig()), hidden_size: 'big' }), /"hidden_size" must be a non-negative integer/);
});

test('the ChatGLM-6B v1.1 config.json parses to the values of docs/model.md §1.1', () => {
  const c = parseGlmConfig({
    architectures: ['ChatGLMModel'], bos_token_id: 130004, eos_token_id: 130005, mask_token_id: 130000, gmask_token_id: 130001,
    pad_token_id: 3, hidden_size: 4096, inner_hidden_size: 16384, layernorm_epsilon: 1e-5, max_sequence_length: 2048,
    model_type: 'chatglm', num_attention_heads: 32, num_layers: 28, position_encoding_2d: true, torch_dtype: 'float16',
    use_cache: true, vocab_size: 130528,
  });
  assert.deepEqual([c.vocabSize, c.hiddenSize, c.numLayers, c.numHeads, c.innerHiddenSize, c.preSeqLen, c.quantizationBit], [130528, 4096, 28, 32, 16384, 0, 0]);
});

// Damaged, hostile and mismatched checkpoints: each error names the file and, where it applies, the
// tensor. Damaged copies of the fixtures are made in a temp dir; hostile pickles come from real
// torch (test/fixtures/checkpoints/refuse-*) and from torch-bin-writer.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { PytorchSource, checkShapes, openCheckpoint, parseGlmConfig, readModelDirectory, readTorchArchive } from '@chatglm/glm';
import { PickleBuilder, writeTorchBin, writeZip, type StorageSpec, type TensorSpec } from './torch-bin-writer.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../../test/fixtures/checkpoints');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'glm-ckpt-errors-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

let copies = 0;
/** A fresh copy of a fixture directory, with an (empty) tokenizer so readModelDirectory gets to the weights. */
function copy(name: string): string {
  const d = path.join(tmp, `${name}-${copies++}`);
  fs.cpSync(path.join(FIXTURES, name), d, { recursive: true });
  fs.writeFileSync(path.join(d, 'ice_text.model'), '');
  return d;
}

function truncate(file: string, fraction: number): void {
  fs.truncateSync(file, Math.floor(fs.statSync(file).size * fraction));
}

const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

test('a truncated shard is named, whether cut in its data or just before its end record', () => {
  for (const fraction of [0.5, 0.999]) {
    const d = copy('pytorch-sharded');
    truncate(path.join(d, 'pytorch_model-00002-of-00003.bin'), fraction);
    assert.throws(() => openCheckpoint(d), /pytorch_model-00002-of-00003\.bin: no zip end-of-central-directory record: the file is truncated/);
  }
  const s = copy('safetensors-sharded');
  truncate(path.join(s, 'model-00001-of-00003.safetensors'), 0.5);
  assert.throws(() => openCheckpoint(s), /model-00001-of-00003\.safetensors: tensor ".*" ends at byte \d+ beyond the file size \d+ \(truncated file\?\)/);
});

test('a file truncated after it was opened fails on read, naming the file', () => {
  const d = copy('pytorch-single');
  const source = openCheckpoint(d);
  truncate(path.join(d, 'pytorch_model.bin'), 0.4);
  assert.throws(() => source.read('lm_head.weight'), /pytorch_model\.bin: unexpected end of file at byte \d+ \(truncated file\?\)/);
});

test('a shard the index lists but the directory lacks', () => {
  const d = copy('pytorch-sharded');
  fs.rmSync(path.join(d, 'pytorch_model-00003-of-00003.bin'));
  assert.throws(() => openCheckpoint(d), /pytorch_model\.bin\.index\.json lists shard pytorch_model-00003-of-00003\.bin, which is missing from /);
  assert.throws(() => readModelDirectory(d), /lists shard pytorch_model-00003-of-00003\.bin, which is missing/);
});

test('a tensor the index maps to a shard that lacks it, or that no shard holds', () => {
  const d = copy('pytorch-sharded');
  const indexFile = path.join(d, 'pytorch_model.bin.index.json');
  const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { weight_map: Record<string, string> };
  index.weight_map['transformer.layers.0.attention.dense.weight'] = 'pytorch_model-00002-of-00003.bin';
  fs.writeFileSync(indexFile, JSON.stringify(index));
  assert.throws(() => openCheckpoint(d), /maps tensor "transformer\.layers\.0\.attention\.dense\.weight" to pytorch_model-00002-of-00003\.bin, but it is in pytorch_model-00001-of-00003\.bin/);
  delete index.weight_map['transformer.layers.0.attention.dense.weight'];
  index.weight_map['transformer.layers.2.attention.dense.weight'] = 'pytorch_model-00001-of-00003.bin';
  fs.writeFileSync(indexFile, JSON.stringify(index));
  assert.throws(() => openCheckpoint(d), /maps tensor "transformer\.layers\.2\.attention\.dense\.weight" to pytorch_model-00001-of-00003\.bin, but no shard holds it \(3 shard\(s\) read\)/);
  index.weight_map['x'] = '../../etc/passwd';
  fs.writeFileSync(indexFile, JSON.stringify(index));
  assert.throws(() => openCheckpoint(d), /weight_map\["x"\] is not a shard file name/);
  const single = openCheckpoint(path.join(FIXTURES, 'pytorch-single'));
  assert.throws(() => single.info('transformer.layers.7.mlp.dense_4h_to_h.bias'), /tensor "transformer\.layers\.7\.mlp\.dense_4h_to_h\.bias" is missing from the checkpoint \(not in pytorch_model\.bin\)/);
});

test('a pickle calling os.system is refused before anything runs (real torch.save output)', () => {
  const file = path.join(FIXTURES, 'refuse-global', 'pytorch_model.bin');
  // Python pickles os.system under its real module, posix.
  assert.throws(() => readTorchArchive(file), /refuse-global\/pytorch_model\.bin: pytorch_model\/data\.pkl at byte \d+: refusing pickle GLOBAL posix\.system/);
  const d = copy('refuse-global');
  fs.copyFileSync(path.join(FIXTURES, 'pytorch-single', 'config.json'), path.join(d, 'config.json'));
  assert.throws(() => readModelDirectory(d), /refusing pickle GLOBAL posix\.system/);
});

test('forbidden GLOBALs and callables from hand-written pickles; nothing is executed', () => {
  const sentinel = path.join(tmp, 'pwned');
  const evil = (p: PickleBuilder) => p.proto().global('os', 'system').mark().str(`touch ${sentinel}`).op(0x74).reduce().stop();
  const file = path.join(tmp, 'os-system.bin');
  writeTorchBin(file, [], [], { pickle: evil(new PickleBuilder()) });
  assert.throws(() => readTorchArchive(file), /os-system\.bin: archive\/data\.pkl at byte 2: refusing pickle GLOBAL os\.system: a checkpoint may only reference/);
  // Allowed names, used for something else: a storage class called like a function.
  writeTorchBin(file, [], [], { pickle: new PickleBuilder().proto().global('torch', 'FloatStorage').emptyTuple().reduce().stop() });
  assert.throws(() => readTorchArchive(file), /REDUCE calls torch\.FloatStorage, which is not an allowed callable/);
  writeTorchBin(file, [], [], { pickle: new PickleBuilder().proto().global('builtins', 'eval').stop() });
  assert.throws(() => readTorchArchive(file), /refusing pickle GLOBAL builtins\.eval/);
  writeTorchBin(file, [], [], { pickle: new PickleBuilder().proto().global('torch', 'DoubleStorage').stop() });
  assert.throws(() => readTorchArchive(file), /storage type torch\.DoubleStorage is not supported/);
  // An opcode torch.save never writes for a state dict (INST).
  writeTorchBin(file, [], [], { pickle: new PickleBuilder().proto().op(0x69, Buffer.from('os\nsystem\n')).stop() });
  assert.throws(() => readTorchArchive(file), /at byte 2: unsupported pickle opcode 0x69/);
  assert.equal(fs.existsSync(sentinel), false);
});

test('a training checkpoint (not a dict of tensors) and a truncated pickle are explained', () => {
  const file = path.join(tmp, 'train.bin');
  writeTorchBin(file, [], [], { pickle: new PickleBuilder().proto().op(0x7d).str('epoch').int(3).op(0x73).stop() });
  assert.throws(() => readTorchArchive(file), /train\.bin: archive\/data\.pkl at byte 0: state dict entry "epoch" is 3, not a tensor/);
  const p = new PickleBuilder().proto().op(0x7d).stop();
  writeTorchBin(file, [], [], { pickle: p.subarray(0, p.length - 1) });
  assert.throws(() => readTorchArchive(file), /train\.bin: archive\/data\.pkl at byte 3: pickle ends in the middle of an opcode \(truncated\)/);
});

test('non-contiguous tensors are refused with their size and stride (real torch.save output)', () => {
  assert.throws(
    () => readTorchArchive(path.join(FIXTURES, 'refuse-strided', 'pytorch_model.bin')),
    /refuse-strided\/pytorch_model\.bin: tensor "transposed" is not contiguous \(size \[3, 2\], stride \[1, 3\]\)/,
  );
});

test('the pre-1.6 torch.save format and an empty file are told apart', () => {
  assert.throws(() => readTorchArchive(path.join(FIXTURES, 'refuse-legacy', 'pytorch_model.bin')), /refuse-legacy\/pytorch_model\.bin: a torch\.save file in the legacy \(pre-1\.6, non-zip\) format/);
  const d = path.join(tmp, 'empty');
  fs.mkdirSync(d);
  fs.writeFileSync(path.join(d, 'pytorch_model-00001-of-00008.bin'), '');
  assert.throws(() => openCheckpoint(d), /pytorch_model-00001-of-00008\.bin: not a torch\.save zip archive \(no PK\\x03\\x04 magic; the file is empty\)/);
});

test('a storage shorter than its tensor, or than the pickle says', () => {
  const file = path.join(tmp, 'short.bin');
  const tensors: TensorSpec[] = [{ name: 'w', dtype: 'F32', dims: [4, 4] }];
  const storages: StorageSpec[] = [{ key: '0', bytes: f32([1, 2, 3, 4, 5, 6, 7, 8]), byteLength: 32 }];
  writeTorchBin(file, tensors, storages);
  assert.throws(() => readTorchArchive(file), /short\.bin: tensor "w" needs elements 0\.\.16 of storage 0, which holds only 8 \(storage shorter than its tensor\)/);
  writeTorchBin(file, [{ name: 'w', dtype: 'F32', dims: [2, 2], storageOffset: 6 }], storages);
  assert.throws(() => readTorchArchive(file), /tensor "w" needs elements 6\.\.10 of storage 0/);
  writeTorchBin(file, [{ name: 'w', dtype: 'F32', dims: [4, 4], storageNumel: 16 }], storages);
  assert.throws(() => readTorchArchive(file), /tensor "w": storage 0 should hold 16 F32 elements \(64 bytes\) but has 32 bytes/);
  writeTorchBin(file, [{ name: 'w', dtype: 'F32', dims: [2], key: '7' }], storages);
  assert.throws(() => readTorchArchive(file), /tensor "w" refers to storage 7, which the archive lacks/);
});

test('compressed entries are refused: tensors are read in place', () => {
  const file = path.join(tmp, 'deflated.bin');
  writeTorchBin(file, [{ name: 'w', dtype: 'F32', dims: [4] }], [{ key: '0', bytes: f32([1, 2, 3, 4]), byteLength: 16 }], { compress: 'archive/data/0' });
  assert.throws(() => readTorchArchive(file), /deflated\.bin: zip entry archive\/data\/0 is compressed \(method 8\)/);
  writeZip(file, [{ name: 'archive/version', bytes: Buffer.from('3\n') }]);
  assert.throws(() => readTorchArchive(file), /deflated\.bin: zip archive has no <archive>\/data\.pkl: not a torch\.save file/);
});

test('shapes that disagree with config.json: every tensor listed with its file', () => {
  const d = copy('pytorch-single');
  const configFile = path.join(d, 'config.json');
  const json = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  fs.writeFileSync(configFile, JSON.stringify({ ...json, inner_hidden_size: 128 }));
  assert.throws(
    () => readModelDirectory(d),
    (err: Error) => {
      assert.match(err.message, /the checkpoint does not match config\.json \(6 problem\(s\)\)/);
      assert.match(err.message, /pytorch_model\.bin: tensor "transformer\.layers\.1\.mlp\.dense_h_to_4h\.weight" has shape \[256, 64\] but config\.json implies \[128, 64\]/);
      assert.match(err.message, /tensor "transformer\.layers\.0\.mlp\.dense_4h_to_h\.weight" has shape \[64, 256\] but config\.json implies \[64, 128\]/);
      return true;
    },
  );
  // A config with more layers than the checkpoint: missing tensors (a full check) by name.
  const source = new PytorchSource(d);
  const deeper = parseGlmConfig({ ...json, num_layers: 3 });
  const missing = checkShapes(deeper, source).filter((p) => p.kind === 'missing').map((p) => p.name);
  assert.equal(missing.length, 12); // layer 2 minus the optional rotary inv_freq
  assert.ok(missing.includes('transformer.layers.2.attention.query_key_value.weight'));
  assert.deepEqual(checkShapes(deeper, source, { partial: true }), []);
  // A P-tuning config against a checkpoint whose prefix encoder has another length.
  const ptuning = path.join(FIXTURES, 'ptuning');
  const wrongP = parseGlmConfig({ ...json, pre_seq_len: 8 });
  const problems = checkShapes(wrongP, openCheckpoint(ptuning), { partial: true });
  assert.deepEqual(problems.map((p) => [p.kind, p.name]), [['shape', 'transformer.prefix_encoder.embedding.weight']]);
  assert.match(problems[0]?.message ?? '', /has shape \[4, 256\] but config\.json implies \[8, 256\]/);
});

test('only pytorch_model*.bin files are opened: training_args.bin may pickle anything', () => {
  const d = copy('pytorch-single');
  fs.copyFileSync(path.join(FIXTURES, 'refuse-global', 'pytorch_model.bin'), path.join(d, 'training_args.bin'));
  assert.equal(openCheckpoint(d).names().length, 30);
  assert.equal(readModelDirectory(d).weightsFormat, 'pytorch');
});

// One tiny model written by real PyTorch in every format (test/fixtures/checkpoints, see its
// README) gives the same greedy tokens whatever the format; THUDM's int8/int4 layouts, served as
// MatMulNBits blocks repacked from their codes, compute what their own dequantized weights compute.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { dequantizeThudm, floatWeights, glmPositions, openCheckpoint, parseGlmConfig, promptLayout, type GlmConfig, type HostTensor } from '@chatglm/glm';
import { ThreadedStageRuntime, StageChain, type WeightsLocation } from '@chatglm/runtime';
import { buildTestTokenizerModel } from '@chatglm/tokenizer/test-model';
import { maxAbsDiff } from '../../../test/support/golden.ts';
import { argmax } from '../../../test/support/models.ts';

const FIXTURES = path.join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures', 'checkpoints');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-formats-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of a fixture that is a complete model folder (the fixtures carry no tokenizer). */
function modelDir(name: string): string {
  const dir = path.join(tmp, name);
  fs.cpSync(path.join(FIXTURES, name), dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'ice_text.model'), buildTestTokenizerModel());
  return dir;
}

const configOf = (dir: string): GlmConfig => parseGlmConfig(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')));

async function run(config: GlmConfig, weights: WeightsLocation): Promise<{ tokens: number[]; logits: Float32Array[] }> {
  const stages = await Promise.all(
    [{ start: 0, end: 1 }, { start: 1, end: 2 }].map((range) => ThreadedStageRuntime.create({ config, range, weights, maxSequences: 1, maxTokensPerSequence: 32, threads: 1, spinning: false })),
  );
  const chain = new StageChain(stages);
  try {
    const prompt = [7, 8, 9, 10, 11, config.gmaskTokenId, config.bosTokenId];
    const layout = promptLayout(prompt, config);
    const pre = glmPositions(layout, 0, prompt.length);
    let logits = (await chain.prefill({ seqId: 's', tokens: prompt, positions: pre.positions, blockPositions: pre.blockPositions, contextLength: layout.contextLength })).logits!;
    const tokens: number[] = [];
    const all: Float32Array[] = [];
    for (let k = 0; k < 10; k++) {
      all.push(logits);
      const t = argmax(logits);
      tokens.push(t);
      const pos = glmPositions(layout, prompt.length + k, 1);
      logits = (await chain.decode([{ seqId: 's', token: t, position: pos.positions[0]!, blockPosition: pos.blockPositions[0]! }])).logits!;
    }
    return { tokens, logits: all };
  } finally {
    await chain.close();
  }
}

test('every float format (PyTorch .bin sharded / single / torch 1.13, safetensors single / sharded) gives the same greedy tokens', async () => {
  const results = new Map<string, { tokens: number[]; logits: Float32Array[] }>();
  for (const name of ['pytorch-sharded', 'pytorch-single', 'pytorch-torch1', 'safetensors-single', 'safetensors-sharded']) {
    const dir = modelDir(name);
    results.set(name, await run(configOf(dir), { kind: 'checkpoint', dir }));
  }
  const first = results.get('pytorch-sharded')!;
  console.log(`greedy tokens: ${first.tokens.join(' ')}`);
  for (const [name, r] of results) {
    assert.deepEqual(r.tokens, first.tokens, name);
    // Bit-identical tensors make bit-identical logits: a stronger check than the (repetitive) tokens.
    r.logits.forEach((l, i) => assert.equal(maxAbsDiff(l, first.logits[i]!), 0, `${name} step ${i}`));
  }
});

for (const bits of [8, 4] as const) {
  test(`THUDM int${bits}: the repacked codes compute what THUDM's dequantized weights compute`, async () => {
    const dir = modelDir(`thudm-int${bits}`);
    const config = configOf(dir);
    assert.equal(config.quantizationBit, bits);
    // Reference: the same model with W' = Q · scale in float (the original's W8A16 / W4A16 semantics).
    const raw = openCheckpoint(dir);
    const floats = floatWeights(raw);
    const tensors: Record<string, HostTensor> = {};
    for (const name of raw.names()) {
      if (name.endsWith('.weight_scale')) continue;
      const scaleName = `${name}_scale`;
      if (raw.has(scaleName)) {
        const [n, packedK] = raw.info(name).dims as [number, number];
        const k = bits === 8 ? packedK : packedK * 2;
        const q = raw.read(name);
        tensors[name] = { dims: [n, k], data: dequantizeThudm(new Int8Array(q.buffer, q.byteOffset, q.byteLength), floats.get(scaleName).data, n, k, bits) };
      } else tensors[name] = floats.get(name);
    }
    const served = await run(config, { kind: 'checkpoint', dir });
    const reference = await run(config, { kind: 'memory', tensors });
    let worst = 0;
    served.logits.forEach((l, i) => (worst = Math.max(worst, maxAbsDiff(l, reference.logits[i]!))));
    console.log(`int${bits}: served ${served.tokens.join(' ')} | dequantized float ${reference.tokens.join(' ')} | max |logit diff| ${worst.toExponential(2)} (MatMulNBits accuracy_level 4: int8 activations)`);
    assert.deepEqual(served.tokens, reference.tokens);
    assert.ok(worst < 0.05, `logits differ by ${worst}`);
  });
}

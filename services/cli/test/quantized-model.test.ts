// The embedded tiny model quantized to INT8 / INT4 (MatMulNBits): its logits stay close to fp32 and
// its greedy text is printed beside the fp32 one.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Quantization } from '@chatglm/glm';
import { ChainSequence } from '@chatglm/runtime';
import { writeTinyModel } from '../src/default-model.ts';
import { openLocalModel, type LocalModel } from '../src/local-model.ts';
import { relativeError } from '../../../test/support/golden.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-quant-'));
const models = new Map<Quantization, LocalModel>();
const PROMPTS = ['你好', 'hello world', '人工智能助手'];
const STEPS = 16;

before(async () => {
  await writeTinyModel(dir, { replies: 'random' }); // replies run on, so the texts have something to compare
  for (const q of ['none', 'int8', 'int4'] as const) {
    models.set(q, await openLocalModel({ modelDir: dir, threads: 1, quantization: { linears: q, embedding: q } }));
  }
});
after(async () => {
  for (const m of models.values()) await m.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function greedy(model: LocalModel, prompt: string, n: number): Promise<{ firstLogits: Float32Array; tokens: number[]; text: string }> {
  const t = model.tokenizer;
  const { eopId } = t.vocab;
  const seq = new ChainSequence(model.chain, `q-${prompt}`, t.promptMarkers);
  try {
    let logits = await seq.prefill(t.encode(prompt));
    const firstLogits = logits.slice(0, t.vocabSize);
    const tokens: number[] = [];
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let v = 1; v < t.vocabSize; v++) if (logits[v]! > logits[best]!) best = v;
      tokens.push(best);
      if (best === eopId) break;
      logits = await seq.decode(best);
    }
    return { firstLogits, tokens, text: t.decode(tokens.filter((x) => x !== eopId)) };
  } finally {
    await seq.release();
  }
}

test('quantized tiny model: first-step logits close to fp32; greedy texts reported side by side', async () => {
  const worst = { int8: 0, int4: 0 };
  for (const prompt of PROMPTS) {
    const ref = await greedy(models.get('none')!, prompt, STEPS);
    const lines = [`prompt ${JSON.stringify(prompt)}`, `  fp32: ${JSON.stringify(ref.text)}`];
    for (const q of ['int8', 'int4'] as const) {
      const out = await greedy(models.get(q)!, prompt, STEPS);
      worst[q] = Math.max(worst[q], relativeError(out.firstLogits, ref.firstLogits));
      const same = out.tokens.findIndex((t, i) => t !== ref.tokens[i]);
      lines.push(`  ${q}: ${JSON.stringify(out.text)} (${same < 0 ? 'identical tokens' : `first difference at token ${same}`})`);
    }
    console.log(lines.join('\n'));
  }
  console.log(`first-step logits, relative error vs fp32: int8 ${worst.int8.toFixed(4)}, int4 ${worst.int4.toFixed(4)}`);
  assert.ok(worst.int8 < 0.05, `int8 logits error ${worst.int8}`);
  assert.ok(worst.int4 < 0.35, `int4 logits error ${worst.int4}`);
  assert.ok(worst.int8 < worst.int4, 'fewer bits, more error');
});

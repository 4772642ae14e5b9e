// The stage graph on chatglm.cpp's golden data (produced by the original PyTorch model).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ThreadedStageRuntime } from '@chatglm/runtime';
import { maxAbsDiff, readGolden } from '../../../test/support/golden.ts';
import { STAGE_DEVICES } from '../../../test/support/stage-devices.ts';

const TOLERANCE = 5e-4; // chatglm.cpp's own bound; expect ~1e-7

for (const { device, skip } of STAGE_DEVICES) {
  test(`golden parity on ${device}: prefill and two decode steps match the PyTorch reference`, { skip }, async () => {
    const g = readGolden('glm_model.data');
    const stage = await ThreadedStageRuntime.create({ config: g.config, range: { start: 0, end: 1 }, weights: { kind: 'memory', tensors: g.tensors }, maxSequences: 1, maxTokensPerSequence: 8, threads: 1, device });
    try {
      const o1 = await stage.prefill({ seqId: 'a', tokens: g.x1, positions: [0, 1, 1], blockPositions: [0, 0, 1], contextLength: 2 }, { fetchHidden: true });
      const o2 = await stage.decode([{ seqId: 'a', token: g.x2[0] as number, position: 1, blockPosition: 2 }], { fetchHidden: true });
      const o3 = await stage.decode([{ seqId: 'a', token: g.x3[0] as number, position: 1, blockPosition: 3 }], { fetchHidden: true });
      const errors = [maxAbsDiff(o1.hidden!, g.y1), maxAbsDiff(o2.hidden!, g.y2), maxAbsDiff(o3.hidden!, g.y3)];
      console.log(`${device}: golden max |error| y1 ${errors[0]!.toExponential(2)} y2 ${errors[1]!.toExponential(2)} y3 ${errors[2]!.toExponential(2)}`);
      for (const e of errors) assert.ok(e < TOLERANCE, `error ${e} exceeds ${TOLERANCE}`);
      // The logits are the tied lm_head applied to the final hidden state (docs/model.md §2.3).
      const last = g.y3;
      const emb = g.tensors['transformer.word_embeddings.weight']!.data;
      for (let v = 0; v < 5; v++) {
        let dot = 0;
        for (let i = 0; i < 32; i++) dot += (last[i] as number) * (emb[v * 32 + i] as number);
        assert.ok(Math.abs((o3.logits![v] as number) - dot) < 1e-4, `logit ${v}`);
      }
    } finally {
      await stage.close();
    }
  });
}

test('negative control: the wrong prefix mask breaks parity', async () => {
  const g = readGolden('glm_model.data');
  const stage = await ThreadedStageRuntime.create({ config: g.config, range: { start: 0, end: 1 }, weights: { kind: 'memory', tensors: g.tensors }, maxSequences: 1, maxTokensPerSequence: 8, threads: 1 });
  try {
    // contextLength 3 lets rows 0 and 1 see <sop> (no mask at all): that measured a 0.059 error (docs/model.md §12).
    const o1 = await stage.prefill({ seqId: 'a', tokens: g.x1, positions: [0, 1, 1], blockPositions: [0, 0, 1], contextLength: 3 }, { fetchHidden: true });
    assert.ok(maxAbsDiff(o1.hidden!, g.y1) > 1e-2);
  } finally {
    await stage.close();
  }
});

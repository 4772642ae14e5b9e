// P-tuning v2 (docs/model.md §10) on chatglm.cpp's golden data: the PyTorch model run with a 5-position
// prefix in its KV cache. The prefix is stored in fp16, so expect ~1e-5 rather than ~1e-7.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ThreadedStageRuntime, type PrefixLocation, type StageDevice } from '@chatglm/runtime';
import { maxAbsDiff, readGolden, type Golden } from '../../../test/support/golden.ts';
import { STAGE_DEVICES } from '../../../test/support/stage-devices.ts';

const TOLERANCE = 5e-4; // chatglm.cpp's own bound

async function runGolden(g: Golden, prefix: PrefixLocation | undefined, device: StageDevice = 'cpu'): Promise<number[]> {
  const stage = await ThreadedStageRuntime.create({ config: g.config, range: { start: 0, end: 1 }, weights: { kind: 'memory', tensors: g.tensors }, maxSequences: 1, prefix, threads: 1, device });
  try {
    // Positions are those of the plain run: the prefix does not shift them.
    const o1 = await stage.prefill({ seqId: 'a', tokens: g.x1, positions: [0, 1, 1], blockPositions: [0, 0, 1], contextLength: 2 }, { fetchHidden: true });
    const o2 = await stage.decode([{ seqId: 'a', token: g.x2[0]!, position: 1, blockPosition: 2 }], { fetchHidden: true });
    const o3 = await stage.decode([{ seqId: 'a', token: g.x3[0]!, position: 1, blockPosition: 3 }], { fetchHidden: true });
    return [maxAbsDiff(o1.hidden!, g.y1), maxAbsDiff(o2.hidden!, g.y2), maxAbsDiff(o3.hidden!, g.y3)];
  } finally {
    await stage.close();
  }
}

function goldenPrefix(g: Golden): PrefixLocation {
  const p = g.prefix!;
  return { kind: 'memory', length: p.length, layers: [{ layer: 0, keys: p.keys, values: p.values }] };
}

for (const { device, skip } of STAGE_DEVICES) {
  test(`P-tuning golden parity on ${device}: prefill and two decode steps with the prefix match the PyTorch reference`, { skip }, async () => {
    const g = readGolden('glm_ptuning_v2_model.data');
    const errors = await runGolden(g, goldenPrefix(g), device);
    console.log(`${device}: P-tuning golden max |error| y1 ${errors[0]!.toExponential(2)} y2 ${errors[1]!.toExponential(2)} y3 ${errors[2]!.toExponential(2)}`);
    for (const e of errors) assert.ok(e < TOLERANCE, `error ${e} exceeds ${TOLERANCE}`);
  });
}

test('negative controls: no prefix, or the prefix with keys and values swapped, break parity', async () => {
  const g = readGolden('glm_ptuning_v2_model.data');
  const none = await runGolden(g, undefined);
  console.log(`without the prefix: max |error| ${Math.max(...none).toExponential(2)}`);
  for (const e of none) assert.ok(e > 1e-2, `error ${e} without the prefix is too small for the test to mean anything`);
  const p = g.prefix!;
  const swapped = await runGolden(g, { kind: 'memory', length: p.length, layers: [{ layer: 0, keys: p.values, values: p.keys }] });
  assert.ok(Math.max(...swapped) > 1e-2, `swapped key/value prefix gave error ${Math.max(...swapped)}`);
});

test('the stage reports the prefix and counts it in its capacity', async () => {
  const g = readGolden('glm_ptuning_v2_model.data');
  const create = (maxTokensPerSequence: number | undefined) =>
    ThreadedStageRuntime.create({ config: g.config, range: { start: 0, end: 1 }, weights: { kind: 'memory', tensors: g.tensors }, maxSequences: 2, maxTokensPerSequence, prefix: goldenPrefix(g), threads: 1 });
  await assert.rejects(create(5), /counts the 5-position P-tuning prefix and leaves no room for tokens/);
  const byDefault = await create(undefined);
  try {
    // Default: max_sequence_length (16) tokens plus the prefix.
    assert.equal(byDefault.info.prefixLength, 5);
    assert.equal(byDefault.info.maxTokensPerSequence, 16);
  } finally {
    await byDefault.close();
  }
  const stage = await create(8);
  try {
    assert.equal(stage.info.maxTokensPerSequence, 3);
    // A prefix shorter than a page has no shared page: each sequence copies it into its own first one.
    assert.deepEqual(await stage.capacity(), { maxSequences: 2, maxTokensPerSequence: 3, activeSequences: 0, cachedTokens: 0, prefixLength: 5, kvBytesHeld: 0, kvBytesCommitted: 0, kvTokensCapacity: 32 });
    await assert.rejects(
      stage.prefill({ seqId: 'long', tokens: [0, 1, 2, 3], positions: [0, 1, 2, 2], blockPositions: [0, 0, 0, 1], contextLength: 3 }),
      /needs 9 cached positions \(5 of them the P-tuning prefix\) but this stage holds 8/,
    );
    await stage.prefill({ seqId: 'fits', tokens: g.x1, positions: [0, 1, 1], blockPositions: [0, 0, 1], contextLength: 2 });
    const held = await stage.capacity();
    assert.equal(held.cachedTokens, 3);
    assert.ok(held.kvBytesHeld > 0 && held.kvBytesCommitted === held.kvBytesHeld, 'the prefix and the prompt share one page');
    await assert.rejects(
      stage.decode([{ seqId: 'fits', token: 3, position: 1, blockPosition: 2 }]),
      /needs 9 cached positions/,
      'a sequence of 3 tokens fills the 8 positions left after the prefix',
    );
  } finally {
    await stage.close();
  }
});

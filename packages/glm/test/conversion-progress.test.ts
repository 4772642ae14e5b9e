// ConversionProgress follows a real conversion: the share done only grows, stands at the embedding's
// share once the first stage has written it, reaches 100% with a stage's last tensor (float and
// int4), and the time left follows the pace so far.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ConversionProgress, MemoryWeightSource, describeConversion, splitLayers, stageTensors, writeStageBundle, type BundleProgress, type HostTensor, type QuantizationOptions } from '@chatglm/glm';
import { bundleWorkspace, randomTensors, tinyConfig } from '../../../test/support/models.ts';

const config = tinyConfig({ numLayers: 4 });
const tensors = randomTensors(config, 5);
const { tmp, sourceDir } = bundleWorkspace('progress');

function reports(range: { start: number; end: number }, quantization: QuantizationOptions): BundleProgress[] {
  const seen: BundleProgress[] = [];
  const source = stageTensors(new MemoryWeightSource(new Map<string, HostTensor>(Object.entries(tensors))), quantization);
  writeStageBundle({ dir: sourceDir, config, tensors: source, sourceId: 'progress' }, range, path.join(tmp, 'out'), { quantization }, (p) => seen.push(p));
  return seen;
}

for (const [name, quantization] of [['float', {}], ['int4', { linears: 'int4', embedding: 'int4' }], ['int4 linears, float embedding', { linears: 'int4', embedding: 'none' }]] as const) {
  test(`${name}: every stage of a 1-, 2- and 4-stage split goes from its first tensor to exactly 100%, never backwards`, () => {
    for (const stages of [1, 2, 4]) {
      for (const range of splitLayers(config.numLayers, stages)) {
        const progress = new ConversionProgress(config, range, { quantization, startedAt: 0 });
        const fractions = reports(range, quantization).map((p, i) => progress.update(p, i + 1).fraction);
        for (let i = 1; i < fractions.length; i++) assert.ok(fractions[i]! >= fractions[i - 1]!, `stage ${range.start}-${range.end - 1} of ${stages}: ${fractions[i - 1]} then ${fractions[i]}`);
        assert.equal(fractions.at(-1), 1, `stage ${range.start}-${range.end - 1} of ${stages} ends at 100%`);
        assert.ok(fractions[0]! < 1);
      }
    }
  });
}

test('the first stage stands at the embedding\'s share of its parameters once the embedding is written', () => {
  const range = { start: 0, end: 2 };
  const [embedding] = reports(range, {});
  assert.match(embedding!.tensor, /word_embeddings/);
  const s = new ConversionProgress(config, range, { startedAt: 0 }).update(embedding!, 1000);
  const h = config.hiddenSize;
  const expected = (config.vocabSize * h) / (config.vocabSize * h + 2 * 12 * h * h);
  assert.ok(Math.abs(s.fraction - expected) < 1e-9, `${s.fraction} vs ${expected}`);
  assert.equal(s.at, 'embedding');
  // One second for that share: the rest at the same pace.
  assert.ok(Math.abs(s.secondsLeft! - (1 - expected) / expected) < 1e-9);
  assert.equal(s.bytesPerSecond, embedding!.bytes);
  assert.match(describeConversion(s), /^\d+% · embedding · 1 tensors · [\d.]+ KiB at [\d.]+ KiB\/s · \d+s left$/);
});

// Layer ranges, the unit a pipeline stage holds: their shape, how a model's layers are split over
// stages (`--stage i --stages n`, `--layers 14-27`, layers per stage), and the checks of one range
// and of a chain of ranges. The graph builder, the runtime, the stage protocol and the worker all
// share these, so that a range is split, checked and described the same way everywhere.
import { ChatGlmError } from '@chatglm/common';

/** Layers [start, end) (end exclusive); within a model, 0 <= start < end <= numLayers. */
export interface LayerRange {
  start: number;
  end: number;
}

/** A range with the name problems call it by ("stage 1", "the head 10.0.0.1:5000"). */
export interface NamedLayerRange extends LayerRange {
  name: string;
}

/** Throws (code `invalid_layers`) unless `range` is a non-empty range of the model's layers. */
export function validateRange(config: { numLayers: number }, range: LayerRange): void {
  const { start, end } = range;
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > config.numLayers || start >= end) {
    throw new ChatGlmError('invalid_layers', `layer range [${start}, ${end}) is invalid for a model of ${config.numLayers} layers`);
  }
}

/** True when both ranges hold exactly the same layers. */
export function sameLayers(a: LayerRange, b: LayerRange): boolean {
  return a.start === b.start && a.end === b.end;
}

/** "layers 14-27": both ends inclusive, the way `--layers` is written, for messages. */
export function formatLayers(range: LayerRange): string {
  if (range.end <= range.start) return `the empty layer range [${range.start}, ${range.end})`;
  return `layers ${range.start}-${range.end - 1}`;
}

/** "layer 12 is" or "layers 12..13 are" for the layers [from, to). */
function layersAre(from: number, to: number): string {
  return to - from === 1 ? `layer ${from} is` : `layers ${from}..${to - 1} are`;
}

/**
 * Every problem of `ranges`, in pipeline order, as the layers of one model of `numLayers` layers:
 * the first must start at layer 0 (it embeds the tokens), none may be empty, each must start where
 * the previous one ends (no gap, no overlap), and the last must end at the model's last layer.
 * Each message names the range it is about. Empty when the chain is sound. Pure.
 */
export function layerChainProblems(ranges: readonly NamedLayerRange[], numLayers: number): string[] {
  const problems: string[] = [];
  const first = ranges[0];
  if (!first) return [`no stage holds any layer but the model has ${numLayers}`];
  if (first.start !== 0) {
    problems.push(`${first.name} holds layers [${first.start}, ${first.end}) but must start at layer 0: it embeds the tokens`);
  }
  let previous: NamedLayerRange | undefined;
  for (const range of ranges) {
    const { name, start, end } = range;
    if (end <= start) problems.push(`${name} holds the empty layer range [${start}, ${end})`);
    if (previous) {
      const held = `${name} holds layers [${start}, ${end}) but the previous stage, ${previous.name}, ends at layer ${previous.end}`;
      if (start > previous.end) problems.push(`${held}: ${layersAre(previous.end, start)} not served`);
      if (start < previous.end) problems.push(`${held}: ${layersAre(start, Math.min(previous.end, end))} served twice`);
    }
    previous = range;
  }
  const last = ranges[ranges.length - 1] as NamedLayerRange;
  if (last.end < numLayers) {
    problems.push(
      `the chain ends at layer ${last.end} (${last.name}) but the model has ${numLayers} layers: ` +
        `${layersAre(last.end, numLayers)} not served (is a stage missing downstream of ${last.name}?)`,
    );
  } else if (last.end > numLayers) {
    problems.push(`${last.name} holds layers up to ${last.end} but the model has only ${numLayers}`);
  }
  return problems;
}

/**
 * Splits `numLayers` transformer layers over `stages` pipeline stages the way ChatGLM-6B's
 * `load_model_on_gpus` balances GPUs: the word embedding and the final LayerNorm + lm_head each
 * count as one extra unit of work, so there are numLayers + 2 units. Here the embedding sits on
 * the first stage and the final LayerNorm + lm_head on the last, so:
 *
 * 1. every stage gets floor(units / stages) units;
 * 2. the remaining units go one each to the stages nearest the middle (ties: the lower index),
 *    because the end stages' extra unit understates their extra work (the lm_head alone is a
 *    130528 x 4096 matrix, larger than two layers);
 * 3. a stage's layer count is its units minus its extra unit(s);
 * 4. should that leave a stage with no layer (only when stages is close to numLayers), it takes
 *    one from the stage with the most layers, so every stage holds at least one real layer.
 *
 * Examples: 28 layers / 2 stages -> [0,14) [14,28); 28 / 4 -> 6, 8, 8, 6 layers; 28 / 3 ->
 * 9, 10, 9; 28 / 8 -> 2, 4, 4, 4, 4, 4, 4, 2; 4 / 2 -> [0,2) [2,4); 4 / 4 -> one layer each.
 */
export function splitLayers(numLayers: number, stages: number): LayerRange[] {
  if (!Number.isSafeInteger(numLayers) || numLayers < 1) {
    throw new ChatGlmError('invalid_layers', `the model's layer count must be a positive integer, got ${numLayers}`);
  }
  if (!Number.isSafeInteger(stages) || stages < 1) {
    throw new ChatGlmError('invalid_layers', `--stages must be a positive integer, got ${stages}`);
  }
  if (stages > numLayers) {
    throw new ChatGlmError('invalid_layers', `cannot split ${numLayers} layers over ${stages} stages: every stage needs at least one layer (use --stages ${numLayers} or fewer)`);
  }
  const units = numLayers + 2;
  const center = (stages - 1) / 2;
  const byCenter = [...Array(stages).keys()].sort((a, b) => Math.abs(a - center) - Math.abs(b - center) || a - b);
  const counts = new Array<number>(stages).fill(Math.floor(units / stages));
  for (const i of byCenter.slice(0, units % stages)) counts[i] = (counts[i] as number) + 1;
  counts[0] = (counts[0] as number) - 1; // the embedding's unit
  counts[stages - 1] = (counts[stages - 1] as number) - 1; // the final LayerNorm + lm_head's unit
  for (let empty = counts.indexOf(0); empty !== -1; empty = counts.indexOf(0)) {
    let donor = byCenter[0] as number;
    for (const i of byCenter) if ((counts[i] as number) > (counts[donor] as number)) donor = i;
    counts[donor] = (counts[donor] as number) - 1;
    counts[empty] = 1;
  }
  const ranges: LayerRange[] = [];
  let start = 0;
  for (const count of counts) {
    ranges.push({ start, end: start + count });
    start += count;
  }
  return ranges;
}

/** The layers of stage `stage` (0-based) of `stages`, as splitLayers assigns them. */
export function stageRange(numLayers: number, stage: number, stages: number): LayerRange {
  if (!Number.isSafeInteger(stage) || stage < 0 || stage >= stages) {
    throw new ChatGlmError('invalid_layers', `--stage ${stage} is out of range for --stages ${stages}: stages are numbered 0..${stages - 1}`);
  }
  return splitLayers(numLayers, stages)[stage] as LayerRange;
}

/**
 * The commands' layers per prefill chunk when none is given (workers, `chatglm convert`): at the full
 * size a 1,500-token prompt then holds running sequences up for 4 of 28 layers' prefill (22 s instead
 * of 150 s on two cores), and decode steps took no measurably longer (docs/performance.md, "Chunked prefill").
 */
export const DEFAULT_PREFILL_CHUNK_LAYERS = 4;

/**
 * A stage's layers cut into consecutive chunks of `chunkLayers` (the last may be shorter): the
 * graphs a prefill runs one at a time, so that decode steps of running sequences go between them
 * (docs/performance.md, "Chunked prefill"). Without `chunkLayers`, or with one at least the range's
 * length, the whole range is one chunk.
 */
export function prefillChunks(range: LayerRange, chunkLayers?: number): LayerRange[] {
  if (chunkLayers !== undefined && (!Number.isSafeInteger(chunkLayers) || chunkLayers < 1)) {
    throw new ChatGlmError('invalid_layers', `--prefill-chunk-layers must be a positive integer, got ${chunkLayers}`);
  }
  const size = Math.min(chunkLayers ?? range.end - range.start, range.end - range.start);
  const chunks: LayerRange[] = [];
  for (let start = range.start; start < range.end; start += size) chunks.push({ start, end: Math.min(range.end, start + size) });
  return chunks;
}

/**
 * Parses `--layers FIRST-LAST` (both inclusive; a single number is one layer) into [start, end):
 * '14-27' -> {start: 14, end: 28}. With `numLayers`, also checks that the range is in the model.
 */
export function parseLayers(text: string, numLayers?: number): LayerRange {
  const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  if (!match) {
    throw new ChatGlmError('invalid_layers', `--layers '${text}' is not a layer range: write FIRST-LAST, both inclusive and counted from 0, e.g. --layers 14-27`);
  }
  const first = Number(match[1]);
  const last = match[2] === undefined ? first : Number(match[2]);
  if (first > last) {
    throw new ChatGlmError('invalid_layers', `--layers ${text.trim()}: the first layer (${first}) comes after the last (${last})`);
  }
  if (numLayers !== undefined && last >= numLayers) {
    throw new ChatGlmError('invalid_layers', `--layers ${text.trim()}: the model has ${numLayers} layers, numbered 0..${numLayers - 1}`);
  }
  return { start: first, end: last + 1 };
}

/**
 * Layer ranges of `layersPerStage` layers each (the last stage takes the remainder): the plain
 * split of the in-process chat's `--layers-per-stage`, which exercises a pipeline locally.
 */
export function rangesByLayersPerStage(numLayers: number, layersPerStage: number): LayerRange[] {
  if (!Number.isInteger(layersPerStage) || layersPerStage < 1) throw new ChatGlmError('invalid_pipeline', `layers per stage must be a positive integer, got ${layersPerStage}`);
  const ranges: LayerRange[] = [];
  for (let start = 0; start < numLayers; start += layersPerStage) ranges.push({ start, end: Math.min(numLayers, start + layersPerStage) });
  return ranges;
}

// Which layers a stage holds: `--stage i --stages n` (an even split) or `--layers 14-27` (explicit).
import { ProtocolError } from './errors.ts';

/** Layers [start, end) (end exclusive), the same shape as @chatglm/glm's LayerRange. */
export interface LayerRange {
  start: number;
  end: number;
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
    throw new ProtocolError('invalid_layers', `the model's layer count must be a positive integer, got ${numLayers}`);
  }
  if (!Number.isSafeInteger(stages) || stages < 1) {
    throw new ProtocolError('invalid_layers', `--stages must be a positive integer, got ${stages}`);
  }
  if (stages > numLayers) {
    throw new ProtocolError('invalid_layers', `cannot split ${numLayers} layers over ${stages} stages: every stage needs at least one layer (use --stages ${numLayers} or fewer)`);
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
    throw new ProtocolError('invalid_layers', `--stage ${stage} is out of range for --stages ${stages}: stages are numbered 0..${stages - 1}`);
  }
  return splitLayers(numLayers, stages)[stage] as LayerRange;
}

/**
 * Parses `--layers FIRST-LAST` (both inclusive; a single number is one layer) into [start, end):
 * '14-27' -> {start: 14, end: 28}. With `numLayers`, also checks that the range is in the model.
 */
export function parseLayers(text: string, numLayers?: number): LayerRange {
  const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(text);
  if (!match) {
    throw new ProtocolError('invalid_layers', `--layers '${text}' is not a layer range: write FIRST-LAST, both inclusive and counted from 0, e.g. --layers 14-27`);
  }
  const first = Number(match[1]);
  const last = match[2] === undefined ? first : Number(match[2]);
  if (first > last) {
    throw new ProtocolError('invalid_layers', `--layers ${text.trim()}: the first layer (${first}) comes after the last (${last})`);
  }
  if (numLayers !== undefined && last >= numLayers) {
    throw new ProtocolError('invalid_layers', `--layers ${text.trim()}: the model has ${numLayers} layers, numbered 0..${numLayers - 1}`);
  }
  return { start: first, end: last + 1 };
}

// Before a head serves, it asks the next stage for Info (which lists every stage downstream) and
// checks that the chain forms one model: same protocol, same weights, contiguous layers from 0 to
// the last one. A mistake in a deployment (a stage of another model, a wrong --layers) must stop
// the pipeline at start-up with a message that says which stage is wrong, not garble text later.
import { ChainError } from './errors.ts';
import type { StageInfo } from './messages.ts';

/** What the head knows about itself. */
export interface HeadInfo {
  layerStart: number;
  layerEnd: number;
  numLayers: number;
  modelId: string;
  protocolVersion: number;
  hiddenSize: number;
  /** For messages; default 'the head'. */
  address?: string;
}

/** "layer 12 is" or "layers 12..13 are" for the layers [from, to). */
function layersAre(from: number, to: number): string {
  return to - from === 1 ? `layer ${from} is` : `layers ${from}..${to - 1} are`;
}

/**
 * Throws a ChainError (code `invalid_chain`) listing every problem of the pipeline made of the
 * head followed by `downstream` (the order Info returns them in); returns when it is sound. Pure.
 */
export function validateChain(head: HeadInfo, downstream: readonly StageInfo[]): void {
  const problems: string[] = [];
  const headName = head.address ? `the head ${head.address}` : 'the head';
  if (head.layerStart !== 0) {
    problems.push(`${headName} holds layers [${head.layerStart}, ${head.layerEnd}) but must start at layer 0: it embeds the tokens`);
  }
  if (head.layerEnd <= head.layerStart) {
    problems.push(`${headName} holds the empty layer range [${head.layerStart}, ${head.layerEnd})`);
  }
  let previousName = headName;
  let previousEnd = head.layerEnd;
  downstream.forEach((stage, i) => {
    const name = `stage ${stage.address || `#${i + 1} (no address)`}`;
    if (stage.protocolVersion !== head.protocolVersion) {
      problems.push(`${name} speaks stage protocol version ${stage.protocolVersion} but ${headName} speaks ${head.protocolVersion}: run one release on every stage`);
    }
    if (stage.modelId !== head.modelId) {
      problems.push(`${name} serves model '${stage.modelId}' but ${headName} serves '${head.modelId}'`);
    }
    if (stage.hiddenSize !== head.hiddenSize) {
      problems.push(`${name} has hidden size ${stage.hiddenSize} but ${headName} has ${head.hiddenSize}`);
    }
    if (stage.numLayers !== head.numLayers) {
      problems.push(`${name} believes the model has ${stage.numLayers} layers but ${headName} counts ${head.numLayers}`);
    }
    if (stage.activationDtype !== 'ACTIVATION_DTYPE_FLOAT32' && stage.activationDtype !== 'ACTIVATION_DTYPE_FLOAT16') {
      problems.push(`${name} announces no usable activation dtype (${stage.activationDtype})`);
    }
    if (stage.layerEnd <= stage.layerStart) {
      problems.push(`${name} holds the empty layer range [${stage.layerStart}, ${stage.layerEnd})`);
    }
    const held = `${name} holds layers [${stage.layerStart}, ${stage.layerEnd}) but the previous stage, ${previousName}, ends at layer ${previousEnd}`;
    if (stage.layerStart > previousEnd) problems.push(`${held}: ${layersAre(previousEnd, stage.layerStart)} not served`);
    if (stage.layerStart < previousEnd) problems.push(`${held}: ${layersAre(stage.layerStart, Math.min(previousEnd, stage.layerEnd))} served twice`);
    previousName = name;
    previousEnd = stage.layerEnd;
  });
  if (previousEnd < head.numLayers) {
    problems.push(
      `the chain ends at layer ${previousEnd} (${previousName}) but the model has ${head.numLayers} layers: ` +
        `${layersAre(previousEnd, head.numLayers)} not served (is a stage missing downstream of ${previousName}?)`,
    );
  } else if (previousEnd > head.numLayers) {
    problems.push(`${previousName} holds layers up to ${previousEnd} but the model has only ${head.numLayers}`);
  }
  if (problems.length > 0) throw new ChainError(problems);
}

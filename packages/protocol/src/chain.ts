// Before a head serves, it asks the next stage for Info (which lists every stage downstream) and
// checks that the chain forms one model: same protocol, same weights, contiguous layers from 0 to
// the last one. A mistake in a deployment (a stage of another model, a wrong --layers) must stop
// the pipeline at start-up with a message that says which stage is wrong, not garble text later.
import { layerChainProblems, type NamedLayerRange } from '@chatglm/glm';
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

/**
 * Throws a ChainError (code `invalid_chain`) listing every problem of the pipeline made of the
 * head followed by `downstream` (the order Info returns them in); returns when it is sound. Pure.
 * The stages' own agreement (protocol, model, sizes, dtype) comes first, then the layer ranges,
 * checked by @chatglm/glm's layerChainProblems like every other chain of ranges.
 */
export function validateChain(head: HeadInfo, downstream: readonly StageInfo[]): void {
  const problems: string[] = [];
  const headName = head.address ? `the head ${head.address}` : 'the head';
  const ranges: NamedLayerRange[] = [{ name: headName, start: head.layerStart, end: head.layerEnd }];
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
    ranges.push({ name, start: stage.layerStart, end: stage.layerEnd });
  });
  problems.push(...layerChainProblems(ranges, head.numLayers));
  if (problems.length > 0) throw new ChainError(problems);
}

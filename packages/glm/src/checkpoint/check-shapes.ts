// The tensors a config.json implies (docs/model.md §2.2, THUDM int4/int8 §9.1, P-tuning v2 §10), checked
// against a checkpoint: a config that does not match its weights fails here, naming each tensor,
// instead of deep inside graph building.
import { headDim, type GlmConfig } from '../config.ts';
import { EMBEDDING_NAME, FINAL_LN_BIAS, FINAL_LN_WEIGHT, layerTensorNames } from '../model/weights.ts';
import { CheckpointError } from './checkpoint-error.ts';
import { formatDims, isFloatDtype, type RawDtype, type RawTensorSource } from './raw-tensor-source.ts';

export const LM_HEAD_NAME = 'lm_head.weight';
export const PREFIX_ENCODER_PREFIX = 'transformer.prefix_encoder.';

export interface ExpectedTensor {
  dims: number[];
  /** 'float': F32, F16 or BF16; 'int8': I8 (THUDM quantized weights, int4 packed two per byte). */
  kind: 'float' | 'int8';
  /** False for tensors a checkpoint may leave out (the tied lm_head, rotary inv_freq). */
  required: boolean;
}

export interface ShapeProblem {
  name: string;
  /** File of the tensor; absent for a missing one. */
  file?: string;
  kind: 'missing' | 'shape' | 'dtype' | 'unexpected';
  message: string;
}

export interface CheckShapesOptions {
  /**
   * Check only the tensors the checkpoint holds (default false): for P-tuning checkpoints, which
   * hold only the prefix encoder, and for callers that report missing tensors when they load them.
   */
  partial?: boolean;
}

/** Every tensor name the config implies, with its shape. */
export function expectedTensors(config: GlmConfig): Map<string, ExpectedTensor> {
  const H = config.hiddenSize;
  const FF = config.innerHiddenSize;
  const V = config.vocabSize;
  const bits = config.quantizationBit;
  const out = new Map<string, ExpectedTensor>();
  const float = (name: string, dims: number[], required = true) => out.set(name, { dims, kind: 'float', required });
  /** A Linear(in -> out): fp weight [out, in], or THUDM int8 [out, in] / int4 [out, in/2] with an fp16 scale [out]. */
  const linear = (prefix: string, inDim: number, outDim: number) => {
    if (bits === 0) float(`${prefix}.weight`, [outDim, inDim]);
    else {
      out.set(`${prefix}.weight`, { dims: [outDim, bits === 4 ? inDim / 2 : inDim], kind: 'int8', required: true });
      float(`${prefix}.weight_scale`, [outDim]);
    }
    float(`${prefix}.bias`, [outDim]);
  };
  float(EMBEDDING_NAME, [V, H]);
  for (let i = 0; i < config.numLayers; i++) {
    const n = layerTensorNames(i);
    const p = `transformer.layers.${i}`;
    float(n.ln1Weight, [H]);
    float(n.ln1Bias, [H]);
    linear(`${p}.attention.query_key_value`, H, 3 * H);
    // Recomputed at load time (docs/model.md §5.3): checked when present, never needed.
    float(`${p}.attention.rotary_emb.inv_freq`, [headDim(config) / 4], false);
    linear(`${p}.attention.dense`, H, H);
    float(n.ln2Weight, [H]);
    float(n.ln2Bias, [H]);
    linear(`${p}.mlp.dense_h_to_4h`, H, FF);
    linear(`${p}.mlp.dense_4h_to_h`, FF, H);
  }
  float(FINAL_LN_WEIGHT, [H]);
  float(FINAL_LN_BIAS, [H]);
  float(LM_HEAD_NAME, [V, H], false); // tied to the embedding (docs/model.md §2.3)
  if (config.preSeqLen > 0) {
    const P = config.preSeqLen;
    const kv = 2 * config.numLayers * H;
    const e = PREFIX_ENCODER_PREFIX;
    if (config.prefixProjection) {
      float(`${e}embedding.weight`, [P, H]);
      float(`${e}trans.0.weight`, [H, H]);
      float(`${e}trans.0.bias`, [H]);
      float(`${e}trans.2.weight`, [kv, H]);
      float(`${e}trans.2.bias`, [kv]);
    } else {
      float(`${e}embedding.weight`, [P, kv]);
    }
  }
  return out;
}

/** Lists every disagreement between the config and the checkpoint (empty when they agree). */
export function checkShapes(config: GlmConfig, source: RawTensorSource, options: CheckShapesOptions = {}): ShapeProblem[] {
  const expected = expectedTensors(config);
  const problems: ShapeProblem[] = [];
  for (const [name, want] of expected) {
    if (!source.has(name)) {
      if (want.required && !options.partial) problems.push({ name, kind: 'missing', message: `tensor "${name}" ${formatDims(want.dims)} is missing from ${source.dir}` });
      continue;
    }
    const got = source.info(name);
    if (!sameDims(got.dims, want.dims)) {
      problems.push({ name, file: got.file, kind: 'shape', message: `${got.file}: tensor "${name}" has shape ${formatDims(got.dims)} but config.json implies ${formatDims(want.dims)}` });
    } else if (!dtypeFits(got.dtype, want.kind)) {
      const wanted = want.kind === 'int8' ? `I8 (quantization_bit ${config.quantizationBit})` : 'a float dtype (F32, F16 or BF16)';
      problems.push({ name, file: got.file, kind: 'dtype', message: `${got.file}: tensor "${name}" is ${got.dtype} but config.json implies ${wanted}` });
    }
  }
  for (const name of source.names()) {
    if (!expected.has(name)) {
      const got = source.info(name);
      problems.push({ name, file: got.file, kind: 'unexpected', message: `${got.file}: tensor "${name}" ${formatDims(got.dims)} is not part of the model config.json describes` });
    }
  }
  return problems;
}

/** Shown in one error; the rest are counted. */
const MAX_LISTED_PROBLEMS = 12;

/** checkShapes, throwing one CheckpointError that lists the problems. */
export function assertShapes(config: GlmConfig, source: RawTensorSource, options: CheckShapesOptions = {}): void {
  const problems = checkShapes(config, source, options);
  if (problems.length === 0) return;
  const listed = problems.slice(0, MAX_LISTED_PROBLEMS).map((p) => `  ${p.message}`);
  if (problems.length > MAX_LISTED_PROBLEMS) listed.push(`  ... and ${problems.length - MAX_LISTED_PROBLEMS} more`);
  throw new CheckpointError(`${source.dir}: the checkpoint does not match config.json (${problems.length} problem(s)):\n${listed.join('\n')}`);
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function dtypeFits(dtype: RawDtype, kind: ExpectedTensor['kind']): boolean {
  return kind === 'int8' ? dtype === 'I8' : isFloatDtype(dtype);
}

// The tensors a stage graph is built from, in the form each will take in the graph: fp32 arrays, or
// MatMulNBits blocks for quantized linears (and the embedding). Policy lives here; the graph builder
// only asks for what it needs, by Hugging Face name.
import { ChatGlmError } from '@chatglm/common';
import type { NBitsWeight, QuantBits } from '../quantize/nbits-weight.ts';
import { DEFAULT_BLOCK_SIZE } from '../quantize/nbits-weight.ts';
import { quantizeBlocks } from '../quantize/quantize-blocks.ts';
import { dequantizeThudm, repackThudm } from '../quantize/thudm-repack.ts';
import type { WeightSource } from './weights.ts';

export type Quantization = 'none' | 'int8' | 'int4';

/** How the KV cache stores keys and values (docs/performance.md, "KV cache"). */
export type KvCacheDtype = 'float32' | 'float16';

/** Where a stage's KV cache lives (QuantizationOptions.kvResidence). */
export type KvResidence = 'host' | 'device';

export interface QuantizationOptions {
  /**
   * The four linears of every layer (query_key_value, dense, dense_h_to_4h, dense_4h_to_h).
   * Default: as stored (float stays float; a THUDM int4/int8 checkpoint keeps its codes).
   */
  linears?: Quantization;
  /** The word embedding (and so the tied lm_head). Default 'none' (see quantizationFromFlags for the flags' default). */
  embedding?: Quantization;
  /** Weights per quantization block along the input dimension. Default 128. */
  blockSize?: number;
  /**
   * How the graph takes and gives cached keys and values: 'float32' (default; exact) or 'float16'
   * (half the memory per cached position; attention still computes in fp32). Not a weight, but
   * chosen with the weights' precision: see quantizationFromFlags for the flags' default.
   */
  kvCache?: KvCacheDtype;
  /**
   * Where the graph keeps the KV cache: 'host' (default; the caller stores each step's new rows),
   * or 'device' (a WebGPU stage's pools on the GPU, written by the graph itself; see
   * StageGraphOptions.kvResidence). Chosen by the device the stage runs on.
   */
  kvResidence?: KvResidence;
}

/** A float matrix carries `data` only when it was computed (dequantized); else the graph reads it by name. */
export type MatrixTensor = { kind: 'float'; data?: Float32Array } | { kind: 'nbits'; weight: NBitsWeight };

/** A THUDM int8/int4 linear as stored in its checkpoint (docs/model.md §9.1). */
export interface ThudmLinear {
  bits: QuantBits;
  /** int8 [out, in], or packed int4 [out, in/2]. */
  codes: Int8Array;
  /** [out], widened from fp16. */
  rowScales: Float32Array;
}

/** Access to a checkpoint's THUDM-quantized linears, by the name of the `.weight` tensor. */
export interface ThudmSource {
  thudmLinear(weightName: string): ThudmLinear | undefined;
}

export interface StageTensors {
  /** An fp32 tensor whose shape must be `dims`. */
  float(name: string, dims: number[]): Float32Array;
  /**
   * The tensor's fp16 bits when the checkpoint stores it as fp16, else undefined: an fp16 bundle of
   * an fp16 checkpoint copies them without widening to fp32 and back (time and memory).
   */
  half(name: string, dims: number[]): Uint16Array | undefined;
  /** A weight matrix [rows, cols] (a linear's `.weight`, or the embedding), quantized or not. */
  matrix(name: string, rows: number, cols: number, role: 'linear' | 'embedding'): MatrixTensor;
}

/**
 * The quantization the command-line flags ask for (`--quantize`, `--quantize-embedding`,
 * `--kv-cache`), checked. Quantizing the linears quantizes the embedding and the tied lm_head the
 * same way unless `--quantize-embedding` says otherwise (`none` keeps them float): a float table of
 * 130528 x 4096 is read whole by the lm_head on every step, more bytes than all the int4 layers
 * together (docs/performance.md). It also keeps the KV cache in fp16 unless `--kv-cache` says
 * otherwise: a model whose weights are already rounded to 4 or 8 bits loses little more there, and
 * each cached position takes half the memory; a float model keeps an exact fp32 cache.
 */
export function quantizationFromFlags(flags: { quantize?: string | undefined; quantizeEmbedding?: string | undefined; kvCache?: string | undefined; device?: string | undefined }): QuantizationOptions {
  const linears = flags.quantize === undefined ? undefined : parseQuantization(flags.quantize, 'quantize');
  const quantized = linears === 'int8' || linears === 'int4';
  const embedding = flags.quantizeEmbedding === undefined ? (quantized ? linears : undefined) : parseQuantization(flags.quantizeEmbedding, 'quantize-embedding');
  const kvCache = flags.kvCache === undefined ? (quantized ? 'float16' : undefined) : parseKvCacheDtype(flags.kvCache);
  // A WebGPU stage keeps its cache on the GPU (an absent field is the host, so host bundles keep their manifests).
  const onDevice = flags.device === 'webgpu';
  return { ...(linears && { linears }), ...(embedding && { embedding }), ...(kvCache && { kvCache }), ...(onDevice && { kvResidence: 'device' as const }) };
}

/**
 * The `--kv-cache` a command passes to quantizationFromFlags when none was given, by the device its
 * stages run on: on WebGPU an fp32 cache, since not every adapter computes in fp16 (SwiftShader
 * does not); undefined (the quantization's own default) on the CPU.
 */
export function kvCacheDefaultOn(device: string): KvCacheDtype | undefined {
  return device === 'webgpu' ? 'float32' : undefined;
}

/** Checks a command-line value (`--kv-cache float16`); the error names the flag. */
export function parseKvCacheDtype(value: string, flag = 'kv-cache'): KvCacheDtype {
  if (value !== 'float32' && value !== 'float16') throw new ChatGlmError('invalid_argument', `--${flag} must be float32 or float16, got "${value}"`);
  return value;
}

/** Checks a command-line value (`--quantize int4`); the error names the flag. */
export function parseQuantization(value: string, flag = 'quantize'): Quantization {
  if (value !== 'none' && value !== 'int8' && value !== 'int4') throw new ChatGlmError('invalid_argument', `--${flag} must be none, int8 or int4, got "${value}"`);
  return value;
}

export function bitsOf(q: Quantization): QuantBits | undefined {
  return q === 'int8' ? 8 : q === 'int4' ? 4 : undefined;
}

/**
 * The stage's tensors from a checkpoint. Linears of a THUDM quantized checkpoint keep their codes
 * (repacked exactly into blocks) unless another bit width is asked for; float linears are quantized
 * when asked.
 */
export function stageTensors(weights: WeightSource, options: QuantizationOptions = {}, thudm?: ThudmSource, halves?: (name: string) => Uint16Array | undefined): StageTensors {
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  const float = (name: string, dims: number[]): Float32Array => {
    const t = weights.get(name);
    const same = t.dims.length === dims.length && t.dims.every((d, i) => d === dims[i]);
    if (!same) throw new ChatGlmError('invalid_checkpoint', `tensor "${name}" has shape [${t.dims.join(', ')}], config.json implies [${dims.join(', ')}]`);
    return t.data;
  };
  return {
    float,
    half(name, dims) {
      const bits = halves?.(name);
      if (!bits) return undefined;
      const n = dims.reduce((a, b) => a * b, 1);
      if (bits.length !== n) throw new ChatGlmError('invalid_checkpoint', `tensor "${name}" holds ${bits.length} values, config.json implies [${dims.join(', ')}]`);
      return bits;
    },
    matrix(name, rows, cols, role) {
      const choice = role === 'linear' ? options.linears : options.embedding;
      const wanted = bitsOf(choice ?? 'none');
      const stored = role === 'linear' ? thudm?.thudmLinear(name) : undefined;
      if (stored) {
        // Unspecified keeps the checkpoint's codes; 'none' asks for float weights.
        if (choice === 'none') return { kind: 'float', data: dequantizeThudm(stored.codes, stored.rowScales, rows, cols, stored.bits) };
        const bits = wanted ?? stored.bits;
        if (bits === stored.bits) return { kind: 'nbits', weight: repackThudm(stored.codes, stored.rowScales, rows, cols, bits, blockSize) };
        // Another width than the checkpoint's: through float (documented as lossy twice).
        return { kind: 'nbits', weight: quantizeBlocks(dequantizeThudm(stored.codes, stored.rowScales, rows, cols, stored.bits), rows, cols, bits, blockSize) };
      }
      return wanted ? { kind: 'nbits', weight: quantizeBlocks(float(name, [rows, cols]), rows, cols, wanted, blockSize) } : { kind: 'float' };
    },
  };
}

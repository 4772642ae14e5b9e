// How every WebGPU session of a process is made. ONNX Runtime's WebGPU provider keeps one device
// context per process, set up by the first session made on it, so its settings must be the same
// for every session (a later session's are ignored): stages, their KV pools and the device probes
// all take theirs from here.
//
// maxNumPendingDispatches: the provider records kernels into a command buffer and submits it to the
// GPU every N dispatches (ONNX Runtime's default 16). A decode step of 28 layers is about 2000
// kernels, so about 120 submissions a step by default, each a round trip to the driver. On the lent
// H200, one stream's int4 step took 46.7 ms with 16, 33.8 with 1024, 25.5 with 4096 (docs/
// performance.md, "GPUs"). The price of a larger N is memory: a kernel's temporary buffers go back
// to the provider's cache only once its command buffer is submitted, so a long prefill holds more
// of them at once; 1024 is about half a decode step.
import { ChatGlmError } from '@chatglm/common';
import type ort from 'onnxruntime-node';

/** Dispatches recorded before a submission, unless CHATGLM_WEBGPU_MAX_PENDING_DISPATCHES says otherwise. */
export const DEFAULT_MAX_PENDING_DISPATCHES = 1024;

const VALIDATION_MODES = ['disabled', 'wgpuOnly', 'basic', 'full'] as const;

export interface WebGpuSettings {
  maxPendingDispatches: number;
  /** Dawn's validation, as ONNX Runtime names its levels; undefined keeps ONNX Runtime's default. */
  validation?: (typeof VALIDATION_MODES)[number];
}

/** The process's settings: the defaults, or CHATGLM_WEBGPU_MAX_PENDING_DISPATCHES and CHATGLM_WEBGPU_VALIDATION. */
export function webgpuSettings(env: NodeJS.ProcessEnv = process.env): WebGpuSettings {
  const pending = env.CHATGLM_WEBGPU_MAX_PENDING_DISPATCHES;
  const maxPendingDispatches = pending === undefined || pending === '' ? DEFAULT_MAX_PENDING_DISPATCHES : Number(pending);
  if (!Number.isInteger(maxPendingDispatches) || maxPendingDispatches < 1 || maxPendingDispatches > 4096) {
    throw new ChatGlmError('invalid_argument', `CHATGLM_WEBGPU_MAX_PENDING_DISPATCHES must be an integer from 1 to 4096, got "${pending}"`);
  }
  const validation = env.CHATGLM_WEBGPU_VALIDATION || undefined;
  if (validation !== undefined && !(VALIDATION_MODES as readonly string[]).includes(validation)) {
    throw new ChatGlmError('invalid_argument', `CHATGLM_WEBGPU_VALIDATION must be one of ${VALIDATION_MODES.join(', ')}, got "${validation}"`);
  }
  return { maxPendingDispatches, ...(validation !== undefined && { validation: validation as WebGpuSettings['validation'] }) };
}

/** `options` run on the WebGPU provider with the process's settings (its `extra` entries kept). */
export function onWebGpu(options: ort.InferenceSession.SessionOptions = {}): ort.InferenceSession.SessionOptions {
  const settings = webgpuSettings();
  const extra = (options.extra ?? {}) as Record<string, unknown>;
  return {
    ...options,
    executionProviders: [{ name: 'webgpu', ...(settings.validation !== undefined && { validationMode: settings.validation }) } as ort.InferenceSession.ExecutionProviderConfig],
    extra: { ...extra, ep: { webgpuexecutionprovider: { maxNumPendingDispatches: String(settings.maxPendingDispatches) } } },
  };
}

// Small factories for protocol messages in tests.
import { PROTOCOL_VERSION, type Entry, type StageInfo, type StepRequest, type StepStream } from '../src/index.ts';

export function stageInfo(overrides: Partial<StageInfo> = {}): StageInfo {
  return {
    protocolVersion: PROTOCOL_VERSION,
    modelId: 'tiny-glm-test',
    layerStart: 14,
    layerEnd: 28,
    numLayers: 28,
    hiddenSize: 64,
    activationDtype: 'ACTIVATION_DTYPE_FLOAT32',
    maxSequences: 8,
    maxTokensPerSequence: 256,
    kvPages: 128,
    kvPageSize: 16,
    address: '127.0.0.1:5001',
    ...overrides,
  };
}

export function entry(overrides: Partial<Entry> = {}): Entry {
  return {
    seqId: 'seq-1',
    phase: 'PHASE_DECODE',
    tokenIds: [5],
    positions: [3],
    blockPositions: [1],
    contextLength: 0,
    activations: Buffer.alloc(0),
    sampleIndex: 0,
    ...overrides,
  };
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when `predicate` holds, polling every 5 ms; rejects after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(5);
  }
}

/** The steps of a server-side stream, skipping releases (handlers that only answer steps). */
export async function* stepsOf(stream: StepStream): AsyncGenerator<StepRequest> {
  for await (const message of stream) if (message.kind === 'step') yield message.step;
}

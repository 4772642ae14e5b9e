// A stage whose layers run as several graphs, one per prefill chunk (docs/performance.md, "Chunked
// prefill"). A decode step runs every chunk in turn, as one graph would; a prefill runs them one at
// a time, each when the caller's schedule lets it, so that decode steps of running sequences that
// arrive meanwhile go between the chunks: a long prompt holds them up for one chunk, not for all the
// layers. Chunks are of layers, not of tokens: a GLM prompt's tokens attend to each other in both
// directions (docs/model.md §4.1), so each layer needs the whole prompt at once to stay exact.
import { ChatGlmError } from '@chatglm/common';
import { prefillChunks, readBundleManifest } from '@chatglm/glm';
import { StageChain, type Schedule } from './stage-chain.ts';
import { StageExecutor } from './stage-executor.ts';
import type { DecodeRequest, KvCapacity, PrefillRequest, RunOptions, StageOutput, StageRuntime, StageRuntimeInfo, StageSpec } from './stage-runtime.ts';

/**
 * The stage `spec` describes: a ChunkedStage when its bundle was converted in prefill chunks (or
 * `spec.prefillChunkLayers` cuts weights built here), else one StageExecutor.
 */
export async function openStage(spec: StageSpec): Promise<StageExecutor | ChunkedStage> {
  if (spec.weights.kind === 'bundle') {
    const { graphs } = readBundleManifest(spec.weights.dir);
    if (graphs.length === 1) return StageExecutor.create(spec);
    return ChunkedStage.create(spec, graphs.map((g) => ({ range: g.layers, graph: g.file })));
  }
  const chunks = prefillChunks(spec.range, spec.prefillChunkLayers);
  if (chunks.length === 1) return StageExecutor.create(spec);
  return ChunkedStage.create(spec, chunks.map((range) => ({ range })));
}

/** A sequence whose prefill is under way: a release meanwhile cancels it at its next chunk. */
interface Prefilling {
  released: boolean;
}

export class ChunkedStage implements StageRuntime {
  readonly info: StageRuntimeInfo;
  private readonly chain: StageChain;
  private readonly prefilling = new Map<string, Prefilling>();

  private constructor(readonly chunks: StageExecutor[]) {
    this.chain = new StageChain(chunks, { part: true });
    const first = chunks[0] as StageExecutor;
    const last = chunks[chunks.length - 1] as StageExecutor;
    this.info = { ...first.info, range: { start: first.info.range.start, end: last.info.range.end }, isLast: last.info.isLast };
  }

  static async create(spec: StageSpec, chunks: { range: { start: number; end: number }; graph?: string }[]): Promise<ChunkedStage> {
    const executors: StageExecutor[] = [];
    try {
      // Their thread pools take turns on the same cores: idle chunks must not spin. Without an
      // arena, a long prompt's memory goes back when each chunk's run ends instead of staying
      // with every chunk (docs/performance.md, "Chunked prefill").
      for (const c of chunks) executors.push(await StageExecutor.create({ ...spec, range: c.range, spinning: false, memoryArena: false }, c.graph));
    } catch (err) {
      await Promise.allSettled(executors.map((e) => e.close()));
      throw err;
    }
    return new ChunkedStage(executors);
  }

  /**
   * Prefills chunk by chunk, each when `schedule` lets it (the stage thread queues each chunk
   * behind the calls that came before it). A release of this sequence before the last chunk ends
   * the prefill with an error and frees every chunk's slot.
   */
  async prefill(request: PrefillRequest, options: RunOptions = {}, schedule: Schedule = (run) => run()): Promise<StageOutput> {
    if (this.prefilling.has(request.seqId)) throw new ChatGlmError('duplicate_sequence', `sequence ${request.seqId} is already being prefilled`);
    const state: Prefilling = { released: false };
    this.prefilling.set(request.seqId, state);
    try {
      return await this.chain.prefill(request, options, (run) =>
        schedule(() => {
          if (state.released) throw new ChatGlmError('stage_cancelled', `sequence ${request.seqId} was released while its prompt was being prefilled`);
          return run();
        }),
      );
    } finally {
      this.prefilling.delete(request.seqId);
    }
  }

  decode(entries: DecodeRequest[], options: RunOptions = {}): Promise<StageOutput> {
    return this.chain.decode(entries, options);
  }

  async release(seqId: string): Promise<void> {
    const prefilling = this.prefilling.get(seqId);
    // The prefill frees its chunks' slots itself when it stops (StageChain.prefill).
    if (prefilling) prefilling.released = true;
    await this.chain.release(seqId);
  }

  /** The first chunk's slots and positions (every chunk holds the same sequences); the pages' bytes of all of them. */
  async capacity(): Promise<KvCapacity> {
    const each = await Promise.all(this.chunks.map((c) => c.capacity()));
    const first = each[0] as KvCapacity;
    const sum = (bytes: (c: KvCapacity) => number) => each.reduce((total, c) => total + bytes(c), 0);
    return { ...first, kvBytesHeld: sum((c) => c.kvBytesHeld), kvBytesCommitted: sum((c) => c.kvBytesCommitted) };
  }

  /** A copy of one sequence's cache in one layer (see StageExecutor.readCache). */
  readCache(seqId: string, layer: number): Promise<{ keys: Float32Array; values: Float32Array; length: number }> {
    const chunk = this.chunks.find((c) => layer >= c.info.range.start && layer < c.info.range.end);
    if (!chunk) throw new ChatGlmError('unknown_layer', `layer ${layer} is not held by this stage`);
    return chunk.readCache(seqId, layer);
  }

  async close(): Promise<void> {
    await this.chain.close();
  }
}

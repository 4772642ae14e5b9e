// A worker thread that runs stages: owns their ONNX Runtime sessions and KV caches, and runs calls
// one at a time in arrival order (each mutates a cache; stages sharing a WebGPU device must not use
// it from two threads), so the host's event loop never blocks on session.run(). A chunked stage's
// prefill takes one turn per chunk: its first chunk in its own place in the order, each later one
// behind whatever arrived meanwhile, so decode steps go between the chunks (chunked-stage.ts).
import { parentPort } from 'node:worker_threads';
import { ChatGlmError } from '@chatglm/common';
import { ChunkedStage, openStage } from '../chunked-stage.ts';
import type { Schedule } from '../stage-chain.ts';
import type { StageExecutor } from '../stage-executor.ts';
import type { PrefillRequest, RunOptions, StageOutput } from '../stage-runtime.ts';
import type { SerializedError, ThreadRequest, ThreadResponse } from './thread-protocol.ts';

const port = parentPort;
if (!port) throw new Error('stage-thread.ts must run in a worker thread');

const executors = new Map<number, StageExecutor | ChunkedStage>();
let tail: Promise<unknown> = Promise.resolve();

/** Runs `run` after every turn taken before it. */
const takeTurn: Schedule = (run) => {
  const turn = tail.then(run);
  tail = turn.catch(() => undefined);
  return turn;
};

port.on('message', (req: ThreadRequest) => {
  void (async () => {
    let response: ThreadResponse;
    try {
      response = { id: req.id, ok: true, value: await handle(req) };
    } catch (err) {
      response = { id: req.id, ok: false, error: serialize(err) };
    }
    port.postMessage(response, response.ok ? movableBuffers(response.value) : []);
  })();
});

/**
 * The buffers of a call's output arrays, moved to the host rather than copied: 16 streams' logits
 * are 8.4 MB a step (about 4 ms to copy here), a long prompt's activations tens of MB. Each array
 * is ONNX Runtime's output, the whole of its own buffer, and nothing here reads it afterwards.
 */
function movableBuffers(value: unknown): ArrayBuffer[] {
  if (typeof value !== 'object' || value === null) return [];
  const { logits, hidden } = value as StageOutput;
  return [logits, hidden].flatMap((a) => (a instanceof Float32Array && a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? [a.buffer] : []));
}

async function handle(call: ThreadRequest): Promise<unknown> {
  // Wrapped, so that the turn does not wait for the later chunks it hands on.
  if (call.method === 'prefill') return (await takeTurn(() => startPrefill(call.stage, call.request, call.options))).result;
  return takeTurn(() => handleInTurn(call));
}

/**
 * Runs a prefill in the current turn; a chunked stage's only up to its first chunk, the rest in
 * later turns. Resolves when the turn may end, with the prefill's result still to come.
 */
async function startPrefill(stage: number, request: PrefillRequest, options: RunOptions | undefined): Promise<{ result: Promise<StageOutput> }> {
  const executor = executorOf(stage);
  if (!(executor instanceof ChunkedStage)) return { result: Promise.resolve(await timed(() => executor.prefill(request, options))) };
  let firstChunkDone: () => void = () => undefined;
  const firstChunk = new Promise<void>((resolve) => (firstChunkDone = resolve));
  let first = true;
  const clock = new ComputeClock();
  const result = executor
    .prefill(request, options, async (run) => {
      if (!first) {
        // Let calls that arrived during the last chunk take their turns first: their messages are
        // handled before setImmediate's callback, the chunk's continuation would come before them.
        await new Promise((resolve) => setImmediate(resolve));
        return takeTurn(() => clock.time(run));
      }
      first = false;
      return clock.time(run).finally(firstChunkDone);
    })
    .then((out) => ({ ...out, computeMs: clock.ms }));
  await Promise.race([firstChunk, result.catch(() => undefined)]);
  return { result };
}

/** A call's output with the time it took (StageOutput.computeMs). */
async function timed(run: () => Promise<StageOutput>): Promise<StageOutput> {
  const clock = new ComputeClock();
  const out = await clock.time(run);
  return { ...out, computeMs: clock.ms };
}

/** Adds up the time of the runs it times: a call's compute, in one turn or over a prefill's chunks. */
class ComputeClock {
  ms = 0;

  async time<T>(run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await run();
    } finally {
      this.ms += performance.now() - started;
    }
  }
}

function executorOf(stage: number): StageExecutor | ChunkedStage {
  const executor = executors.get(stage);
  if (!executor) throw new ChatGlmError('stage_not_ready', `stage ${stage} of this thread has not finished loading, or was closed`);
  return executor;
}

async function handleInTurn(call: Exclude<ThreadRequest, { method: 'prefill' }>): Promise<unknown> {
  if (call.method === 'init') {
    const executor = await openStage(call.spec);
    executors.set(call.stage, executor);
    return executor.info;
  }
  const executor = executorOf(call.stage);
  switch (call.method) {
    case 'decode':
      return timed(() => executor.decode(call.entries, call.options));
    case 'release':
      return executor.release(call.seqId);
    case 'capacity':
      return executor.capacity();
    case 'close':
      executors.delete(call.stage);
      await executor.close();
      return undefined;
  }
}

function serialize(err: unknown): SerializedError {
  if (err instanceof ChatGlmError) return { name: err.name, message: err.message, code: err.code, ...(err.stack !== undefined && { stack: err.stack }) };
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name, message: e.message, code: 'stage_internal', ...(e.stack !== undefined && { stack: e.stack }) };
}

// A worker thread that runs stages: owns their ONNX Runtime sessions and KV caches, and runs calls
// one at a time in arrival order (each mutates a cache; stages sharing a WebGPU device must not use
// it from two threads), so the host's event loop never blocks on session.run().
import { parentPort } from 'node:worker_threads';
import { ChatGlmError } from '@chatglm/common';
import { StageExecutor } from '../stage-executor.ts';
import type { SerializedError, ThreadRequest, ThreadResponse } from './thread-protocol.ts';

const port = parentPort;
if (!port) throw new Error('stage-thread.ts must run in a worker thread');

const executors = new Map<number, StageExecutor>();
let queue: Promise<void> = Promise.resolve();

port.on('message', (req: ThreadRequest) => {
  queue = queue.then(async () => {
    let response: ThreadResponse;
    try {
      response = { id: req.id, ok: true, value: await handle(req) };
    } catch (err) {
      response = { id: req.id, ok: false, error: serialize(err) };
    }
    port.postMessage(response);
  });
});

async function handle(call: ThreadRequest): Promise<unknown> {
  if (call.method === 'init') {
    const executor = await StageExecutor.create(call.spec);
    executors.set(call.stage, executor);
    return executor.info;
  }
  const executor = executors.get(call.stage);
  if (!executor) throw new ChatGlmError('stage_not_ready', `stage ${call.stage} of this thread has not finished loading, or was closed`);
  switch (call.method) {
    case 'prefill':
      return executor.prefill(call.request, call.options);
    case 'decode':
      return executor.decode(call.entries, call.options);
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

// The worker thread of a CPU stage: owns the ONNX Runtime session and the KV cache, and runs
// calls one at a time in arrival order (each mutates the cache), so the host's event loop never
// blocks on session.run().
import { parentPort } from 'node:worker_threads';
import { ChatGlmError } from '@chatglm/common';
import { StageExecutor } from '../stage-executor.ts';
import type { SerializedError, ThreadCall, ThreadRequest, ThreadResponse } from './thread-protocol.ts';

const port = parentPort;
if (!port) throw new Error('stage-thread.ts must run in a worker thread');

let executor: StageExecutor | undefined;
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

async function handle(call: ThreadCall): Promise<unknown> {
  if (call.method === 'init') {
    executor = await StageExecutor.create(call.spec);
    return executor.info;
  }
  if (!executor) throw new ChatGlmError('stage_not_ready', 'the stage has not finished loading');
  switch (call.method) {
    case 'prefill':
      return executor.prefill(call.request, call.options);
    case 'decode':
      return executor.decode(call.entries, call.options);
    case 'release':
      executor.release(call.seqId);
      return undefined;
    case 'capacity':
      return executor.capacity();
    case 'close':
      await executor.close();
      executor = undefined;
      return undefined;
  }
}

function serialize(err: unknown): SerializedError {
  if (err instanceof ChatGlmError) return { name: err.name, message: err.message, code: err.code, ...(err.stack !== undefined && { stack: err.stack }) };
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name, message: e.message, code: 'stage_internal', ...(e.stack !== undefined && { stack: e.stack }) };
}

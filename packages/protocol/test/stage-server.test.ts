import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ChatGlmError } from '@chatglm/common';
import {
  StageClient,
  StageRpcError,
  createStageServer,
  decodeActivations,
  encodeActivations,
  type ServingStatus,
  type StageHandlers,
  type StepReply,
  type StepRequest,
} from '../src/index.ts';
import { delay, entry, stageInfo, until, stepsOf } from './factories.ts';

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function start(handlers: StageHandlers, serving = true): Promise<{ server: ReturnType<typeof createStageServer>; client: StageClient }> {
  const server = createStageServer(handlers);
  const port = await server.listen('127.0.0.1', 0);
  assert.ok(port > 0, 'the OS picks a real port');
  if (serving) server.setServing(true);
  const client = new StageClient(`127.0.0.1:${port}`);
  cleanups.push(() => server.close(0), () => client.close());
  return { server, client };
}

/** Replies to each request after entries[0].sampleIndex ms, echoing its entries as results. */
const echo: StageHandlers = {
  info: () => ({ stages: [stageInfo({ address: 'echo:1' }), stageInfo({ layerStart: 20, address: 'echo:2' })] }),
  step: async (stream) => {
    const inFlight: Promise<void>[] = [];
    for await (const request of stepsOf(stream)) {
      inFlight.push(
        delay(request.entries[0]?.sampleIndex ?? 0).then(() => {
          stream.send({
            stepId: request.stepId,
            results: request.entries.map((e) => ({ seqId: e.seqId, tokenId: (e.tokenIds[0] ?? 0) * 2, logprob: -0.5 })),
            timings: [{ layerStart: 14, layerEnd: 28, forwardMs: 1.25 }],
          });
        }),
      );
    }
    await Promise.all(inFlight);
  },
};

test('Info answers with the typed stage list', async () => {
  const { client } = await start(echo);
  await client.waitForReady(5_000);
  const reply = await client.info();
  assert.deepEqual(reply.stages, [stageInfo({ address: 'echo:1' }), stageInfo({ layerStart: 20, address: 'echo:2' })]);
});

test('a Step stream carries several in-flight requests answered out of order', async () => {
  const { client } = await start(echo);
  const channel = client.openStep();
  const delays = [80, 60, 40, 20, 0];
  delays.forEach((ms, i) => channel.sendStep({ stepId: 100 + i, entries: [entry({ seqId: `s${i}`, tokenIds: [i + 1], sampleIndex: ms })] }));
  channel.end(); // half-close: the server answers what is in flight, then ends with OK
  const replies: StepReply[] = [];
  for await (const reply of channel) replies.push(reply);
  assert.deepEqual(
    replies.map((r) => r.stepId),
    [104, 103, 102, 101, 100],
    'replies arrive in completion order, not send order',
  );
  for (const reply of replies) {
    const i = reply.stepId - 100;
    assert.deepEqual(reply.results, [{ seqId: `s${i}`, tokenId: (i + 1) * 2, logprob: -0.5, topLogprobs: [] }], 'a repeated field arrives empty when unset');
    assert.deepEqual(reply.timings, [{ layerStart: 14, layerEnd: 28, forwardMs: 1.25 }]);
    assert.equal(reply.error, null, 'an unset message field arrives as null');
  }
  assert.equal(await channel.closed, null);
  assert.throws(() => channel.sendStep({ stepId: 1, entries: [] }), (e: unknown) => e instanceof ChatGlmError && e.code === 'stream_closed' && e.retryable);
});

test('received messages carry every field with its proto3 default', async () => {
  let seen: StepRequest | undefined;
  const { client } = await start({
    info: () => ({ stages: [] }),
    step: (stream) => {
      void (async () => {
        for await (const request of stepsOf(stream)) {
          seen = request;
          stream.send({ stepId: request.stepId, results: [], timings: [] });
        }
        stream.end();
      })();
    },
  });
  const replies: StepReply[] = [];
  const channel = client.openStep({ onReply: (r) => replies.push(r) });
  const sampling = { doSample: true, temperature: 0.95, topP: 0.7, topK: 0, repetitionPenalty: 1, seed: '18446744073709551615' };
  channel.sendStep({ stepId: 2 ** 53 - 1, entries: [entry({ phase: 'PHASE_PREFILL', tokenIds: [], positions: [], blockPositions: [], sampling })] });
  await until(() => replies.length === 1, 5_000, 'the reply');
  assert.equal(replies[0]?.stepId, 2 ** 53 - 1, 'the largest safe step id survives the uint64 round trip');
  assert.equal(seen?.entries[0]?.phase, 'PHASE_PREFILL');
  assert.deepEqual(seen?.entries[0]?.tokenIds, []);
  assert.ok(Buffer.isBuffer(seen?.entries[0]?.activations));
  assert.equal(seen?.entries[0]?.sampling?.seed, '18446744073709551615');
  assert.ok(Math.abs((seen?.entries[0]?.sampling?.temperature ?? 0) - 0.95) < 1e-6);
  assert.throws(() => channel.sendStep({ stepId: 2 ** 53, entries: [] }), /step_id must be a non-negative safe integer/);
  assert.throws(() => channel.sendStep({ stepId: -1, entries: [] }), /step_id must be a non-negative safe integer/);
  channel.end();
  assert.equal(await channel.closed, null);
});

test('health reports NOT_SERVING while loading, then SERVING, to Check and Watch', async () => {
  const { server, client } = await start(echo, false);
  assert.equal(await client.check(), 'NOT_SERVING');
  assert.equal(await client.check('chatglm.stage.v1.Stage'), 'NOT_SERVING');
  assert.equal(await client.check('no.such.Service'), 'SERVICE_UNKNOWN');
  const watched: ServingStatus[] = [];
  let ended: unknown = 'not yet';
  const stop = client.watchHealth('', (s) => watched.push(s), (e) => (ended = e));
  await until(() => watched.length === 1, 5_000, 'the first Watch status');
  server.setServing(true);
  await until(() => watched.length === 2, 5_000, 'the SERVING update');
  assert.deepEqual(watched, ['NOT_SERVING', 'SERVING']);
  assert.equal(await client.check(), 'SERVING');
  assert.equal(await client.check('chatglm.stage.v1.Stage'), 'SERVING');
  assert.equal(server.servingStatus(), 'SERVING');
  stop();
  await until(() => ended !== 'not yet', 5_000, 'the watch to end');
  assert.equal(ended, null);
});

test('handler errors map to statuses: a ChatGlmError keeps its code (and so retryable), others become INTERNAL', async () => {
  let fail: () => never = () => {
    throw new ChatGlmError('kv_capacity', 'no free KV slot for 3 more sequences');
  };
  const { client } = await start({ info: () => fail(), step: () => fail() });
  const kv = await client.info().then(() => assert.fail('Info should fail'), (e: unknown) => e);
  assert.ok(kv instanceof StageRpcError);
  assert.equal(kv.code, 'kv_capacity');
  assert.equal(kv.retryable, true);
  assert.equal(kv.grpcCode, 8, 'RESOURCE_EXHAUSTED');
  assert.match(kv.message, /Info on stage 127\.0\.0\.1:\d+ failed \(RESOURCE_EXHAUSTED\): no free KV slot/);

  fail = () => {
    throw new TypeError('boom in the handler');
  };
  const internal = await client.info().then(() => assert.fail('Info should fail'), (e: unknown) => e);
  assert.ok(internal instanceof StageRpcError);
  assert.equal(internal.code, 'stage_internal');
  assert.equal(internal.retryable, false);
  assert.equal(internal.grpcCode, 13, 'INTERNAL');
  assert.match(internal.message, /stage internal error: boom in the handler/);

  // A Step handler that throws synchronously fails that stream only; the server keeps serving.
  const channel = client.openStep();
  const closed = await channel.closed;
  assert.ok(closed instanceof StageRpcError);
  assert.equal(closed.code, 'stage_internal');
  await assert.rejects(client.info(), /boom in the handler/);
});

test('an async Step handler that rejects fails the stream with the mapped status', async () => {
  const { client } = await start({
    info: () => ({ stages: [] }),
    step: async (stream) => {
      for await (const request of stepsOf(stream)) {
        if (request.stepId === 2) throw new ChatGlmError('unknown_sequence', `sequence ${request.entries[0]?.seqId} is not running here`);
        stream.send({ stepId: request.stepId, results: [], timings: [] });
      }
    },
  });
  const replies: number[] = [];
  const channel = client.openStep({ onReply: (r) => replies.push(r.stepId) });
  channel.sendStep({ stepId: 1, entries: [entry()] });
  channel.sendStep({ stepId: 2, entries: [entry({ seqId: 'ghost' })] });
  const error = await channel.closed;
  assert.ok(error instanceof StageRpcError);
  assert.equal(error.code, 'unknown_sequence');
  assert.equal(error.retryable, true, 'the registry says another pipeline may succeed');
  assert.equal(error.grpcCode, 5, 'NOT_FOUND');
  assert.match(error.message, /sequence ghost is not running here/);
  assert.deepEqual(replies, [1]);
});

test('a release is a control message: ordered with the steps on the stream, never answered', async () => {
  const seen: string[] = [];
  const { client } = await start({
    info: () => ({ stages: [] }),
    step: async (stream) => {
      for await (const message of stream) {
        if (message.kind === 'release') seen.push(`release ${message.release.seqIds.join(',')}`);
        else {
          seen.push(`step ${message.step.stepId}`);
          stream.send({ stepId: message.step.stepId, results: [], timings: [] });
        }
      }
    },
  });
  const replies: number[] = [];
  const channel = client.openStep({ onReply: (r) => replies.push(r.stepId) });
  channel.sendStep({ stepId: 1, entries: [entry({ seqId: 'a' })] });
  channel.sendRelease(['a', 'b']);
  channel.sendStep({ stepId: 2, entries: [entry({ seqId: 'a' })] });
  await until(() => replies.length === 2 && seen.length === 3, 5_000, 'both replies');
  await delay(50); // time for a wrong reply to a release to show
  assert.deepEqual(seen, ['step 1', 'release a,b', 'step 2']);
  assert.deepEqual(replies, [1, 2]);
  channel.close();
});

test('server close() fails open Step streams with a retryable server_closed error', async () => {
  let aborted = false;
  const { server, client } = await start({
    info: () => ({ stages: [] }),
    step: (stream) => {
      stream.signal.addEventListener('abort', () => (aborted = true));
    },
  });
  const channel = client.openStep();
  channel.sendStep({ stepId: 1, entries: [] });
  await until(() => server.openStreams === 1, 5_000, 'the stream to open');
  await server.close(50);
  const error = await channel.closed;
  assert.ok(error instanceof StageRpcError);
  assert.equal(error.code, 'server_closed');
  assert.equal(error.retryable, true);
  assert.equal(aborted, false, 'a stream the server failed itself is not reported as a vanished peer');
  assert.equal(server.servingStatus(), 'NOT_SERVING');
  await server.close(); // idempotent
});

test('a Step round trip with 1 MiB of activations (loopback timing)', async (t) => {
  const hidden = 4096;
  const tokens = 64; // 64 x 4096 fp32 = 1 MiB
  const { client } = await start({
    info: () => ({ stages: [] }),
    step: async (stream) => {
      for await (const request of stepsOf(stream)) {
        const e = request.entries[0]!;
        const dtype = e.activations.length === tokens * hidden * 4 ? 'ACTIVATION_DTYPE_FLOAT32' : 'ACTIVATION_DTYPE_FLOAT16';
        const x = decodeActivations(e.activations, dtype, tokens * hidden);
        stream.send({ stepId: request.stepId, results: [{ seqId: e.seqId, tokenId: Math.round(x[tokens * hidden - 1]! * 100), logprob: 0 }], timings: [] });
      }
    },
  });
  const waiting = new Map<number, (r: StepReply) => void>();
  const channel = client.openStep({ onReply: (r) => waiting.get(r.stepId)?.(r) });
  const data = new Float32Array(tokens * hidden).map((_, i) => (i % 977) / 100);
  let stepId = 0;
  const roundTrip = async (dtype: 'ACTIVATION_DTYPE_FLOAT32' | 'ACTIVATION_DTYPE_FLOAT16'): Promise<number> => {
    const id = ++stepId;
    const t0 = performance.now();
    const reply = new Promise<StepReply>((resolve) => waiting.set(id, resolve));
    channel.sendStep({ stepId: id, entries: [entry({ tokenIds: new Array(tokens).fill(1), activations: encodeActivations(data, dtype) })] });
    const r = await reply;
    const ms = performance.now() - t0;
    waiting.delete(id);
    assert.equal(r.results[0]?.tokenId, Math.round(data[tokens * hidden - 1]! * 100));
    return ms;
  };
  const summary = async (dtype: 'ACTIVATION_DTYPE_FLOAT32' | 'ACTIVATION_DTYPE_FLOAT16'): Promise<string> => {
    for (let i = 0; i < 5; i++) await roundTrip(dtype); // warm-up
    const times: number[] = [];
    for (let i = 0; i < 40; i++) times.push(await roundTrip(dtype));
    times.sort((a, b) => a - b);
    const at = (q: number): string => times[Math.floor(q * (times.length - 1))]!.toFixed(2);
    return `p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, min ${at(0)} ms`;
  };
  const f32 = await summary('ACTIVATION_DTYPE_FLOAT32');
  const f16 = await summary('ACTIVATION_DTYPE_FLOAT16');
  t.diagnostic(`Step round trip, 1 MiB fp32 activations (64 x 4096) on loopback, encode+decode included: ${f32}`);
  t.diagnostic(`Step round trip, same activations as fp16 (512 KiB): ${f16}`);
  channel.close();
  assert.equal(await channel.closed, null, 'close() here is a clean end');
});

test('messages above gRPC default 4 MiB limit pass (a 2048-token prefill is 32 MiB in fp32)', async () => {
  const floats = 2048 * 1024; // 8 MiB of fp32
  const { client } = await start({
    info: () => ({ stages: [] }),
    step: async (stream) => {
      for await (const request of stepsOf(stream)) {
        const x = decodeActivations(request.entries[0]!.activations, 'ACTIVATION_DTYPE_FLOAT32', floats);
        stream.send({ stepId: request.stepId, results: [{ seqId: 'big', tokenId: x[floats - 1]!, logprob: 0 }], timings: [] });
      }
    },
  });
  const channel = client.openStep();
  const data = new Float32Array(floats).fill(3);
  data[floats - 1] = 42;
  channel.sendStep({ stepId: 1, entries: [entry({ activations: encodeActivations(data, 'ACTIVATION_DTYPE_FLOAT32') })] });
  channel.end();
  const replies: StepReply[] = [];
  for await (const reply of channel) replies.push(reply);
  assert.equal(replies[0]?.results[0]?.tokenId, 42);
  assert.equal(await channel.closed, null);
});

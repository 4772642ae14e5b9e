// A stage started with a secret serves Info and Step only to calls that carry it; the health service
// stays open for probes; a refused call fails with unauthorized, which is not retryable.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { StageClient, StageRpcError, createStageServer, type StageHandlers } from '../src/index.ts';
import { stageInfo, stepsOf } from './factories.ts';

const SECRET = 'stage-secret-0123456789abcdef';
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const handlers: StageHandlers = {
  info: () => ({ stages: [stageInfo({ address: 'secret:1' })] }),
  step: async (stream) => {
    for await (const request of stepsOf(stream)) stream.send({ stepId: request.stepId, results: [], timings: [] });
  },
};

async function serve(): Promise<string> {
  const server = createStageServer(handlers, { secret: SECRET });
  const port = await server.listen('127.0.0.1', 0);
  server.setServing(true);
  cleanups.push(() => server.close(0));
  return `127.0.0.1:${port}`;
}

function client(address: string, secret?: string): StageClient {
  const c = new StageClient(address, secret === undefined ? {} : { secret });
  cleanups.push(() => c.close());
  return c;
}

test('without the secret, or with another one, Info and Step fail with unauthorized', async () => {
  const address = await serve();
  for (const [secret, message] of [[undefined, /needs the cluster's stage secret/], ['another-secret-0123456789', /not accepted/]] as const) {
    const c = client(address, secret);
    await assert.rejects(c.info(), (e: unknown) => e instanceof StageRpcError && e.code === 'unauthorized' && !e.retryable && message.test(e.message));
    const closed = await c.openStep().closed;
    assert.ok(closed instanceof StageRpcError && closed.code === 'unauthorized', String(closed));
  }
});

test('with the secret Info and Step work; health checks need none', async () => {
  const address = await serve();
  const c = client(address, SECRET);
  assert.equal((await c.info()).stages[0]?.address, 'secret:1');
  const replies: number[] = [];
  const channel = c.openStep({ onReply: (r) => replies.push(r.stepId) });
  channel.sendStep({ stepId: 7, entries: [] });
  const deadline = Date.now() + 5000;
  while (replies.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(replies, [7]);
  channel.end();
  assert.equal(await client(address).check(), 'SERVING', 'an orchestrator\'s probe carries no secret');
});

test('a secret shorter than 16 characters is refused', () => {
  assert.throws(() => createStageServer(handlers, { secret: 'short' }), /at least 16 characters/);
});

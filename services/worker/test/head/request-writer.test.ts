// The head's Redis writes, against a fake store: in order, a failed write does not stop the
// others, and `flushed` waits for everything queued before it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RequestWriter } from '../../src/head/request-writer.ts';
import { FakeSink, quietLogger } from '../support/head-fakes.ts';

const progress = (id: string, delta: string, n: number) => ({ id, delta, newTokens: [{ tokenId: n, logprob: -1 }], completionTokens: n, withLogprobs: false });

test('writes land in the order they were queued, each after the previous one finished', async () => {
  const sink = new FakeSink();
  const writer = new RequestWriter(sink, quietLogger());
  writer.progress([progress('a', 'x', 1), progress('b', 'p', 1)]);
  writer.progress([progress('a', 'y', 2)]);
  const finished = writer.finish({ ...progress('a', 'z', 3), finishReason: 'stop', promptTokens: 4 });
  const failed = writer.fail('b', 'stage_internal', 'boom');
  await Promise.all([finished, failed]);
  assert.deepEqual(sink.writes.map((w) => w.kind), ['progress', 'progress', 'finish', 'fail']);
  assert.equal(sink.textOf('a'), 'xyz');
});

test('a failed progress write is logged and the next writes still happen; a failed finish rejects', async () => {
  const sink = new FakeSink();
  const lines: string[] = [];
  const writer = new RequestWriter(sink, quietLogger(lines));
  sink.failNext = 'progress';
  writer.progress([progress('a', 'lost', 1)]);
  writer.progress([progress('a', 'kept', 2)]);
  await writer.flushed();
  assert.equal(sink.textOf('a'), 'kept');
  assert.ok(lines.some((l) => l.includes('cannot write progress')), lines.join('\n'));
  sink.failNext = 'finish';
  await assert.rejects(writer.finish({ ...progress('a', '', 2), finishReason: 'stop', promptTokens: 1 }), /finish write failed/);
  await writer.fail('a', 'job_failed', 'still writes after a failure');
  assert.equal(sink.writes.at(-1)?.kind, 'fail');
});

test('flushed() resolves only after every write queued before it', async () => {
  const sink = new FakeSink();
  sink.delayMs = 5;
  const writer = new RequestWriter(sink, quietLogger());
  for (let i = 0; i < 5; i++) writer.progress([progress('a', String(i), i + 1)]);
  await writer.flushed();
  assert.equal(sink.writes.length, 5);
});

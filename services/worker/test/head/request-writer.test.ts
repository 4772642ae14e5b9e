// The head's Redis writes, against a fake store: in order, a failed write retried in place (never a
// hole), an attempt whose writes fail or are refused ends, and `flushed` waits for everything before it.
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
  assert.deepEqual(await Promise.all([finished, failed]), ['written', 'written']);
  assert.deepEqual(sink.writes.map((w) => w.kind), ['progress', 'progress', 'finish', 'fail']);
  assert.equal(sink.textOf('a'), 'xyz');
});

test('a failed write is retried in place: the writes after it wait, so the text never has a hole', async () => {
  const sink = new FakeSink();
  const lines: string[] = [];
  const writer = new RequestWriter(sink, quietLogger(lines), { retryDelaysMs: [5, 5] });
  sink.failNext = 'progress';
  writer.progress([progress('a', 'first', 1)]);
  writer.progress([progress('a', 'second', 2)]);
  assert.equal(await writer.finish({ ...progress('a', '!', 3), finishReason: 'stop', promptTokens: 1 }), 'written');
  assert.equal(sink.textOf('a'), 'firstsecond!');
  assert.ok(lines.some((l) => l.includes('retrying')), lines.join('\n'));
});

test("an attempt's writes are numbered 1, 2, 3...; a write retried after a failure keeps its number (Redis applies it once)", async () => {
  const sink = new FakeSink();
  const writer = new RequestWriter(sink, quietLogger(), { retryDelaysMs: [1, 1] });
  sink.failNext = 'progress';
  writer.progress([{ ...progress('a', 'x', 1), attempt: 'a1' }]);
  await writer.flushed();
  sink.failNext = 'finish';
  assert.equal(await writer.finish({ ...progress('a', 'y', 2), attempt: 'a1', finishReason: 'stop', promptTokens: 1 }), 'written');
  sink.failNext = 'fail';
  assert.equal(await writer.fail('b', 'stage_internal', 'boom', 'b1'), 'written');
  const seqs = sink.writes.flatMap((w) => (w.kind === 'progress' ? [w.updates[0]!.seq] : w.kind === 'finish' ? [w.outcome.seq] : []));
  assert.deepEqual(seqs, [1, 2], "attempt a1's writes carry their own numbers, the same on every try");
  assert.deepEqual(sink.failOwners, [{ attempt: 'b1', seq: 1 }], "attempt b1's failure too");
});

test('a write still failing after its retries ends that attempt: onLost, nothing more of it is written', async () => {
  const sink = new FakeSink();
  const lost: string[] = [];
  const writer = new RequestWriter(sink, quietLogger(), { retryDelaysMs: [1], onLost: (owners) => lost.push(...owners.map((o) => `${o.id}/${o.attempt}`)) });
  writer.progress([{ ...progress('a', 'x', 1), attempt: 'a1' }]);
  await writer.flushed();
  sink.down = true;
  writer.progress([{ ...progress('a', 'y', 2), attempt: 'a1' }, { ...progress('b', 'p', 1), attempt: 'b1' }]);
  await writer.flushed();
  sink.down = false;
  assert.deepEqual(lost, ['a/a1', 'b/b1']);
  writer.progress([{ ...progress('a', 'z', 3), attempt: 'a1' }]);
  assert.equal(await writer.finish({ ...progress('a', '', 3), attempt: 'a1', finishReason: 'stop', promptTokens: 1 }), 'lost');
  assert.equal(sink.textOf('a'), 'x', 'nothing after the lost write: no hole, the next attempt resumes from "x"');
  // A later attempt at the same request writes again.
  writer.forget({ id: 'a', attempt: 'a1' });
  writer.progress([{ ...progress('a', 'y', 2), attempt: 'a2' }]);
  await writer.flushed();
  assert.equal(sink.textOf('a'), 'xy');
});

test('writes refused by fencing end that attempt: onRefused, its finish reports refused', async () => {
  const sink = new FakeSink();
  const refused: string[] = [];
  const writer = new RequestWriter(sink, quietLogger(), { onRefused: (owners) => refused.push(...owners.map((o) => o.id)) });
  sink.refused.add('a');
  writer.progress([{ ...progress('a', 'x', 1), attempt: 'old' }, { ...progress('b', 'p', 1), attempt: 'b1' }]);
  assert.equal(await writer.finish({ ...progress('a', '', 1), attempt: 'old', finishReason: 'stop', promptTokens: 1 }), 'refused');
  assert.deepEqual(refused, ['a']);
  assert.equal(sink.textOf('b'), 'p', 'the other request of the batch is written');
});

test('flushed() resolves only after every write queued before it', async () => {
  const sink = new FakeSink();
  sink.delayMs = 5;
  const writer = new RequestWriter(sink, quietLogger());
  for (let i = 0; i < 5; i++) writer.progress([progress('a', String(i), i + 1)]);
  await writer.flushed();
  assert.equal(sink.writes.length, 5);
});

// A stage whose thread dies tells whoever watches it, once, and fails every call after; closing a
// stage is not a crash.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChatGlmError } from '@chatglm/common';
import { ThreadedStageRuntime } from '@chatglm/runtime';
import { randomTensors, tinyConfig } from '../../../test/support/models.ts';

const config = tinyConfig();
const tensors = randomTensors(config, 3);
const spec = { config, range: { start: 0, end: config.numLayers }, weights: { kind: 'memory' as const, tensors }, maxSequences: 2, maxTokensPerSequence: 16, threads: 1, spinning: false };

/** The stage's worker thread, reached past the runtime's interface: a test kills it as a fault would. */
function threadOf(runtime: ThreadedStageRuntime): { terminate(): Promise<number> } {
  return (runtime as unknown as { host: { worker: { terminate(): Promise<number> } } }).host.worker;
}

test('a dead stage thread calls the crash watchers once; later calls fail with stage_crashed', async () => {
  const runtime = await ThreadedStageRuntime.create(spec);
  const crashes: Error[] = [];
  runtime.onCrash((err) => crashes.push(err));
  await threadOf(runtime).terminate();
  const deadline = Date.now() + 5000;
  while (crashes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(crashes.length, 1);
  assert.ok(crashes[0] instanceof ChatGlmError && crashes[0].code === 'stage_crashed', String(crashes[0]));
  await assert.rejects(runtime.capacity(), (e: unknown) => e instanceof ChatGlmError && e.code === 'stage_crashed');
  await runtime.close();
  assert.equal(crashes.length, 1, 'closing afterwards is no second crash');
});

test('closing a stage is not a crash', async () => {
  const runtime = await ThreadedStageRuntime.create(spec);
  let crashed = false;
  runtime.onCrash(() => (crashed = true));
  await runtime.close();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(crashed, false);
});

test('responsive(): an idle thread that answers, yes; one owing an answer past the deadline, or dead, no', async () => {
  const runtime = await ThreadedStageRuntime.create(spec);
  try {
    assert.equal(await runtime.responsive(60_000), true, 'idle and answering');
    // A call the thread owes: within a generous deadline it is working; past a zero one, hung.
    const owed = runtime.capacity();
    assert.equal(await runtime.responsive(0), false, 'owing an answer for longer than the deadline');
    await owed;
    assert.equal(await runtime.responsive(60_000), true, 'answered: fine again');
    await threadOf(runtime).terminate();
    const deadline = Date.now() + 5000;
    while ((await runtime.responsive(60_000)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await runtime.responsive(60_000), false, 'a dead thread');
  } finally {
    await runtime.close();
  }
});

// Peers that vanish mid-stream: the survivor must learn of it and must not crash.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { after, test } from 'node:test';
import { StageClient, StageRpcError, createStageServer, type StepReply, type StepStream } from '../src/index.ts';
import { until, stepsOf } from './factories.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const children = new Set<ChildProcess>();
after(() => {
  for (const child of children) child.kill('SIGKILL');
});

// Any uncaught error would fail the run anyway; recording it also names the culprit.
const uncaught: unknown[] = [];
process.on('uncaughtException', (e) => uncaught.push(e));

/** Spawns a fixture and resolves with its first stdout line. */
async function spawnFixture(file: string, args: string[]): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures', file), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const lines = readline.createInterface({ input: child.stdout! });
  const line = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code} before printing`)));
  });
  return { child, line };
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

test('a client whose stage is killed mid-stream gets a retryable closed signal, and can reconnect', async () => {
  const first = await spawnFixture('hold-stage.ts', []);
  const port = (JSON.parse(first.line) as { port: number }).port;
  const client = new StageClient(`127.0.0.1:${port}`);
  try {
    const replies: StepReply[] = [];
    const channel = client.openStep({ onReply: (r) => replies.push(r) });
    channel.sendStep({ stepId: 7, entries: [] });
    await until(() => replies.length === 1, 10_000, 'the first reply');

    first.child.kill('SIGKILL');
    await killed(first.child);
    const error = await channel.closed;
    assert.ok(error instanceof StageRpcError, `closed should report an error, got ${String(error)}`);
    assert.equal(error.code, 'stage_unavailable');
    assert.equal(error.retryable, true);
    assert.equal(error.address, `127.0.0.1:${port}`);
    assert.equal(channel.isClosed, true);
    assert.throws(() => channel.sendStep({ stepId: 8, entries: [] }), /Step stream to 127\.0\.0\.1:\d+ is closed/);
    await assert.rejects(client.info(1_000), (e: unknown) => e instanceof StageRpcError && e.code === 'stage_unavailable');

    // The stage comes back on the same port: the same client reconnects and streams again.
    await spawnFixture('hold-stage.ts', [String(port)]);
    await client.waitForReady(15_000);
    const again: StepReply[] = [];
    const reopened = client.openStep({ onReply: (r) => again.push(r) });
    reopened.sendStep({ stepId: 9, entries: [] });
    await until(() => again.length === 1, 10_000, 'a reply after reconnecting');
    assert.equal(again[0]?.stepId, 9);
  } finally {
    client.close();
    client.close(); // idempotent
  }
  assert.deepEqual(uncaught, []);
});

async function holdingServer(): Promise<{ address: string; streams: StepStream[]; close: () => Promise<void> }> {
  const streams: StepStream[] = [];
  const server = createStageServer({
    info: () => ({ stages: [] }),
    step: (stream) => {
      streams.push(stream);
      void (async () => {
        for await (const request of stepsOf(stream)) stream.send({ stepId: request.stepId, results: [], timings: [] });
      })();
    },
  });
  const port = await server.listen('127.0.0.1', 0);
  return { address: `127.0.0.1:${port}`, streams, close: () => server.close(0) };
}

test('a server whose client process is killed mid-stream gets the abort signal', async () => {
  const server = await holdingServer();
  try {
    const { child } = await spawnFixture('hold-client.ts', [server.address]);
    await until(() => server.streams.length === 1, 10_000, 'the client stream');
    const stream = server.streams[0]!;
    assert.equal(stream.signal.aborted, false);
    child.kill('SIGKILL');
    await until(() => stream.signal.aborted, 10_000, 'the abort signal');
    assert.equal((stream.signal.reason as { code?: string }).code, 'stream_closed');
    assert.equal(stream.closed, true);
    // Replies that come back from downstream after the peer left are dropped, not thrown.
    assert.equal(stream.send({ stepId: 2, results: [], timings: [] }), false);
  } finally {
    await server.close();
  }
  assert.deepEqual(uncaught, []);
});

test('a client that cancels its stream aborts the server side, and a half-close does not', async () => {
  const server = await holdingServer();
  const client = new StageClient(server.address);
  try {
    const cancelled = client.openStep({ onReply: () => {} });
    cancelled.sendStep({ stepId: 1, entries: [] });
    const halfClosed = client.openStep({ onReply: () => {} });
    halfClosed.sendStep({ stepId: 1, entries: [] });
    await until(() => server.streams.length === 2, 5_000, 'both streams');
    cancelled.close();
    halfClosed.end();
    await until(() => server.streams.some((s) => s.signal.aborted), 5_000, 'an abort');
    await new Promise((resolve) => setTimeout(resolve, 50)); // time for a wrong second abort to show
    // Exactly one stream was cancelled; the half-closed one is still open and can still reply.
    const aborted = server.streams.filter((s) => s.signal.aborted);
    assert.equal(aborted.length, 1);
    const open = server.streams.find((s) => !s.signal.aborted)!;
    assert.equal(open.send({ stepId: 5, results: [], timings: [] }), true);
    open.end();
    assert.equal(await halfClosed.closed, null);
    assert.equal(await cancelled.closed, null);
  } finally {
    client.close();
    await server.close();
  }
});

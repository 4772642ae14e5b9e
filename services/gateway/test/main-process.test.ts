// The gateway as a real process: flags, the ready line, serving through Redis, SIGTERM -> exit 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { READY_MARKER } from '@chatglm/common';
import { startTestRedis, type TestRedis } from '../../../test/support/redis-server.ts';
import { DEFAULT_SCRIPT, FakeHead } from './support/fake-head.ts';
import { writeTestModelDir } from './support/harness.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..', '..');
const MAIN = path.join(ROOT, 'services', 'gateway', 'src', 'main.ts');

let redis: TestRedis;
let modelDir: string;

before(async () => {
  redis = await startTestRedis();
  modelDir = writeTestModelDir();
});
after(async () => {
  await redis.stop();
});

function startGateway(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env: { ...process.env, REDIS_URL: redis.url } });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // 'close', not 'exit': by then stdout and stderr have been read to the end.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const ready = new Promise<{ port: number; service: string }>((resolve, reject) => {
    const timer = setInterval(() => {
      const line = stdout.split('\n').find((l) => l.startsWith(`${READY_MARKER} `));
      if (line) {
        clearInterval(timer);
        resolve(JSON.parse(line.slice(READY_MARKER.length + 1)));
      } else if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`gateway exited ${child.exitCode}:\n${stderr}`));
      }
    }, 20);
  });
  ready.catch(() => undefined); // a test that expects a failed start never awaits it
  return { child, exited, ready, out: () => ({ stdout, stderr }) };
}

test('announces its port, serves POST / through Redis, and exits 0 on SIGTERM', async () => {
  const prefix = `main${process.pid}`;
  const head = await FakeHead.start({ url: redis.url, prefix });
  const gw = startGateway(['--model', modelDir, '--port', '0', '--host', '127.0.0.1', '--redis-prefix', prefix, '--model-name', 'glm-test']);
  try {
    const ready = await gw.ready;
    assert.equal(ready.service, 'gateway');
    assert.ok(ready.port > 0);
    const base = `http://127.0.0.1:${ready.port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const r = await fetch(base, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'hi' }) });
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { response: string }).response, DEFAULT_SCRIPT.deltas.join(''));
    const models = (await (await fetch(`${base}/v1/models`)).json()) as { data: { id: string }[] };
    assert.equal(models.data[0]?.id, 'glm-test');
    // Logs are JSON lines on stderr.
    const logLine = gw.out().stderr.split('\n').find((l) => l.includes('"msg":"listening"'));
    assert.ok(logLine, gw.out().stderr);
    assert.equal(JSON.parse(logLine).service, 'gateway');

    gw.child.kill('SIGTERM');
    assert.equal(await gw.exited, 0, gw.out().stderr);
    await assert.rejects(fetch(`${base}/healthz`), 'no longer accepting');
  } finally {
    gw.child.kill('SIGKILL');
    await head.close();
  }
});

test('bad flags exit 2 with the usage; a missing model directory exits 1', async () => {
  const noModel = startGateway(['--port', '0']);
  assert.equal(await noModel.exited, 2);
  assert.match(noModel.out().stderr, /--model DIR is required/);
  assert.match(noModel.out().stderr, /usage: chatglm-gateway/);

  const badPort = startGateway(['--model', modelDir, '--port', 'abc']);
  assert.equal(await badPort.exited, 2);
  assert.match(badPort.out().stderr, /--port must be an integer/);

  const missing = startGateway(['--model', path.join(modelDir, 'nope'), '--port', '0']);
  assert.equal(await missing.exited, 1);
  assert.match(missing.out().stderr, /model directory .*nope does not exist/);
});

/** Opens a streamed completion and resolves with a reader once its first chunk arrived. */
async function openStream(base: string): Promise<() => Promise<string>> {
  const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], stream: true }) });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = decoder.decode((await reader.read()).value);
  return async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
      if (done) return text;
      text += decoder.decode(value);
    }
  };
}

/**
 * A gateway process with `--drain-timeout-ms drainMs` over a head that streams `deltas` numbered
 * pieces 50 ms apart: opens a stream, sends SIGTERM once its first chunk came, and gives the rest of
 * the stream's text and the exit code.
 */
async function streamThroughSigterm(name: string, deltas: number, drainMs: number): Promise<{ text: string; code: number | null; stderr: string }> {
  const prefix = `${name}${process.pid}`;
  const head = await FakeHead.start({ url: redis.url, prefix });
  head.script = () => ({ ...DEFAULT_SCRIPT, deltas: Array.from({ length: deltas }, (_, i) => `${i} `), delayMs: 50 });
  const gw = startGateway(['--model', modelDir, '--port', '0', '--host', '127.0.0.1', '--redis-prefix', prefix, '--drain-timeout-ms', String(drainMs)]);
  try {
    const rest = await openStream(`http://127.0.0.1:${(await gw.ready).port}`);
    gw.child.kill('SIGTERM');
    const text = await rest();
    return { text, code: await gw.exited, stderr: gw.out().stderr };
  } finally {
    gw.child.kill('SIGKILL');
    await head.close();
  }
}

test('SIGTERM drains: an open stream runs to its end, then the process exits 0', async () => {
  const { text, code, stderr } = await streamThroughSigterm('drain', 30, 10_000);
  assert.match(text, /data: \[DONE\]/, 'the stream ran to its end');
  assert.ok(text.includes('"content":"29 "'), 'with all its text');
  assert.equal(code, 0, stderr);
});

test('past the drain timeout an open stream ends with a retryable shutting_down error, never silently', async () => {
  const { text, code, stderr } = await streamThroughSigterm('drainout', 200, 500);
  assert.match(text, /"code":"shutting_down".*"retryable":true/);
  assert.doesNotMatch(text, /\[DONE\]/);
  assert.equal(code, 0, stderr);
});

// `chatglm convert` writes per-stage bundles; workers started on them (and a gateway on one of them)
// serve exactly what the in-process engine computes with the same quantization, and the local
// launcher given the conversion's folder starts each stage on its bundle.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ChatGlmError, READY_MARKER } from '@chatglm/common';
import { quantizationFromFlags, readBundleManifest } from '@chatglm/glm';
import { RequestStore, closeRedis, connectRedis } from '@chatglm/queue';
import { writeTinyModel } from '../../services/cli/src/default-model.ts';
import { LocalCluster } from '../../services/cli/src/up/local-cluster.ts';
import { EngineReference } from '../support/engine-reference.ts';
import { startTestRedis, type TestRedis } from '../support/redis-server.ts';
import { postJson, waitUntil } from '../support/test-cluster.ts';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-bundles-'));
const children: ChildProcess[] = [];
let redis: TestRedis;
/** The first test's conversion and what its cluster replied, for the launcher's test. */
let converted: { out: string; tokenIds: number[]; text: string } | undefined;

function start(script: string, args: string[]): Promise<{ port?: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env: { ...process.env, CHATGLM_CACHE_DIR: path.join(tmp, 'cache') } });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  return waitUntil(`${script} to be ready`, async () => {
    if (child.exitCode !== null) throw new Error(`${script} exited ${child.exitCode}: ${err.slice(-2000)}`);
    const line = out.split('\n').find((l) => l.startsWith(READY_MARKER));
    return line ? (JSON.parse(line.slice(READY_MARKER.length + 1)) as { port?: number }) : undefined;
  }, 120_000);
}

before(async () => {
  redis = await startTestRedis();
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await redis?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('workers and gateway on converted int8 bundles (linears, embedding and lm_head) serve what the in-process int8 engine computes', async () => {
  const model = path.join(tmp, 'model');
  fs.mkdirSync(model);
  await writeTinyModel(model, { replies: 'random' });
  const out = path.join(tmp, 'bundles');
  const conversion = spawnSync(process.execPath, ['--import', 'tsx', 'services/cli/src/main.ts', 'convert', '--model', model, '--out', out, '--stages', '2', '--quantize', 'int8', '--prefill-chunk-layers', '1'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(conversion.status, 0, conversion.stderr);
  console.log(conversion.stdout.trim());
  // Not a terminal: progress comes as lines, each stage's last one at 100% with its pace.
  for (const [i, last] of [[1, 'layer 1 \\(2 of 2\\)'], [2, 'lm_head']] as const) {
    assert.match(conversion.stderr, new RegExp(`^stage ${i} of 2: 100% · ${last} · \\d+ tensors · [\\d.]+ [KM]iB at [\\d.]+ [KM]iB/s · 0s left$`, 'm'));
  }
  const stage0 = path.join(out, 'stage-0-of-2');
  const stage1 = path.join(out, 'stage-1-of-2');
  assert.deepEqual(readBundleManifest(stage1).layers, { start: 2, end: 4 });
  // --quantize int8 quantizes the embedding and the lm_head too, and keeps the KV cache in fp16,
  // unless told otherwise.
  const { linears, embedding, kvCache } = readBundleManifest(stage0).quantization;
  assert.deepEqual({ linears, embedding, kvCache }, { linears: 'int8', embedding: 'int8', kvCache: 'float16' });
  // One graph per layer: the stages serve their prompts in chunks (the replies below stay exact).
  assert.deepEqual(readBundleManifest(stage1).graphs.map((g) => g.layers), [{ start: 2, end: 3 }, { start: 3, end: 4 }]);

  const prefix = 'bundles';
  const { port: stagePort } = await start('services/worker/src/main.ts', ['--model', stage1, '--host', '127.0.0.1', '--threads', '1']);
  await start('services/worker/src/main.ts', ['--model', stage0, '--next', `127.0.0.1:${stagePort}`, '--redis', redis.url, '--redis-prefix', prefix, '--threads', '1', '--pipeline-id', 'bundled']);
  const { port } = await start('services/gateway/src/main.ts', ['--model', stage0, '--redis', redis.url, '--redis-prefix', prefix, '--port', '0', '--host', '127.0.0.1']);
  const url = `http://127.0.0.1:${port}`;
  await waitUntil('readiness', async () => (await fetch(`${url}/readyz`)).status === 200);

  const r = await postJson(`${url}/v1/chat/completions`, { messages: [{ role: 'user', content: '你好' }], seed: 3, max_tokens: 24 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const client = connectRedis(redis.url);
  try {
    const state = await new RequestStore(client, prefix).read(r.body.id);
    const engine = await EngineReference.open(model, quantizationFromFlags({ quantize: 'int8' }));
    try {
      const ref = await engine.run('你好', { seed: 3n, maxNewTokens: 24 });
      assert.deepEqual(state?.tokenIds, ref.tokenIds);
      assert.equal(r.body.choices[0].message.content, ref.text);
      converted = { out, tokenIds: ref.tokenIds, text: ref.text };
    } finally {
      await engine.close();
    }
  } finally {
    await closeRedis(client);
  }
});

test('chatglm up on the folder chatglm convert wrote: each stage loads its bundle, nothing is converted again', async (t) => {
  assert.ok(converted, 'the conversion test must pass first');
  const cache = path.join(tmp, 'launcher-cache');
  process.env.CHATGLM_CACHE_DIR = cache;
  await assert.rejects(new LocalCluster({ modelDir: converted.out, stages: 3, redisUrl: redis.url }).start(), (err: unknown) => err instanceof ChatGlmError && /converted for 2 stages; 3 were asked for/.test(err.message));
  const requantized = spawnSync(process.execPath, ['--import', 'tsx', 'services/cli/src/main.ts', 'up', '--model', converted.out, '--quantize', 'int4'], { cwd: ROOT, encoding: 'utf8' });
  assert.notEqual(requantized.status, 0);
  assert.match(requantized.stderr, /holds converted bundles, quantized when they were converted: drop --quantize/);
  const logs: string[] = [];
  const cluster = new LocalCluster({ modelDir: converted.out, port: 0, host: '127.0.0.1', redisUrl: redis.url, redisPrefix: 'launched', threads: 1, onLine: (name, _s, line) => logs.push(`[${name}] ${line}`), onEvent: (m) => logs.push(m) });
  t.after(() => cluster.stop());
  try {
    await cluster.start();
  } catch (err) {
    console.log(logs.slice(-40).join('\n'));
    throw err;
  }
  const layers = cluster.describe().filter((p) => p.name.startsWith('pipeline')).map((p) => p.detail.split(',')[0]);
  assert.deepEqual(layers, ['layers 0-1', 'layers 2-3']);
  await waitUntil('readiness', async () => (await fetch(`${cluster.gatewayUrl}/readyz`)).status === 200);
  const r = await postJson(`${cluster.gatewayUrl}/v1/chat/completions`, { messages: [{ role: 'user', content: '你好' }], seed: 3, max_tokens: 24 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body.choices[0].message.content, converted.text);
  const client = connectRedis(redis.url);
  try {
    assert.deepEqual((await new RequestStore(client, 'launched').read(r.body.id))?.tokenIds, converted.tokenIds);
  } finally {
    await closeRedis(client);
  }
  assert.ok(!fs.existsSync(path.join(cache, 'bundles')), `the stages converted again into ${cache}`);
});

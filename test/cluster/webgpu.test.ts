// A 2-stage pipeline whose stages run on ONNX Runtime's WebGPU provider (`--device webgpu`; on a
// machine without a GPU, through SwiftShader) serves the tokens the CPU engine computes, greedy and
// seeded-sampled.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EngineReference } from '../support/engine-reference.ts';
import { webgpuMissing } from '../support/stage-devices.ts';
import { postJson, startTestCluster, type TestCluster } from '../support/test-cluster.ts';

let c: TestCluster | undefined;
let engine: EngineReference | undefined;

before(async () => {
  if (webgpuMissing) return;
  c = await startTestCluster({ stages: 2, replies: 'random', workerArgs: ['--device', 'webgpu'] });
  engine = await EngineReference.open(c.modelDir); // on the CPU
});
after(async () => {
  await engine?.close();
  await c?.stop();
});

for (const [name, params] of [
  ['greedy', { temperature: 0 }],
  ['sampled (seeded)', { seed: 4321, temperature: 0.95, top_p: 0.7 }],
] as const) {
  test(`webgpu stages, ${name}: the CPU engine's tokens and text`, { skip: webgpuMissing }, async () => {
    const cluster = c!;
    const r = await postJson(`${cluster.url}/v1/chat/completions`, { messages: [{ role: 'user', content: '你好' }], max_tokens: 24, ...params });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const state = await cluster.store.read(r.body.id);
    const ref = await engine!.run('你好', { maxNewTokens: 24, ...('seed' in params ? { seed: BigInt(params.seed), temperature: params.temperature, topP: params.top_p } : { temperature: 0 }) });
    assert.deepEqual(state?.tokenIds, ref.tokenIds);
    assert.equal(r.body.choices[0].message.content, ref.text);
    assert.ok(cluster.logs.some((l) => l.includes('"device":"webgpu"')), 'the stages loaded on webgpu');
    assert.equal(cluster.logs.filter((l) => l.includes('"kvCache":"gpu"')).length, 2, 'both stages keep their KV cache on the GPU');
  });
}

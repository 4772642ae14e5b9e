// The Helm chart under real helm: lint and template for the default values and for a 4-stage,
// 2-pipeline GPU example; every rendered object validates against the Kubernetes schemas
// (kubernetes-models); the wiring (pipeline r stage i dials pipeline r stage i + 1, layers covered
// once, GPUs and Vulkan's capabilities, probes, Redis) holds; the flags the pods get are flags the
// programs take; bad values are refused by values.schema.json.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { splitLayers } from '@chatglm/glm';
import { parseGatewayArgs } from '../../services/gateway/src/cli-options.ts';
import { CONVERT_USAGE } from '../../services/cli/src/convert-command.ts';
import { parseWorkerOptions } from '../../services/worker/src/worker-options.ts';
import { CHART, helm, helmMissing, renderChart, type K8sObject } from '../support/helm.ts';

const missing = helmMissing();
if (missing) console.log(`# Helm checks skipped: ${missing}`);
const EXAMPLE = path.join(CHART, 'examples', 'gpu-4-stage-2-pipeline.yaml');
const ROOT = path.resolve(import.meta.dirname, '..', '..');
/** ChatGLM-6B's layers: the stages the chart starts split them with the workers' own splitLayers. */
const NUM_LAYERS = 28;

/** The kubernetes-models class of an object's apiVersion and kind. */
async function modelOf(o: K8sObject): Promise<new (data: unknown) => { validate(): void }> {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : [undefined, o.apiVersion];
  const module = group === 'monitoring.coreos.com' ? `@kubernetes-models/prometheus-operator/${group}/${version}/${o.kind}` : `kubernetes-models/${group ? `${group}/` : ''}${version}/${o.kind}`;
  const exported = (await import(module)) as Record<string, new (data: unknown) => { validate(): void }>;
  const model = exported[o.kind];
  if (!model) throw new Error(`no model for ${o.apiVersion} ${o.kind}`);
  return model;
}

const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const named = (objects: K8sObject[], kind: string, name: string) => {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `${kind} ${name} is rendered`);
  return found;
};
const flag = (args: string[], name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

for (const [label, args, expected] of [
  ['default values', [], { stages: 2, pipelines: 1, gpu: false }],
  ['the 4-stage, 2-pipeline GPU example', ['-f', EXAMPLE], { stages: 4, pipelines: 2, gpu: true }],
] as const) {
  test(`${label}: helm lint passes`, { skip: missing }, () => {
    const r = helm('lint', CHART, ...args);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  test(`${label}: every rendered object validates against the Kubernetes schemas`, { skip: missing }, async () => {
    const objects = renderChart(...args);
    assert.ok(objects.length >= 8);
    for (const o of objects) {
      const Model = await modelOf(o);
      assert.doesNotThrow(() => new Model(o).validate(), `${o.kind} ${o.metadata.name}`);
    }
  });

  test(`${label}: pipeline r stage i dials pipeline r stage i+1; the stages cover the layers once; each pod gets flags its program takes`, { skip: missing }, () => {
    const objects = renderChart(...args);
    const sets = byKind(objects, 'StatefulSet').filter((s) => s.metadata.labels?.['chatglm.io/stage'] !== undefined);
    assert.equal(sets.length, expected.stages);
    const covered: number[] = [];
    for (const set of sets) {
      const i = Number(set.metadata.labels!['chatglm.io/stage']);
      assert.equal(set.spec.replicas, expected.pipelines, 'one pod per pipeline');
      const pod = set.spec.template.spec;
      const worker = pod.containers[0];
      const convert = pod.initContainers[0];
      // The init step converts exactly this stage; the worker loads what it wrote.
      assert.equal(flag(convert.args, 'stage'), String(i));
      assert.equal(flag(convert.args, 'stages'), String(expected.stages));
      assert.ok(convert.args.includes('--if-missing'));
      assert.equal(flag(worker.args, 'model'), `/bundles/stage-${i}-of-${expected.stages}`);
      const range = splitLayers(NUM_LAYERS, expected.stages)[i]!;
      for (let l = range.start; l < range.end; l++) covered.push(l);
      // The pod's ordinal is its pipeline.
      const pipelineEnv = worker.env.find((e: { name: string }) => e.name === 'PIPELINE');
      assert.equal(pipelineEnv.valueFrom.fieldRef.fieldPath, "metadata.labels['apps.kubernetes.io/pod-index']");
      assert.equal(flag(worker.args, 'pipeline-id'), 'pipeline-$(PIPELINE)');
      // Its headless Service selects exactly its pods.
      const service = named(objects, 'Service', set.spec.serviceName);
      assert.equal(service.spec.clusterIP, 'None');
      for (const [k, v] of Object.entries(service.spec.selector)) assert.equal(set.spec.template.metadata.labels[k], v);
      const next = flag(worker.args, 'next');
      if (i === expected.stages - 1) assert.equal(next, undefined, 'the last stage dials nobody');
      else {
        const following = sets.find((s) => s.metadata.labels!['chatglm.io/stage'] === String(i + 1))!;
        assert.equal(next, `${following.metadata.name}-$(PIPELINE).${following.spec.serviceName}:50051`, `stage ${i} dials its own pipeline's stage ${i + 1}`);
        assert.ok(named(objects, 'Service', following.spec.serviceName).spec.ports.some((p: { name: string; port: number }) => p.name === 'grpc' && p.port === 50051));
      }
      const env = Object.fromEntries(worker.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
      if (i === 0) {
        assert.ok('REDIS_URL' in env, 'the head reaches Redis');
        assert.equal(flag(worker.args, 'port'), undefined, 'the head serves no gRPC');
        assert.equal(worker.readinessProbe.httpGet.path, '/readyz');
      } else {
        assert.equal(flag(worker.args, 'port'), '50051');
        assert.deepEqual(worker.readinessProbe.grpc, { port: 50051 });
      }
      assert.equal(worker.livenessProbe.httpGet.path, '/healthz');
      const secretEnv = worker.env.find((e: { name: string }) => e.name === 'CHATGLM_STAGE_SECRET');
      if (expected.gpu) assert.equal(secretEnv.valueFrom.secretKeyRef.name, 'chatglm-stage-secret', 'every stage gets the shared secret');
      else assert.equal(secretEnv, undefined);
      if (expected.gpu) {
        assert.equal(worker.resources.limits['nvidia.com/gpu'], 1);
        assert.equal(env.NVIDIA_DRIVER_CAPABILITIES, 'compute,utility,graphics', 'Vulkan needs graphics');
        assert.equal(flag(worker.args, 'device'), 'webgpu');
        assert.equal(flag(convert.args, 'device'), 'webgpu', 'the bundles are converted for webgpu stages (their KV cache on the GPU)');
      } else {
        assert.equal(worker.resources.limits?.['nvidia.com/gpu'], undefined);
        assert.equal(env.NVIDIA_DRIVER_CAPABILITIES, undefined);
      }
      const parsed = parseWorkerOptions(worker.args.slice(1).map((a: string) => a.replaceAll('$(PIPELINE)', '0')));
      assert.equal(parsed.kind, 'ok', `stage ${i}'s worker flags: ${JSON.stringify(parsed)}`);
      for (const a of convert.args.slice(1)) assert.ok(CONVERT_USAGE.includes(a.split('=')[0]!), `chatglm convert takes ${a}`);
      assert.equal(pod.securityContext.runAsNonRoot, true);
      named(objects, 'PodDisruptionBudget', set.metadata.name);
    }
    assert.deepEqual(covered, [...Array(NUM_LAYERS).keys()], 'layers 0..27, each once, in order');

    const gateway = named(objects, 'Deployment', 'glm-chatglm-cluster-gateway').spec.template.spec.containers[0];
    assert.doesNotThrow(() => parseGatewayArgs(gateway.args.slice(1), {}));
    const keys = gateway.env.find((e: { name: string }) => e.name === 'CHATGLM_API_KEYS');
    if (expected.gpu) assert.deepEqual(keys.valueFrom.secretKeyRef, { name: 'chatglm-api-keys', key: 'api-keys' }, 'the example turns API keys on from a Secret');
    else assert.equal(keys, undefined, 'no authentication by default');
    assert.ok(gateway.env.some((e: { name: string }) => e.name === 'REDIS_URL'));
    assert.deepEqual([gateway.livenessProbe.httpGet.path, gateway.readinessProbe.httpGet.path], ['/healthz', '/readyz']);
    const gatewayPod = named(objects, 'Deployment', 'glm-chatglm-cluster-gateway').spec.template.spec;
    assert.ok(gatewayPod.terminationGracePeriodSeconds * 1000 > Number(flag(gateway.args, 'drain-timeout-ms')), 'the kubelet waits out the drain');
    named(objects, 'PodDisruptionBudget', 'glm-chatglm-cluster-gateway');
  });
}

test('the dashboard ConfigMap and the PrometheusRule carry the files in deploy/ unchanged', { skip: missing }, () => {
  const objects = renderChart('-f', EXAMPLE);
  const dashboard = named(objects, 'ConfigMap', 'glm-chatglm-cluster-dashboard');
  assert.equal(dashboard.metadata.labels?.grafana_dashboard, '1', "labelled for Grafana's sidecar");
  assert.deepEqual(JSON.parse(dashboard.data['chatglm-cluster.json']), JSON.parse(fs.readFileSync(path.join(ROOT, 'deploy', 'grafana', 'chatglm-cluster.json'), 'utf8')));
  const rule = named(objects, 'PrometheusRule', 'glm-chatglm-cluster');
  assert.deepEqual(rule.spec, parseYaml(fs.readFileSync(path.join(ROOT, 'deploy', 'prometheus', 'chatglm-rules.yaml'), 'utf8')));
  const monitor = named(objects, 'ServiceMonitor', 'glm-chatglm-cluster');
  assert.deepEqual(monitor.spec.endpoints.map((e: { port: string }) => e.port), ['http', 'metrics']);
  // The external Redis gets its password from the Secret, substituted by Kubernetes.
  const head = objects.find((o) => o.metadata.name === 'glm-chatglm-cluster-stage-0' && o.kind === 'StatefulSet')!;
  const env = head.spec.template.spec.containers[0].env as { name: string; value?: string }[];
  assert.equal(env.find((e) => e.name === 'REDIS_URL')?.value, 'redis://:$(REDIS_PASSWORD)@redis.databases.svc:6379/0');
  assert.ok(env.findIndex((e) => e.name === 'REDIS_PASSWORD') < env.findIndex((e) => e.name === 'REDIS_URL'), 'the password is defined before the URL that uses it');
  assert.equal(objects.filter((o) => o.metadata.name.endsWith('-redis')).length, 0, 'no bundled Redis');
});

test('the bundled Redis keeps an append-only file on a claim, each write on disk before it is acknowledged, and a memory bound without eviction', { skip: missing }, () => {
  const redis = named(renderChart(), 'StatefulSet', 'glm-chatglm-cluster-redis');
  const args = redis.spec.template.spec.containers[0].args as string[];
  assert.deepEqual(args.slice(0, 5), ['redis-server', '--appendonly', 'yes', '--appendfsync', 'always']);
  assert.equal(args[args.indexOf('--maxmemory') + 1], '1gb');
  assert.equal(args[args.indexOf('--maxmemory-policy') + 1], 'noeviction');
  assert.equal(redis.spec.volumeClaimTemplates[0].metadata.name, 'data');
  const sized = named(renderChart('--set', 'redis.maxMemory=512mb'), 'StatefulSet', 'glm-chatglm-cluster-redis');
  assert.ok((sized.spec.template.spec.containers[0].args as string[]).includes('512mb'));
});

test('the KV cache dtype and the prefill chunks reach the init step\'s conversion as flags chatglm convert takes', { skip: missing }, () => {
  const objects = renderChart('--set', 'model.kvCache=float32', '--set', 'model.prefillChunkLayers=2');
  const sets = byKind(objects, 'StatefulSet').filter((s) => s.metadata.labels?.['chatglm.io/stage'] !== undefined);
  assert.ok(sets.length > 0);
  for (const set of sets) {
    const convert = set.spec.template.spec.initContainers[0];
    assert.equal(flag(convert.args, 'kv-cache'), 'float32');
    assert.equal(flag(convert.args, 'prefill-chunk-layers'), '2');
  }
  assert.ok(CONVERT_USAGE.includes('--kv-cache') && CONVERT_USAGE.includes('--prefill-chunk-layers'));
});

test('bad values are refused by the schema at install time, naming the value', { skip: missing }, () => {
  for (const [set, expectedInMessage] of [
    [['--set', 'stages=0'], 'stages'],
    [['--set', 'stages=29'], 'stages'],
    [['--set', 'device=tpu'], 'device'],
    [['--set', 'pipelines=two'], 'pipelines'],
    [['--set', 'gatway.replicas=3'], 'gatway'],
    [['--set', 'model.quantize=int3'], 'quantize'],
    [['--set', 'model.kvCache=bfloat16'], 'kvCache'],
    [['--set', 'model.prefillChunkLayers=0'], 'prefillChunkLayers'],
    [['--set', 'redis.bundled=false'], 'url'],
    [['--set', 'model.existingClaim='], 'model'],
    [['--set', 'activationDtype=bfloat16'], 'activationDtype'],
    [['--set', 'gateway.maxConcurrentPerKey=-1'], 'maxConcurrentPerKey'],
  ] as const) {
    const r = helm('template', 'glm', CHART, '--kube-version', '1.30.0', ...set);
    assert.notEqual(r.status, 0, `${set.join(' ')} must be refused`);
    assert.match(r.stderr, /values don't meet the specifications of the schema/, set.join(' '));
    assert.ok(r.stderr.includes(expectedInMessage), `${set.join(' ')}: ${r.stderr}`);
  }
});

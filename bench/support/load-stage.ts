// Child process of the convert benchmark: loads one bundle as a stage, runs one decode step, and
// prints the load time and memory as JSON (in a process of its own so memory is measured cleanly).
import fs from 'node:fs';
import path from 'node:path';
import { parseGlmConfig, readBundleManifest } from '@chatglm/glm';
import { ThreadedStageRuntime } from '@chatglm/runtime';

const dir = process.argv[2] as string;
const manifest = readBundleManifest(dir);
const config = parseGlmConfig(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')));
const t0 = performance.now();
const stage = await ThreadedStageRuntime.create({ config, range: manifest.layers, weights: { kind: 'bundle', dir }, maxSequences: 1, maxTokensPerSequence: 64 });
const loadMs = performance.now() - t0;
const first = manifest.layers.start === 0;
const t1 = performance.now();
await stage.prefill({ seqId: 's', ...(first ? { tokens: [5, 6, config.gmaskTokenId, config.bosTokenId] } : { hidden: new Float32Array(4 * config.hiddenSize).fill(0.01) }), positions: [0, 1, 2, 2], blockPositions: [0, 0, 0, 1], contextLength: 3 });
const stepMs = performance.now() - t1;
await stage.close();
console.log(JSON.stringify({ loadMs, stepMs, maxRssGiB: (process.resourceUsage().maxRSS * 1024) / 2 ** 30 }));

// Converting a full-size ChatGLM-6B checkpoint: for random weights of the real shape (28 layers,
// hidden 4096, vocab 130528) written as fp16 safetensors, the conversion time and peak RSS of
// `chatglm convert` into 2-stage bundles as fp16, int8 and int4, the bundle sizes, and the time to
// load each stage. Generating the 12 GB input takes a few minutes the first time (it is reused).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cacheRoot } from '@chatglm/common';
import type { GlmConfig } from '@chatglm/glm';
import { writeRandomCheckpoint } from './support/write-random-checkpoint.ts';
import { CHATGLM_6B } from './support/chatglm-6b-shape.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

export async function runConvertBenchmark(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      dir: { type: 'string' },
      layers: { type: 'string', default: '28' },
      keep: { type: 'boolean', default: false },
    },
  });
  const work = path.resolve(values.dir ?? path.join(cacheRoot(), 'bench-convert'));
  const config: GlmConfig = { ...CHATGLM_6B, numLayers: Number(values.layers) };
  const checkpoint = path.join(work, `checkpoint-${config.numLayers}-layers`);
  console.log(`convert benchmark: ChatGLM-6B shape with ${config.numLayers} layers (hidden 4096, vocab 130528), random fp16 weights; ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM`);
  if (!fs.existsSync(path.join(checkpoint, 'model.safetensors.index.json'))) {
    const t0 = performance.now();
    fs.rmSync(checkpoint, { recursive: true, force: true });
    const bytes = writeRandomCheckpoint(checkpoint, config);
    console.log(`wrote the checkpoint: ${(bytes / 1e9).toFixed(2)} GB of fp16 safetensors in ${((performance.now() - t0) / 1000).toFixed(0)} s (${checkpoint})`);
  } else {
    console.log(`reusing the checkpoint in ${checkpoint}`);
  }
  const shardBytes = Math.max(...fs.readdirSync(checkpoint).filter((f) => f.endsWith('.safetensors')).map((f) => fs.statSync(path.join(checkpoint, f)).size));

  const rows: string[] = [];
  for (const variant of ['fp16', 'int8', 'int4'] as const) {
    const out = path.join(work, `bundles-${variant}`);
    fs.rmSync(out, { recursive: true, force: true });
    const args = ['--import', 'tsx', 'services/cli/src/main.ts', 'convert', '--model', checkpoint, '--out', out, '--stages', '2', ...(variant === 'fp16' ? [] : ['--quantize', variant])];
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
    const seconds = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`convert ${variant} failed:\n${r.stdout}\n${r.stderr}`);
    const peak = Number(/peak RSS ([\d.]+) GiB/.exec(r.stdout)?.[1]);
    const stageBytes = [0, 1].map((i) => dirBytes(path.join(out, `stage-${i}-of-2`)));
    const total = stageBytes[0]! + stageBytes[1]!;
    const loads = [0, 1].map((i) => {
      const l = spawnSync(process.execPath, ['--import', 'tsx', 'bench/support/load-stage.ts', path.join(out, `stage-${i}-of-2`)], { cwd: ROOT, encoding: 'utf8' });
      if (l.status !== 0) return `stage ${i}: load failed (${l.stderr.split('\n').slice(-3).join(' ')})`;
      const m = JSON.parse(l.stdout.trim().split('\n').pop() as string) as { loadMs: number; stepMs: number; maxRssGiB: number };
      return `stage ${i} loads in ${(m.loadMs / 1000).toFixed(1)} s (RSS ${m.maxRssGiB.toFixed(1)} GiB)`;
    });
    rows.push(
      `${variant}: converted in ${seconds.toFixed(0)} s, peak RSS ${peak.toFixed(2)} GiB (${((peak * 2 ** 30) / (total + shardBytes)).toFixed(2)} of output + one shard, the limit is 1.3); ` +
        `bundles ${(total / 2 ** 30).toFixed(2)} GiB (stage 0 ${(stageBytes[0]! / 2 ** 30).toFixed(2)}, stage 1 ${(stageBytes[1]! / 2 ** 30).toFixed(2)}); ${loads.join(', ')}`,
    );
    console.log(rows[rows.length - 1]);
    if (!values.keep) fs.rmSync(out, { recursive: true, force: true });
  }
  console.log('\nsummary:');
  for (const r of rows) console.log(`  ${r}`);
}

function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((a, f) => a + fs.statSync(path.join(dir, f)).size, 0);
}

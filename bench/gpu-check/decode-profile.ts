// Where a decode step's time goes on the device: ONNX Runtime's profile of a few decode steps,
// summed per operator and provider (the provider's node times are its host-side work for each
// kernel: recording and submitting it, and any wait) and per WebGPU program (the GPU's own time,
// from its timestamp queries). A step whose GPU time is a small part of it is bound by the host.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { GlmConfig } from '@chatglm/glm';
import { readProfile, type StageExecutor } from '@chatglm/runtime';
import { decodeStepTimes } from '../support/decode-timing.ts';

export interface DecodeProfile {
  /** Mean ms of a profiled step (model_run events). */
  stepMs: number;
  /** Kernels run per step. */
  nodesPerStep: number;
  /** ms per step of all node events together. */
  nodeMs: number;
  /** Per operator (and provider): ms and kernels per step, most time first. */
  byOperator: { op: string; provider: string; ms: number; count: number }[];
  /**
   * ms per step the GPU itself spent, per WebGPU program (the profile's "Api" events, timed by the
   * GPU's timestamp queries where the adapter has them), most time first; gpuMs is their sum.
   */
  gpuMs: number;
  byProgram: { program: string; ms: number; count: number }[];
}

/**
 * Profiles `steps` decode steps of `streams` sequences of a stage made by `open(profileFilePrefix)`; the
 * profile's file is copied to `keepAs` when given.
 */
export async function profileDecode(config: GlmConfig, open: (profileFilePrefix: string) => Promise<StageExecutor>, streams: number, steps: number, keepAs?: string): Promise<DecodeProfile> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatglm-gpu-profile-'));
  try {
    const stage = await open(path.join(dir, 'decode'));
    let file: string;
    try {
      await decodeStepTimes(config, [stage], streams, steps);
      file = stage.endProfiling();
    } finally {
      await stage.close();
    }
    if (keepAs) fs.copyFileSync(file, keepAs);
    const events = readProfile(file);
    // The last `steps` runs are the decode steps (the prefills' runs come first).
    const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').slice(-steps);
    const from = runs[0]?.ts ?? 0;
    const nodes = events.filter((e) => e.cat === 'Node' && (e.ts ?? 0) >= from && e.name?.endsWith('_kernel_time'));
    const by = new Map<string, { op: string; provider: string; ms: number; count: number }>();
    for (const e of nodes) {
      const op = e.args?.op_name ?? '?';
      const provider = e.args?.provider ?? '?';
      const entry = by.get(`${op}/${provider}`) ?? { op, provider, ms: 0, count: 0 };
      entry.ms += (e.dur ?? 0) / 1000 / runs.length;
      entry.count += 1 / runs.length;
      by.set(`${op}/${provider}`, entry);
    }
    // "Api" events are named `<node>&<op>&<program>`.
    const programs = new Map<string, { program: string; ms: number; count: number }>();
    const gpu = events.filter((e) => e.cat === 'Api' && (e.ts ?? 0) >= from);
    for (const e of gpu) {
      const program = (e.name ?? '?').split('&').slice(1).join('/');
      const entry = programs.get(program) ?? { program, ms: 0, count: 0 };
      entry.ms += (e.dur ?? 0) / 1000 / runs.length;
      entry.count += 1 / runs.length;
      programs.set(program, entry);
    }
    return {
      gpuMs: gpu.reduce((s, e) => s + (e.dur ?? 0), 0) / 1000 / Math.max(1, runs.length),
      byProgram: [...programs.values()].sort((a, b) => b.ms - a.ms),
      stepMs: runs.reduce((s, e) => s + (e.dur ?? 0), 0) / 1000 / Math.max(1, runs.length),
      nodesPerStep: nodes.length / Math.max(1, runs.length),
      nodeMs: nodes.reduce((s, e) => s + (e.dur ?? 0), 0) / 1000 / Math.max(1, runs.length),
      byOperator: [...by.values()].sort((a, b) => b.ms - a.ms),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// Where ONNX Runtime's time goes: kernel time per operator type over the last runs of a session,
// read from its profile (a JSON list of events; each run is a "model_run" event and each kernel a
// "Node" event inside it).
import fs from 'node:fs';

export interface ProfileEvent {
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
  args?: { op_name?: string };
}

export function readProfile(file: string): ProfileEvent[] {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ProfileEvent[];
}

/**
 * ms per run, by operator type (largest first), averaged over runs [from, from + count) of the
 * session (counting from 0 in the order they ran); also the runs' own ms.
 */
export function kernelTimesPerRun(events: ProfileEvent[], from: number, count: number): { byOp: Map<string, number>; runMs: number } {
  const modelRuns = events.filter((e) => e.name === 'model_run').slice(from, from + count);
  const inRun = (e: ProfileEvent) => modelRuns.some((r) => e.ts! >= r.ts! && e.ts! <= r.ts! + r.dur!);
  const byOp = new Map<string, number>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.op_name || !inRun(e)) continue;
    byOp.set(e.args.op_name, (byOp.get(e.args.op_name) ?? 0) + e.dur! / 1000 / modelRuns.length);
  }
  const runMs = modelRuns.reduce((a, r) => a + r.dur!, 0) / 1000 / Math.max(1, modelRuns.length);
  return { byOp: new Map([...byOp].sort((a, b) => b[1] - a[1])), runMs };
}

// Where ONNX Runtime's time goes: kernel time per operator type over some runs of a session, from
// its profile (packages/runtime/src/session-profile.ts).
import type { ProfileEvent } from '@chatglm/runtime';

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

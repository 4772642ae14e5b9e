// ONNX Runtime's profile of a session (StageSpec.profileFilePrefix, StageExecutor.endProfiling): a
// JSON list of events. Each run is a "model_run" event; each kernel a "Node" event inside it, named
// `<node>_kernel_time`, with its operator, provider and output types.
import fs from 'node:fs';

export interface ProfileEvent {
  cat?: string;
  name?: string;
  /** Start, in µs since the session began. */
  ts?: number;
  /** Duration, in µs. */
  dur?: number;
  args?: { op_name?: string; provider?: string; output_type_shape?: Record<string, number[]>[] };
}

export function readProfile(file: string): ProfileEvent[] {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ProfileEvent[];
}

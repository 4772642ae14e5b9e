// step_id is a uint64 on the wire and a JS number here (see proto-definitions.ts). Refusing
// anything but a non-negative safe integer at the sender keeps that choice exact.
import { ProtocolError } from './errors.ts';

export function checkStepId(stepId: number): void {
  if (!Number.isSafeInteger(stepId) || stepId < 0) {
    throw new ProtocolError('invalid_step_id', `step_id must be a non-negative safe integer (below 2^53), got ${stepId}`);
  }
}

/**
 * Why a sequence ended. "stop": `<eop>` or a stop string; "length": maxLength or maxNewTokens.
 * This package produces only those two; callers report "cancelled" (client went away, Ctrl-C)
 * and "error" (a stage failed) through the same type.
 */
export const FINISH_REASONS = ['stop', 'length', 'cancelled', 'error'] as const;

export type FinishReason = (typeof FINISH_REASONS)[number];

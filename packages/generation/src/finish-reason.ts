/**
 * Why a sequence ended. "stop": `<eop>` or a stop string; "length": maxLength or maxNewTokens.
 * This package produces only those two; callers report "cancelled" (client went away, Ctrl-C)
 * and "error" (a stage failed) through the same type.
 */
export type FinishReason = 'stop' | 'length' | 'cancelled' | 'error';

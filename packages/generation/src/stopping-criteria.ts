import type { FinishReason } from './finish-reason.ts';
import type { SamplingParams } from './sampling-params.ts';

/** The state stopping criteria look at, after the newest token was appended. */
export interface StoppingState {
  readonly promptTokens: number;
  /** Generated tokens so far, the newest included. */
  readonly completionTokens: number;
  /** The newest token. */
  readonly lastTokenId: number;
}

/** Returns the reason to stop now, or null to go on. */
export type StoppingCriterion = (state: StoppingState) => FinishReason | null;

/** Stops on `<eop>` (the token stays in the completion's ids; it decodes to ""). */
export function eopCriterion(eopId: number): StoppingCriterion {
  return (state) => (state.lastTokenId === eopId ? 'stop' : null);
}

/** HF max_length: stops once prompt + generated >= maxLength. */
export function maxLengthCriterion(maxLength: number): StoppingCriterion {
  return (state) => (state.promptTokens + state.completionTokens >= maxLength ? 'length' : null);
}

/** Stops once maxNewTokens tokens were generated. */
export function maxNewTokensCriterion(maxNewTokens: number): StoppingCriterion {
  return (state) => (state.completionTokens >= maxNewTokens ? 'length' : null);
}

/** The first criterion that fires wins, so `<eop>` on the last allowed token reports "stop". */
export function anyCriterion(criteria: readonly StoppingCriterion[]): StoppingCriterion {
  const list = [...criteria];
  return (state) => {
    for (const criterion of list) {
      const reason = criterion(state);
      if (reason !== null) return reason;
    }
    return null;
  };
}

/** `<eop>`, then maxLength, then maxNewTokens (if set). Stop strings are text-level: TextStream. */
export function createStoppingCriteria(params: SamplingParams, eopId: number): StoppingCriterion {
  const list = [eopCriterion(eopId), maxLengthCriterion(params.maxLength)];
  if (params.maxNewTokens !== undefined) list.push(maxNewTokensCriterion(params.maxNewTokens));
  return anyCriterion(list);
}

/**
 * How many more tokens may be generated before a length limit: 0 means the sequence is already
 * finished with reason "length" (e.g. a prompt of maxLength tokens), so no step should run.
 */
export function remainingTokens(params: SamplingParams, promptTokens: number, completionTokens: number): number {
  const byLength = params.maxLength - promptTokens - completionTokens;
  const byNew = params.maxNewTokens === undefined ? Infinity : params.maxNewTokens - completionTokens;
  return Math.max(0, Math.min(byLength, byNew));
}

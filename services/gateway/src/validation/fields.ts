// Field schemas shared by the endpoints. Ranged numbers and `stop` are checked by hand so that
// the message states the whole allowed range (`must be in (0, 1], got 1.5`), which zod's separate
// min/max checks cannot. `null` counts as absent, as in the original api.py and OpenAI's API.
import { z } from 'zod';
import { describeValue } from './describe-value.ts';

export interface NumberRange {
  min: number;
  /** Infinity: no upper bound. */
  max: number;
  /** Exclude the bound itself: `(min, ...` / `..., max)`. */
  minExclusive?: boolean;
  maxExclusive?: boolean;
  integer?: boolean;
}

export function rangeText(r: NumberRange): string {
  if (r.max === Infinity) return `${r.minExclusive ? '>' : '>='} ${r.min}`;
  return `${r.minExclusive ? '(' : '['}${r.min}, ${r.max}${r.maxExclusive ? ')' : ']'}`;
}

function inRange(v: number, r: NumberRange): boolean {
  return (r.minExclusive ? v > r.min : v >= r.min) && (r.maxExclusive ? v < r.max : v <= r.max);
}

const nullOrAbsent = (v: unknown): boolean => v === undefined || v === null;

/**
 * An optional number (or integer) in a range. Values for which `isAbsent` holds (default: null and
 * absence) give undefined, the caller's default.
 */
export function optionalNumberIn(r: NumberRange, isAbsent: (v: unknown) => boolean = nullOrAbsent) {
  const kind = r.integer ? 'an integer' : 'a number';
  return z.unknown().transform((v, ctx): number | undefined => {
    if (isAbsent(v)) return undefined;
    const where = r.max === Infinity ? rangeText(r) : `in ${rangeText(r)}`;
    if (typeof v !== 'number' || (r.integer && !Number.isSafeInteger(v))) {
      ctx.addIssue({ code: 'custom', message: `must be ${kind} ${where}, got ${describeValue(v)}` });
      return z.NEVER;
    }
    if (!inRange(v, r)) {
      ctx.addIssue({ code: 'custom', message: `must be ${r.integer ? 'an integer ' : ''}${where}, got ${describeValue(v)}` });
      return z.NEVER;
    }
    return v;
  }).optional();
}

/** An optional safe integer (a seed): any value JavaScript represents exactly. */
export function optionalSafeInteger() {
  return z.unknown().transform((v, ctx): number | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      ctx.addIssue({ code: 'custom', message: `must be an integer in [-(2^53 - 1), 2^53 - 1], got ${describeValue(v)}` });
      return z.NEVER;
    }
    return v;
  }).optional();
}

/** OpenAI's `stop`: a string or an array of at most `maxItems` strings; the result is always a list. */
export function optionalStopList(maxItems: number) {
  return z.unknown().transform((v, ctx): string[] => {
    if (v === undefined || v === null) return [];
    if (typeof v === 'string') return [v];
    if (Array.isArray(v) && v.length <= maxItems && v.every((s) => typeof s === 'string')) return v as string[];
    ctx.addIssue({ code: 'custom', message: `must be a string or an array of at most ${maxItems} strings, got ${describeValue(v)}` });
    return z.NEVER;
  }).optional().transform((v) => v ?? []);
}

/** ChatGLM history: `[[query, response], ...]`, as api.py and model.chat() take it. */
export const historySchema = z
  .array(z.tuple([z.string(), z.string()], { error: (iss) => `must be a [query, response] pair of strings, got ${describeValue(iss.input)}` }))
  .nullish()
  .transform((h) => h ?? []);

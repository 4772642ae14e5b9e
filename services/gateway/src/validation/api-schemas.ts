// Bodies of the original ChatGLM-6B APIs: `POST /` (api.py) and the stream API (`POST /chat`,
// `POST /get_response`). api.py reads each generation field with `json_post_list.get(...)` and
// passes `max_length if max_length else 2048` (top_p 0.7, temperature 0.95): any value Python
// treats as false (absent, null, 0, false, "", [] or {}) means the default. So here too; a value
// that is set must then be valid. The OpenAI endpoint has its own rules (temperature 0 = greedy).
import { z } from 'zod';
import { historySchema, optionalNumberIn, optionalSafeInteger, type NumberRange } from './fields.ts';

/** Caller-chosen ids of the stream API: they end up in Redis keys and log lines. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

export const TOP_P_RANGE = { min: 0, max: 1, minExclusive: true } as const;
/** ChatGLM's temperature has no upper bound in HF; a set temperature must be positive. */
export const LEGACY_TEMPERATURE_RANGE = { min: 0, max: 100, minExclusive: true } as const;

/** Python's truthiness for a JSON value: what api.py's `x if x else default` treats as absent. */
export function isPythonFalsy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === 'object' && Object.keys(v as object).length === 0;
}

/** A generation field of api.py: falsy means the default (undefined here), else a number in range. */
function apiPyNumber(range: NumberRange) {
  return optionalNumberIn(range, isPythonFalsy);
}

/** api.py's generation fields, shared by `POST /` and `POST /chat`; `modelMaxLength` bounds max_length. */
function generationFields(modelMaxLength: number) {
  return {
    history: historySchema,
    max_length: apiPyNumber({ min: 1, max: modelMaxLength, integer: true }),
    top_p: apiPyNumber(TOP_P_RANGE),
    temperature: apiPyNumber(LEGACY_TEMPERATURE_RANGE),
    /** An extension: makes a sampled reply reproducible (api.py has no seed). */
    seed: optionalSafeInteger(),
  };
}

/** `POST /`: `{prompt, history, max_length, top_p, temperature}` (+ `seed`). */
export function legacyChatSchema(modelMaxLength: number) {
  return z.object({ prompt: z.string(), ...generationFields(modelMaxLength) });
}
export type LegacyChatBody = z.output<ReturnType<typeof legacyChatSchema>>;

const requestId = z.string().regex(REQUEST_ID_PATTERN, { error: 'must be 1-128 characters of A-Z a-z 0-9 _ . : -' });

/**
 * `POST /chat`: `{query, history, request_id}` as the stream API documents it, plus api.py's
 * generation fields. `prompt` is accepted as another name of `query` (api.py's name for it); a
 * body that gives both with different values is refused rather than guessed at.
 */
export function streamChatSchema(modelMaxLength: number) {
  return z
    .object({ query: z.string().optional(), prompt: z.string().optional(), request_id: requestId, ...generationFields(modelMaxLength) })
    .transform((body, ctx) => {
      const { query, prompt, ...rest } = body;
      if (query !== undefined && prompt !== undefined && query !== prompt) {
        ctx.addIssue({ code: 'custom', path: ['prompt'], message: 'is another name of query; send one of them, not both with different values' });
        return z.NEVER;
      }
      const text = query ?? prompt;
      if (text === undefined) {
        ctx.addIssue({ code: 'custom', path: ['query'], message: 'is required' });
        return z.NEVER;
      }
      return { ...rest, query: text };
    });
}
export type StreamChatBody = z.output<ReturnType<typeof streamChatSchema>>;

/** `POST /chat/cancel`: `{id}`, the request_id the request was started with. */
export const cancelChatSchema = z.object({ id: requestId });

export const getResponseSchema = z.object({
  request_id: requestId,
  /** Characters (Unicode code points) of text already received; the reply then carries only what follows. */
  cursor: optionalNumberIn({ min: 0, max: Infinity, integer: true }),
});

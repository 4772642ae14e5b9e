// Bodies of the original ChatGLM-6B APIs: `POST /` (api.py) and the stream API (`POST /chat`,
// `POST /get_response`). Defaults are api.py's: max_length 2048 (total tokens, prompt + reply),
// top_p 0.7, temperature 0.95; `null` means the default, as `json_post_list.get(...)` gives None.
import { z } from 'zod';
import { historySchema, optionalNumberIn } from './fields.ts';

/** Caller-chosen ids of the stream API: they end up in Redis keys and log lines. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

export const TOP_P_RANGE = { min: 0, max: 1, minExclusive: true } as const;
/** ChatGLM's temperature has no upper bound in HF; 0 is greedy here. */
export const LEGACY_TEMPERATURE_RANGE = { min: 0, max: 100 } as const;

/** `{prompt, history, max_length, top_p, temperature}`; `modelMaxLength` bounds max_length. */
export function legacyChatSchema(modelMaxLength: number) {
  return z.object({
    prompt: z.string(),
    history: historySchema,
    max_length: optionalNumberIn({ min: 1, max: modelMaxLength, integer: true }),
    top_p: optionalNumberIn(TOP_P_RANGE),
    temperature: optionalNumberIn(LEGACY_TEMPERATURE_RANGE),
  });
}
export type LegacyChatBody = z.output<ReturnType<typeof legacyChatSchema>>;

const requestId = z.string().regex(REQUEST_ID_PATTERN, { error: 'must be 1-128 characters of A-Z a-z 0-9 _ . : -' });

export function streamChatSchema(modelMaxLength: number) {
  return legacyChatSchema(modelMaxLength).extend({ request_id: requestId });
}

export const getResponseSchema = z.object({
  request_id: requestId,
  /** Characters (Unicode code points) of text already received; the reply then carries only what follows. */
  cursor: optionalNumberIn({ min: 0, max: Infinity, integer: true }),
});
